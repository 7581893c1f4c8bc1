#!/usr/bin/env bash
# The store directory defends itself (issue 9, cases 1, 2, 3, 6, 7):
#   case 1: outputs replace only a regular file (FIFO, devices, symlink,
#           directory and /dev/null are refused before any work);
#   case 2: only convert creates a store, marked by DIR/mkimg-store; every
#           other command refuses a plain directory and creates nothing in
#           it; gc removes only names it writes itself;
#   case 3: gc never follows a symlink, never leaves the store's file
#           system, refuses subdirectories of another store;
#   case 6: read-only commands work on a full file system (0 and ~8 KiB
#           free), a read-only bind mount and for a non-root reader; no
#           command crashes when space runs out;
#   case 7: a reader's open snapshot does not block convert (or gc);
# and gc killed with SIGKILL at random points leaves a store fsck passes
# with every image intact. CASES="1 3" runs only those sections.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle

want() { [ -z "${CASES:-}" ] || [[ " $CASES " == *" $1 "* ]]; }
field() {	# field JSON KEY
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(" ".join(v) if isinstance(v, list) else v)' "$1" "$2"
}
check_named() {	# check_named STORE NAME REF
	local j
	j=$("$MKIMG" inspect --store "$1" --json "$2")
	# shellcheck disable=SC2046
	NO_EXTRACT=1 check_image "$(field "$j" image)" "$3" $(field "$j" devices)
}
# quick_named STORE NAME: fsck.erofs 1.9 of the image with its blobs
quick_named() {
	local j d devs=()
	j=$("$MKIMG" inspect --store "$1" --json "$2") || fail "inspect $2"
	for d in $(field "$j" devices); do devs+=("--device=$d"); done
	"$ORACLE/fsck.erofs" "${devs[@]}" "$(field "$j" image)" >"$T/qfsck.log" 2>&1 ||
		{ cat "$T/qfsck.log"; fail "fsck.erofs of $2 in $1"; }
}
tree() { (cd "$1" && find . -printf '%p %y %s\n' | sort); }
one_line() {	# one_line FILE: exactly one "mkimg: " line
	[ "$(wc -l <"$1")" = 1 ] && grep -q '^mkimg: ' "$1" || { cat "$1"; fail "${2:-} not one mkimg: line"; }
}

# --- fixtures: small trees a and b (b shares most of a) ---------------------
ab_trees

# === case 1: outputs replace only a regular file ============================
if want 1; then
	O=$T/out
	mkdir "$O"
	mkfifo "$O/fifo"
	mknod "$O/chr" c 1 3
	mknod "$O/blk" b 7 250
	echo "victim" >"$T/victim"
	ln -s "$T/victim" "$O/lnk"
	mkdir "$O/dir"
	for kind in fifo chr blk lnk dir; do
		ftype=$(stat -c %F "$O/$kind")
		for how in build convert blob; do
			case $how in
			build) cmd=("$MKIMG" build "$T/a" "$O/$kind") ;;
			convert) cmd=("$MKIMG" convert -q -o "$O/$kind" "$T/a.tar") ;;
			blob) cmd=("$MKIMG" convert -q -o "$O/img-$kind" --blob "$O/$kind" "$T/a.tar") ;;
			esac
			timeout 20 "${cmd[@]}" 2>"$T/err" && fail "case 1: $how over a $ftype succeeded"
			one_line "$T/err" "case 1: $how over a $ftype:"
			grep -q "only a regular file is replaced" "$T/err" ||
				{ cat "$T/err"; fail "case 1: $how over a $ftype: unclear message"; }
			[ "$(stat -c %F "$O/$kind")" = "$ftype" ] ||
				fail "case 1: $how replaced the $ftype at OUT"
			[ -e "$O/img-$kind" ] && fail "case 1: $how wrote an image before refusing"
		done
	done
	[ "$(cat "$T/victim")" = victim ] || fail "case 1: the symlink's target changed"
	ls -A "$O" | grep -q tmp && fail "case 1: temporary files left: $(ls -A "$O")"
	timeout 20 "$MKIMG" convert -q -o /dev/null "$T/a.tar" 2>"$T/err" &&
		fail "case 1: convert -o /dev/null succeeded"
	one_line "$T/err" "case 1: -o /dev/null:"
	[ -c /dev/null ] && [ "$(stat -c %t:%T /dev/null)" = 1:3 ] ||
		fail "case 1: /dev/null is no longer the null device"
	ls -A /dev | grep -q '^\.null\.tmp-' && fail "case 1: a temporary file left in /dev"
	# --per-layer: a dangling symlink at OUT is refused before any work
	ln -s "$T/nowhere" "$O/pl"
	"$MKIMG" convert -q --per-layer -o "$O/pl" "$T/a.tar" 2>"$T/err" &&
		fail "case 1: --per-layer over a symlink succeeded"
	[ -L "$O/pl" ] && [ ! -e "$T/nowhere" ] || fail "case 1: --per-layer followed the symlink"
	# a regular file is still replaced
	echo old >"$O/reg"
	"$MKIMG" convert -q -o "$O/reg" "$T/a.tar" || fail "case 1: convert over a regular file"
	check_image "$O/reg" "$T/ref-a"
	echo old >"$O/reg2"
	"$MKIMG" build "$T/a" "$O/reg2" >/dev/null || fail "case 1: build over a regular file"
	check_image "$O/reg2" "$T/a"
	echo "ok: case 1: build, convert -o and --blob refuse a FIFO, devices, a symlink, a directory and /dev/null"
fi

# === case 2: only convert makes a store; gc removes only its own names ======
if want 2; then
	D=$T/plain
	mkdir -p "$D/images" "$D/tmp" "$D/blobs/sha256"
	echo x >"$D/images/photo.jpg"
	echo y >"$D/tmp/notes.txt"
	head -c 100 /dev/urandom >"$D/blobs/sha256/$(printf '%064d' 0)"
	before=$(tree "$D")
	mkdir "$T/m2"
	for c in "ls" "inspect x" "stats" "fsck" "fsck --full" "rm x" "gc" "mount x $T/m2"; do
		read -ra w <<<"$c"
		"$MKIMG" "${w[0]}" --store "$D" "${w[@]:1}" >/dev/null 2>"$T/err" &&
			fail "case 2: $c on a plain directory succeeded"
		grep -q "not a mkimg store" "$T/err" || { cat "$T/err"; fail "case 2: $c: no refusal"; }
		one_line "$T/err" "case 2: $c:"
		[ "$(tree "$D")" = "$before" ] || fail "case 2: $c changed the directory: $(tree "$D")"
	done
	"$MKIMG" ls --store "$T/none" 2>"$T/err" && fail "case 2: ls of a missing store succeeded"
	[ -e "$T/none" ] && fail "case 2: ls created a store"
	# convert refuses a directory that is neither empty nor a store
	"$MKIMG" convert -q --store "$D" --name a "$T/a.tar" 2>"$T/err" &&
		fail "case 2: convert turned a full directory into a store"
	one_line "$T/err" "case 2: convert into a plain directory:"
	[ "$(tree "$D")" = "$before" ] || fail "case 2: convert changed the plain directory"
	# a new store is marked, and each subdirectory holds its id
	S=$T/s2
	"$MKIMG" convert -q --store "$S" --name a "$T/a.tar"
	head -1 "$S/mkimg-store" | grep -qx 'mkimg-store 1' || fail "case 2: no format line"
	id=$(sed -n 's/^id \([0-9a-f]\{32\}\)$/\1/p' "$S/mkimg-store")
	[ -n "$id" ] || fail "case 2: no store id: $(cat "$S/mkimg-store")"
	for d in blobs blobs/sha256 images layers tmp; do
		[ "$(cat "$S/$d/.mkimg-store-id")" = "$id" ] || fail "case 2: $d not marked with the id"
	done
	mkdir "$T/e2" && "$MKIMG" convert -q --store "$T/e2" --name a "$T/a.tar" ||
		fail "case 2: convert into an empty directory"
	[ "$(sed -n 's/^id //p' "$T/e2/mkimg-store")" != "$id" ] || fail "case 2: two stores, one id"
	# gc removes garbage it writes, leaves every other name alone
	hexa=$(printf 'a%.0s' $(seq 64)); hexb=$(printf 'b%.0s' $(seq 64))
	echo x >"$S/images/photo.jpg"
	echo x >"$S/images/$(printf 'A%.0s' $(seq 64))"	# not lowercase: not a digest
	echo x >"$S/blobs/sha256/README"
	echo x >"$S/layers/notes"
	echo x >"$S/tmp/keep.txt"
	echo x >"$S/tmp/$hexa"				# tmp/ holds no digests
	mkdir "$S/images/$hexb"				# a directory: never
	echo x >"$S/images/$hexb/inner"
	ln -s "$T/victim2" "$S/images/$hexa"		# a symlink: never
	echo g >"$S/blobs/sha256/$hexa"			# unregistered: garbage
	echo g >"$S/images/$hexb.x"			# not a digest: kept
	echo g >"$S/tmp/.blob.tmp-Ab12Cd"			# a conversion's temporary files
	echo g >"$S/tmp/.image.tmp-zZ09aa"
	echo g >"$S/layers/.$hexa.tmp-q1w2e3"
	keep=(images/photo.jpg "images/$(printf 'A%.0s' $(seq 64))" blobs/sha256/README layers/notes
	      tmp/keep.txt "tmp/$hexa" "images/$hexb/inner" "images/$hexa" "images/$hexb.x")
	gone=("blobs/sha256/$hexa" tmp/.blob.tmp-Ab12Cd tmp/.image.tmp-zZ09aa "layers/.$hexa.tmp-q1w2e3")
	"$MKIMG" fsck --store "$S" >"$T/fsck.out" || { cat "$T/fsck.out"; fail "case 2: fsck with unknown files"; }
	grep -q "photo.jpg: unknown file left alone" "$T/fsck.out" ||
		{ cat "$T/fsck.out"; fail "case 2: fsck does not say it leaves photo.jpg alone"; }
	"$MKIMG" gc --store "$S" >/dev/null || fail "case 2: gc"
	for f in "${keep[@]}"; do [ -e "$S/$f" ] || [ -L "$S/$f" ] || fail "case 2: gc removed $f"; done
	for f in "${gone[@]}"; do [ -e "$S/$f" ] && fail "case 2: gc left its own garbage $f"; done
	check_named "$S" a "$T/ref-a"
	# a store of an older mkimg (registry, no marker): convert adopts it
	OLD=$T/old
	"$MKIMG" convert -q --store "$OLD" --name a "$T/a.tar"
	rm "$OLD/mkimg-store" "$OLD"/*/.mkimg-store-id "$OLD/blobs/sha256/.mkimg-store-id" 2>/dev/null || true
	rm -f "$OLD/blobs/.mkimg-store-id"
	"$MKIMG" ls --store "$OLD" 2>"$T/err" && fail "case 2: ls of an unmarked store succeeded"
	grep -q "not a mkimg store" "$T/err" || fail "case 2: unmarked store: $(cat "$T/err")"
	"$MKIMG" convert -q --store "$OLD" --name b "$T/b.tar" || fail "case 2: convert did not adopt an older store"
	[ -f "$OLD/mkimg-store" ] || fail "case 2: the adopted store has no marker"
	[ "$("$MKIMG" ls --store "$OLD" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] ||
		fail "case 2: the adopted store lost an image"
	check_named "$OLD" a "$T/ref-a"
	check_named "$OLD" b "$T/ref-b"
	echo "ok: case 2: only convert makes (and marks) a store; gc removes only names it writes"
fi

# === case 3: no symlink followed, no other file system, no other store =====
if want 3; then
	S=$T/s3
	"$MKIMG" convert -q --store "$S" --name a "$T/a.tar"
	V=$T/victim3
	hex=$(printf 'c%.0s' $(seq 64))
	for sub in tmp images layers blobs/sha256 blobs; do
		rm -rf "$V"; mkdir -p "$V/sha256"
		echo v >"$V/$hex"; echo v >"$V/.blob.tmp-AAAAAA"; echo v >"$V/photo.jpg"
		echo v >"$V/sha256/$hex"
		vbefore=$(tree "$V")
		mv "$S/$sub" "$S/$sub.real"
		ln -s "$V" "$S/$sub"
		for c in gc ls; do
			"$MKIMG" $c --store "$S" >/dev/null 2>"$T/err" && fail "case 3: $c with $sub a symlink succeeded"
			one_line "$T/err" "case 3: $c, $sub a symlink:"
			grep -q "symbolic link" "$T/err" || { cat "$T/err"; fail "case 3: unclear message"; }
		done
		[ "$(tree "$V")" = "$vbefore" ] || fail "case 3: gc changed files behind the $sub symlink"
		rm "$S/$sub"
		mv "$S/$sub.real" "$S/$sub"
	done
	# lock and registry.db as symlinks
	for f in lock registry.db; do
		cp "$S/$f" "$T/$f.copy"
		mv "$S/$f" "$S/$f.real"
		ln -s "$T/$f.copy" "$S/$f"
		"$MKIMG" ls --store "$S" >/dev/null 2>"$T/err" && fail "case 3: ls with $f a symlink succeeded"
		one_line "$T/err" "case 3: $f a symlink:"
		rm "$S/$f"
		mv "$S/$f.real" "$S/$f"
	done
	# a subdirectory on another file system
	mount -t tmpfs -o size=1m tmpfs "$S/tmp"
	echo v >"$S/tmp/.image.tmp-BBBBBB"
	"$MKIMG" gc --store "$S" >/dev/null 2>"$T/err" && fail "case 3: gc with tmp/ a mount point succeeded"
	grep -q "another file system" "$T/err" || { cat "$T/err"; fail "case 3: unclear message"; }
	[ -e "$S/tmp/.image.tmp-BBBBBB" ] || fail "case 3: gc swept another file system"
	umount "$S/tmp"
	# two stores whose blobs are one directory (a bind mount)
	P=$T/p3 Q=$T/q3
	"$MKIMG" convert -q --store "$P" --name a "$T/a.tar"
	"$MKIMG" convert -q --store "$Q" --name b "$T/b.tar"
	mount --bind "$P/blobs" "$Q/blobs"
	"$MKIMG" gc --store "$Q" >/dev/null 2>"$T/err" && fail "case 3: gc of a store with another's blobs succeeded"
	grep -q "another mkimg store" "$T/err" || { cat "$T/err"; fail "case 3: unclear message"; }
	umount "$Q/blobs"
	"$MKIMG" fsck --store "$P" >"$T/fsck.out" || { cat "$T/fsck.out"; fail "case 3: the other store lost blobs"; }
	check_named "$P" a "$T/ref-a"
	# a store inside (or as) another store's subdirectory
	"$MKIMG" convert -q --store "$P/images/inner" --name a "$T/a.tar" 2>"$T/err" &&
		fail "case 3: a store made inside another store's images/"
	[ -e "$P/images/inner" ] && [ -e "$P/images/inner/mkimg-store" ] && fail "case 3: nested store marked"
	rmdir "$P/images/inner" 2>/dev/null || true
	"$MKIMG" convert -q --store "$P/layers" --name a "$T/a.tar" 2>"$T/err" &&
		fail "case 3: another store's layers/ made a store"
	grep -q "another mkimg store" "$T/err" || { cat "$T/err"; fail "case 3: unclear message"; }
	[ -e "$P/layers/mkimg-store" ] && fail "case 3: another store's layers/ was marked"
	"$MKIMG" gc --store "$P" >/dev/null || fail "case 3: gc of an intact store"
	check_named "$P" a "$T/ref-a"
	check_named "$S" a "$T/ref-a"
	echo "ok: case 3: gc follows no symlink, stays on the store's file system, refuses another store's directories"
fi

# === case 6: full and read-only file systems ================================
if want 6; then
	truncate -s 16M "$T/fs.img"
	mkfs.ext4 -q -F "$T/fs.img"
	mkdir "$T/fs"
	mount -o loop "$T/fs.img" "$T/fs"
	S=$T/fs/store
	"$MKIMG" convert -q --store "$S" --name a "$T/a.tar"
	"$MKIMG" convert -q --store "$S" --name b "$T/b.tar"
	check_named "$S" a "$T/ref-a"
	readers() {	# readers LABEL: every read-only command works, nothing crashes
		local c rc
		for c in "ls" "inspect a" "stats" "fsck" "fsck --full"; do
			read -ra w <<<"$c"
			"$MKIMG" "${w[0]}" --store "$S" "${w[@]:1}" >"$T/out6" 2>"$T/err" && rc=0 || rc=$?
			[ "$rc" = 0 ] || { cat "$T/err"; fail "case 6: $c on $1: exit $rc"; }
		done
		grep -q "^a " <("$MKIMG" ls --store "$S") || fail "case 6: ls on $1 lists no a"
		mkdir -p "$T/m6"
		"$MKIMG" mount --store "$S" a "$T/m6" 2>"$T/err" || { cat "$T/err"; fail "case 6: mount on $1"; }
		python3 "$TOOLS/treecmp.py" "$T/ref-a" "$T/m6" >/dev/null || fail "case 6: mounted a differs on $1"
		"$MKIMG" umount "$T/m6"
	}
	writers() {	# writers LABEL: fail with one line naming the cause, or work; no crash
		local c rc
		for c in "convert -q --name c $T/b.tar" "rm nosuch" "gc"; do
			read -ra w <<<"$c"
			"$MKIMG" "${w[0]}" --store "$S" "${w[@]:1}" >/dev/null 2>"$T/err" && rc=0 || rc=$?
			[ "$rc" -lt 128 ] || fail "case 6: $c on $1 crashed (exit $rc)"
			if [ "$rc" != 0 ] && [ "$c" != "rm nosuch" ]; then
				one_line "$T/err" "case 6: $c on $1:"
				grep -Eqi "$2" "$T/err" || { cat "$T/err"; fail "case 6: $c on $1: cause not named"; }
			fi
		done
	}
	fill() {	# fill FREE_KIB
		rm -f "$T/fs/fill"
		dd if=/dev/zero of="$T/fs/fill" bs=1k 2>/dev/null || true
		[ "$1" = 0 ] || truncate -s "-$1K" "$T/fs/fill"
		sync
	}
	fill 0
	readers "a full file system"
	writers "a full file system" "full|no space"
	fill 8
	readers "a file system with 8 KiB free"
	writers "a file system with 8 KiB free" "full|no space"
	# rm + gc mend a full file system (the store's reserve gives the
	# registry room; gc frees b's blob and writes the reserve again)
	fill 0
	"$MKIMG" rm --store "$S" b 2>"$T/err" || { cat "$T/err"; fail "case 6: rm on a full file system"; }
	"$MKIMG" gc --store "$S" >/dev/null 2>"$T/err" || { cat "$T/err"; fail "case 6: gc on a full file system"; }
	"$MKIMG" inspect --store "$S" b >/dev/null 2>&1 && fail "case 6: b still there"
	"$MKIMG" fsck --store "$S" >"$T/fsck.out" || { cat "$T/fsck.out"; fail "case 6: fsck after rm + gc on a full disk"; }
	[ "$(ls "$S/blobs/sha256" | wc -l)" = 1 ] || fail "case 6: gc on a full disk left b's blob"
	# with another connection open: registry.db-wal and -shm exist
	rm -f "$T/fs/fill"
	python3 - "$S/registry.db" "$T/held" <<'EOF' &
import sqlite3, sys, time, os
db = sqlite3.connect(sys.argv[1])
db.execute("SELECT count(*) FROM names").fetchall()
open(sys.argv[2], "w").close()
time.sleep(600)
EOF
	py=$!
	for i in $(seq 100); do [ -e "$T/held" ] && break; sleep 0.1; done
	[ -e "$S/registry.db-shm" ] || fail "case 6: no -shm with a connection open"
	fill 0
	readers "a full file system, the registry open elsewhere"
	kill "$py" 2>/dev/null || true; wait "$py" 2>/dev/null || true
	rm -f "$T/fs/fill"
	"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "case 6: fsck after the full disk"; }
	check_named "$S" a "$T/ref-a"
	# a read-only bind mount
	mkdir "$T/ro"
	mount --bind "$S" "$T/ro"
	mount -o remount,bind,ro "$T/ro"
	S=$T/ro
	readers "a read-only bind mount"
	writers "a read-only bind mount" "read-only"
	umount "$T/ro"
	S=$T/fs/store
	# a reader that may read the store but not write it
	chmod 755 "$T"
	before=$(tree "$S")
	for c in "ls" "inspect a" "stats" "fsck" "fsck --full"; do
		read -ra w <<<"$c"
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$MKIMG" "${w[0]}" --store "$S" "${w[@]:1}" >/dev/null 2>"$T/err" ||
			{ cat "$T/err"; fail "case 6: $c as a non-root reader"; }
	done
	[ "$(tree "$S")" = "$before" ] || fail "case 6: a reader changed the store"
	chmod 700 "$T"
	umount "$T/fs"
	echo "ok: case 6: readers work on a full (0, 8 KiB free) and a read-only store; writers fail with one line"
fi

# === case 7: a reader's snapshot does not block convert =====================
if want 7; then
	S=$T/s7
	"$MKIMG" convert -q --store "$S" --name a "$T/a.tar"
	rm -f "$T/held7"
	python3 - "$S/registry.db" "$T/held7" <<'EOF' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN")
db.execute("SELECT count(*) FROM names").fetchall()
open(sys.argv[2], "w").close()
time.sleep(300)
EOF
	py=$!
	for i in $(seq 100); do [ -e "$T/held7" ] && break; sleep 0.1; done
	[ -e "$T/held7" ] || fail "case 7: the reader did not start"
	start=$(date +%s%N)
	timeout 30 "$MKIMG" convert -q --store "$S" --name b "$T/b.tar" || fail "case 7: convert blocked (or failed) behind a reader"
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$ms" -lt 10000 ] || fail "case 7: convert took $ms ms behind a reader"
	timeout 30 "$MKIMG" rm --store "$S" b || fail "case 7: rm behind a reader"
	start=$(date +%s%N)
	timeout 30 "$MKIMG" gc --store "$S" >/dev/null || fail "case 7: gc blocked behind a reader"
	gms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$gms" -lt 10000 ] || fail "case 7: gc took $gms ms behind a reader"
	timeout 30 "$MKIMG" convert -q --store "$S" --name b "$T/b.tar" || fail "case 7: convert again"
	kill "$py" 2>/dev/null || true; wait "$py" 2>/dev/null || true
	check_named "$S" b "$T/ref-b"
	echo "ok: case 7: with a read snapshot open, convert took $ms ms and gc $gms ms"
fi

# === gc killed with SIGKILL at random points =================================
if want kill; then
	K=$T/kstore
	"$MKIMG" convert -q --store "$K" --name a "$T/a.tar"
	"$MKIMG" convert -q --store "$K" --name b "$T/b.tar"
	# garbage for gc: dead images (rm), unregistered files, temporary files
	garbage() {
		local i
		"$MKIMG" convert -q --store "$K" --name "t$1" "$T/b.tar"
		"$MKIMG" rm --store "$K" "t$1"
		for i in $(seq 60); do
			head -c 2000 /dev/urandom >"$K/blobs/sha256/$(printf '%064x' $(($1 * 1000 + i)))"
			echo x >"$K/tmp/.blob.tmp-$(printf '%06d' "$i")"
		done
	}
	garbage 0
	start=$(date +%s%N)
	"$MKIMG" gc --store "$K" >/dev/null
	dur=$(( ($(date +%s%N) - start) / 1000 ))	# microseconds
	RANDOM=23
	for i in $(seq 1 24); do
		garbage "$i"
		"$MKIMG" gc --store "$K" >/dev/null &
		pid=$!
		sleep "$(awk -v r=$RANDOM -v d="$dur" 'BEGIN { printf "%.6f", r / 32768 * d * 1.2 / 1e6 }')"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		"$MKIMG" fsck --store "$K" >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after gc killed (#$i)"; }
		quick_named "$K" a
		quick_named "$K" b
	done
	"$MKIMG" gc --store "$K" >/dev/null
	"$MKIMG" fsck --store "$K" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full after the kills"; }
	grep -q '^note' "$T/fsck.out" && fail "gc left garbage: $(cat "$T/fsck.out")"
	check_named "$K" a "$T/ref-a"
	check_named "$K" b "$T/ref-b"
	echo "ok: gc killed 24 times at random points (gc takes ${dur} us); fsck passes, images intact"
fi
echo "PASS: store-dir"
