#!/usr/bin/env bash
# Pins, device checks and output a parser can trust (issue 9, cases 5, 11, 12):
#   case 5:  `mkimg mount` of a store image pins it: after rm and gc its
#            image and blobs stay (the mount still reads them, a second mount
#            and fsck.erofs work) until `mkimg umount`; pins of processes
#            last while the process runs (pid and start time); gc drops pins
#            whose holder is gone and keeps those it cannot check; a mount
#            racing with gc waits for it; a crash between pin and mount
#            leaves a pin gc drops; converting under a taken name needs
#            --replace; kill -9 at random points of a pinned mount
#   case 11: `mount --device` checks each device against the image's device
#            table (count, size, sha256 tag; --no-verify skips the hash), a
#            store mount its blobs (sizes against the registry, names
#            against the tags; --verify: the image's and the blobs' hashes)
#   case 12: every --json output parses with names and paths holding quotes,
#            backslashes and control characters; `mount --print` escapes
#            fstab fields and systemd unit names as util-linux and systemd
#            read them, prints absolute paths, and refuses a comma in an
#            option and options over one page
# CASES="5 11 12" (default: all) runs only those cases.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle
want() { [ -z "${CASES:-}" ] || [[ " $CASES " == *" $1 "* ]]; }

# --- fixtures: small trees with fixed times, as layer tars -----------------
mktree() {	# mktree NAME SEED: $T/NAME.tar and its extraction $T/ref-NAME
	python3 - "$T/$1" "$2" <<'EOF'
import os, random, sys
root, seed = sys.argv[1], int(sys.argv[2])
r = random.Random(seed)
os.makedirs(root + "/etc", exist_ok=True)
os.makedirs(root + "/usr/lib", exist_ok=True)
for i in range(40):
    d = root + ("/usr/lib" if i % 2 else "/etc")
    with open(f"{d}/f{i:02d}", "wb") as f:
        f.write(r.randbytes(r.choice([0, 1, 511, 513, 4096, 70000])))
with open(root + "/usr/lib/seed", "w") as f:
    f.write(f"tree {seed}\n")
os.symlink("lib/f01", root + "/usr/link")
os.setxattr(root + "/usr/lib/f03", "user.note", b"kept")
EOF
	find "$T/$1" -exec touch -h -d '2024-05-06 07:08:09.123456789' {} +
	tar --xattrs --xattrs-include='*' --numeric-owner --sort=name -C "$T/$1" -cf "$T/$1.tar" .
	mkdir "$T/ref-$1"
	tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$T/$1.tar" -C "$T/ref-$1"
}
field() {	# field JSON KEY
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(" ".join(v) if isinstance(v, list) else v)' "$1" "$2"
}
check_named() {	# check_named STORE NAME REF (paths may hold any byte but NUL)
	local p=()
	mapfile -d '' p < <("$MKIMG" inspect --store "$1" --json "$2" | python3 -c '
import json, sys
j = json.load(sys.stdin)
sys.stdout.write("".join(x + "\0" for x in [j["image"]] + j["devices"]))')
	[ "${#p[@]}" -ge 1 ] || fail "inspect $2 in $1"
	check_image "${p[0]}" "$3" "${p[@]:1}"
}
one_line() {	# one_line FILE WHAT: exactly one "mkimg: " line
	[ "$(wc -l <"$1")" = 1 ] && grep -q '^mkimg: ' "$1" ||
		{ cat "$1"; fail "$2: not one mkimg: line"; }
}
npins() {	# npins STORE [TARGET]: live pins (of mounts at TARGET)
	"$MKIMG" pins --store "$1" | awk -v t="${2-}" '
		{ i = index($0, " live: "); if (!i) next; if (t == "") { n++; next }
		  s = substr($0, i + 7); p = "mounted on " t
		  if (s == p || substr(s, 1, length(p) + 1) == p ",") n++ }
		END { print n + 0 }'
}
image_of() {	# image_of STORE NAME: the image file
	"$MKIMG" inspect --store "$1" "$2" | sed -n 's/^image:   //p'
}
for t in a b c d e; do
	mktree "$t" "$(printf '%d' "'$t")"
done
cc -shared -fPIC -o "$T/killat.so" "$TOOLS/killat.c" -ldl || fail "cannot build killat.so"

if want 5; then
# =========================================================================
echo "case 5: a mounted store image is pinned: rm and gc keep it"
S=$T/store
"$MKIMG" convert -q --store "$S" --name a "$T/a.tar"
"$MKIMG" convert -q --store "$S" --name b "$T/b.tar"
check_named "$S" a "$T/ref-a"
check_named "$S" b "$T/ref-b"
ja=$("$MKIMG" inspect --store "$S" --json a)
img_a=$(field "$ja" image)
devs_a=$(field "$ja" devices)
mkdir "$T/ma"
"$MKIMG" mount --store "$S" a "$T/ma" || fail "mount a"
"$MKIMG" rm --store "$S" a
"$MKIMG" gc --store "$S" >"$T/gc.out"
# shellcheck disable=SC2086
for f in "$img_a" $devs_a; do
	[ -f "$f" ] || fail "gc removed $f of the mounted image a"
done
python3 "$TOOLS/treecmp.py" "$T/ref-a" "$T/ma" || fail "the mount of a differs after rm and gc"
# a second mount (as after a restart) from the files the pin kept
# shellcheck disable=SC2086
check_image "$img_a" "$T/ref-a" $devs_a
[ "$(npins "$S" "$T/ma")" = 1 ] || fail "the mount of a holds no live pin"
"$MKIMG" ls --store "$S" | grep -q "pinned without a name: sha256:$(basename "$img_a")" ||
	fail "ls does not list the pinned image without a name"
"$MKIMG" umount "$T/ma"
[ "$(npins "$S")" = 0 ] || fail "umount left the pin of its mount"
"$MKIMG" gc --store "$S" >/dev/null
[ ! -e "$img_a" ] || fail "gc kept a after its mount ended"
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after unpin + gc"; }
echo "ok: rm + gc kept the mounted image; after umount gc freed it"

echo "case 5: a process pin lasts while the process runs (pid and start time)"
"$MKIMG" convert -q --store "$S" --name c "$T/c.tar"
jc=$("$MKIMG" inspect --store "$S" --json c)
img_c=$(field "$jc" image)
sleep 1000 &
holder=$!
id=$("$MKIMG" pin --store "$S" --pid "$holder" --what "test holder" c)
[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "pin printed '$id', not a pin id"
"$MKIMG" rm --store "$S" c
"$MKIMG" gc --store "$S" >/dev/null
[ -f "$img_c" ] || fail "gc removed c, pinned by a live process"
kill "$holder"
wait "$holder" 2>/dev/null || true
j=$("$MKIMG" gc --store "$S" --json)
[ "$(field "$j" pins_dropped)" = 1 ] || fail "gc did not drop the pin of a dead process: $j"
[ ! -e "$img_c" ] || fail "gc kept c after its holder died"
# a pid that runs, but is not the holder (another start time), and one
# from another pid namespace (cannot be checked: kept)
"$MKIMG" convert -q --store "$S" --name c "$T/c.tar"
python3 - "$S/pins" "$(basename "$img_c")" $$ <<'EOF'
import json, os, sys
d, image, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])
pidns = os.stat("/proc/self/ns/pid").st_ino
for name, p in (("0" * 31 + "1", {"pid": pid, "start": start + 1, "pidns": pidns}),
                ("0" * 31 + "2", {"pid": pid, "start": start, "pidns": pidns + 1})):
    p.update(version=1, image=image, name="c", what="hand-made", created=1)
    with open(f"{d}/{name}", "w") as f:
        json.dump(p, f)
EOF
"$MKIMG" rm --store "$S" c
j=$("$MKIMG" gc --store "$S" --json)
[ "$(field "$j" pins_dropped)" = 1 ] || fail "gc did not drop exactly the pin of a reused pid: $j"
[ ! -e "$S/pins/00000000000000000000000000000001" ] || fail "pin of a reused pid kept"
"$MKIMG" pins --store "$S" | grep -q "^00000000000000000000000000000002 .*other namespace" ||
	fail "a pin from another pid namespace is not shown as kept"
[ -f "$img_c" ] || fail "gc removed an image pinned from another namespace"
"$MKIMG" unpin --store "$S" 00000000000000000000000000000002
"$MKIMG" gc --store "$S" >/dev/null
[ ! -e "$img_c" ] || fail "gc kept c after unpin"
echo "ok: process pins: kept while the holder runs, dropped when it died or the pid is reused"

echo "case 5: a mount that fails leaves no pin; a crash between pin and mount leaves one gc drops"
"$MKIMG" convert -q --store "$S" --name d "$T/d.tar"
img_d=$(field "$("$MKIMG" inspect --store "$S" --json d)" image)
if "$MKIMG" mount --store "$S" d "$T/nonexistent" 2>"$T/err"; then fail "mount on a missing dir"; fi
one_line "$T/err" "mount on a missing dir"
touch "$T/afile"
if "$MKIMG" mount --store "$S" d "$T/afile" 2>"$T/err"; then fail "mount on a file"; fi
one_line "$T/err" "mount on a file"
[ -z "$(ls -A "$S/pins")" ] || fail "failed mounts left pins: $(ls -A "$S/pins")"
mkdir "$T/md"
for at in source rename:1; do
	rc=0
	KILLAT=$at LD_PRELOAD=$T/killat.so "$MKIMG" mount --store "$S" d "$T/md" || rc=$?
	[ "$rc" = 137 ] || fail "KILLAT=$at: mount exited $rc, not killed"
	! mountpoint -q "$T/md" || fail "KILLAT=$at: mounted"
done
[ -n "$(ls -A "$S/pins")" ] || fail "the crashes left neither a pin nor a pin being written"
"$MKIMG" rm --store "$S" d
"$MKIMG" gc --store "$S" >/dev/null
[ -z "$(ls -A "$S/pins")" ] || fail "gc kept pins of mounts that did not happen: $(ls -A "$S/pins")"
[ ! -e "$img_d" ] || fail "gc kept d, pinned only by mounts that did not happen"
# killed right after the mount, before the pin names the mount id
"$MKIMG" convert -q --store "$S" --name d "$T/d.tar"
for at in move_mount rename:2; do
	rc=0
	KILLAT=$at LD_PRELOAD=$T/killat.so "$MKIMG" mount --store "$S" d "$T/md" || rc=$?
	[ "$rc" = 137 ] || fail "KILLAT=$at: mount exited $rc, not killed"
	mountpoint -q "$T/md" || fail "KILLAT=$at: not mounted"
	"$MKIMG" rm --store "$S" d 2>/dev/null || true
	"$MKIMG" gc --store "$S" >/dev/null
	[ "$(npins "$S" "$T/md")" = 1 ] || fail "KILLAT=$at: the mount is not pinned after gc"
	[ -f "$img_d" ] || fail "KILLAT=$at: gc removed the mounted image"
	python3 "$TOOLS/treecmp.py" "$T/ref-d" "$T/md" || fail "KILLAT=$at: the mount differs"
	"$MKIMG" umount "$T/md"
	[ "$(npins "$S")" = 0 ] || fail "KILLAT=$at: umount left the pin"
	"$MKIMG" convert -q --store "$S" --name d "$T/d.tar"
done
"$MKIMG" fsck --store "$S" >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after the crashes"; }
echo "ok: failed mounts unpin; crashes before the mount leave pins gc drops, after it pins that hold"

echo "case 5: a mount waits for a running gc (store lock), then pins"
mkdir "$T/mw"
lockino=$(stat -c %i "$S/lock")
flock -x "$S/lock" -c "touch '$T/locked'; while [ ! -e '$T/release' ]; do sleep 0.05; done" &
flpid=$!
while [ ! -e "$T/locked" ]; do sleep 0.05; done
"$MKIMG" mount --store "$S" d "$T/mw" &
mpid=$!
# the mount blocks on the lock: /proc/locks lists it as a waiter
for _ in $(seq 200); do
	grep -q -- "-> FLOCK .*:$lockino " /proc/locks && break
	sleep 0.05
done
grep -q -- "-> FLOCK .*:$lockino " /proc/locks || fail "the mount does not wait for the store lock"
! mountpoint -q "$T/mw" || fail "mounted while gc held the store"
[ -z "$(ls -A "$S/pins")" ] || fail "pinned while gc held the store"
touch "$T/release"
wait "$flpid"
wait "$mpid" || fail "mount after the lock was released"
[ "$(npins "$S" "$T/mw")" = 1 ] || fail "the mount that waited is not pinned"
"$MKIMG" umount "$T/mw"
echo "ok: the mount waited for the exclusive lock, then mounted and pinned"

echo "case 5: converting under a taken name needs --replace"
before=$(field "$("$MKIMG" inspect --store "$S" --json d)" image_sha256)
mkdir "$T/mr"
"$MKIMG" mount --store "$S" d "$T/mr"
"$MKIMG" inspect --store "$S" d | grep -q "live: mounted on $T/mr" || fail "inspect does not show the pin"
"$MKIMG" ls --store "$S" | awk '$1 == "d" { exit $7 == 1 ? 0 : 1 }' || fail "ls: d has not 1 pin"
if "$MKIMG" convert -q --store "$S" --name d "$T/e.tar" 2>"$T/err"; then fail "convert over a taken name"; fi
one_line "$T/err" "convert over a taken name"
grep -q -- '--replace' "$T/err" || fail "the refusal does not name --replace"
[ "$(field "$("$MKIMG" inspect --store "$S" --json d)" image_sha256)" = "$before" ] ||
	fail "the refused conversion changed the name"
"$MKIMG" convert -q --store "$S" --name d --replace "$T/e.tar" || fail "convert --replace"
check_named "$S" d "$T/ref-e"
"$MKIMG" gc --store "$S" >/dev/null
[ -f "$S/images/$before" ] || fail "gc removed the replaced image while it is mounted"
python3 "$TOOLS/treecmp.py" "$T/ref-d" "$T/mr" || fail "the mount of the replaced image differs"
"$MKIMG" umount "$T/mr"
"$MKIMG" gc --store "$S" >/dev/null
[ ! -e "$S/images/$before" ] || fail "gc kept the replaced image after its umount"
echo "ok: a taken name is refused in one line; --replace moves it, the mounted old image stays"

echo "case 5: kill -9 at random points of a pinned mount, then gc and fsck"
K=$T/kstore
mkdir "$T/kmnt"
"$MKIMG" convert -q --store "$K" --name base "$T/a.tar"
"$MKIMG" convert -q --store "$K" --name k "$T/b.tar"
start=$(date +%s%N)
"$MKIMG" mount --store "$K" k "$T/kmnt"
dur=$(( ($(date +%s%N) - start) / 1000 ))	# microseconds
"$MKIMG" umount "$T/kmnt"
RANDOM=23
mounted=0
for i in $(seq 1 24); do
	# each run an image (c or d, under a new name) that only its pin can keep
	src=c; [ $((i % 2)) = 0 ] && src=d
	"$MKIMG" convert -q --store "$K" --name "k$i" "$T/$src.tar"
	img=$(image_of "$K" "k$i")
	"$MKIMG" mount --store "$K" "k$i" "$T/kmnt" &
	pid=$!
	sleep "$(awk -v r=$RANDOM -v d="$dur" 'BEGIN { printf "%.6f", r / 32768 * d * 1.2 / 1e6 }')"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	"$MKIMG" rm --store "$K" "k$i" 2>/dev/null || true
	"$MKIMG" gc --store "$K" >/dev/null || fail "gc after kill -9 #$i"
	"$MKIMG" fsck --store "$K" >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after kill -9 #$i"; }
	if mountpoint -q "$T/kmnt"; then
		mounted=$((mounted + 1))
		[ "$(npins "$K" "$T/kmnt")" = 1 ] || fail "kill -9 #$i: mounted but not pinned"
		[ -f "$img" ] || fail "kill -9 #$i: gc removed the mounted image"
		diff -r --no-dereference "$T/ref-$src" "$T/kmnt" ||
			fail "kill -9 #$i: the mount differs after rm and gc"
		"$MKIMG" umount "$T/kmnt"
		"$MKIMG" gc --store "$K" >/dev/null
	fi
	[ -z "$(ls -A "$K/pins" 2>/dev/null)" ] || fail "kill -9 #$i: pins left: $(ls -A "$K/pins")"
	[ ! -e "$img" ] || fail "kill -9 #$i: gc kept an image no mount holds"
done
"$MKIMG" fsck --store "$K" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full after the kills"; }
grep -q '^note' "$T/fsck.out" && fail "gc left garbage: $(cat "$T/fsck.out")"
check_named "$K" base "$T/ref-a"
check_named "$K" k "$T/ref-b"
echo "ok: 24 mounts killed at random points (mount ${dur} us, $mounted mounted): every mount pinned, every other pin dropped, fsck passes"

fi

if want 11; then
# =========================================================================
echo "case 11: mount --device checks each device against the device table"
"$MKIMG" build -q --blob "$T/a.blob" "$T/ref-a" "$T/a.img"
"$MKIMG" build -q --blob "$T/b.blob" "$T/ref-b" "$T/b.img"
check_image "$T/a.img" "$T/ref-a" "$T/a.blob"
mkdir "$T/m11"
refuse() {	# refuse WHAT PATTERN MOUNT-ARGS...: refused in one line matching PATTERN
	local what=$1 pat=$2
	shift 2
	if "$MKIMG" mount "$@" "$T/m11" 2>"$T/err"; then
		"$MKIMG" umount "$T/m11"
		fail "$what: mounted"
	fi
	one_line "$T/err" "$what"
	grep -q -- "$pat" "$T/err" || { cat "$T/err"; fail "$what: the message does not say '$pat'"; }
	! mountpoint -q "$T/m11" || fail "$what: mounted"
}
refuse "/etc/passwd as the blob" "device 1 (/etc/passwd): .* bytes, the image's device table says" \
	"$T/a.img" --device /etc/passwd
refuse "another image's blob" "device 1 (.*b.blob)" "$T/a.img" --device "$T/b.blob"
refuse "no device" "lists 1 device, 0 given" "$T/a.img"
refuse "two devices" "lists 1 device, 2 given" "$T/a.img" --device "$T/a.blob" --device "$T/a.blob"
refuse "a directory as the blob" "not a regular file or block device" "$T/a.img" --device "$T/ref-a"
refuse "/etc/passwd as the image" "not an EROFS image" /etc/passwd --device "$T/a.blob"
# same size, one byte changed: the tag (sha256) differs
cp "$T/a.blob" "$T/a.bad"
printf '\xff' | dd of="$T/a.bad" bs=1 seek=100 conv=notrunc status=none
refuse "a blob with one byte changed" "sha256 [0-9a-f]*, the image's device table says $(sha256sum "$T/a.blob" | cut -c1-64)" \
	"$T/a.img" --device "$T/a.bad"
# --no-verify skips only the hash
refuse "--no-verify, wrong size" "bytes, the image's device table says" \
	"$T/a.img" --no-verify --device /etc/passwd
"$MKIMG" mount --no-verify "$T/a.img" "$T/m11" --device "$T/a.bad" || fail "--no-verify: not mounted"
"$MKIMG" umount "$T/m11"
echo "ok: wrong devices refused in one line naming the device; --no-verify skips only the hash"

echo "case 11: a store mount checks its blobs (size against the registry, name against the tag)"
S11=$T/store11
"$MKIMG" convert -q --store "$S11" --name a "$T/a.tar"
"$MKIMG" convert -q --store "$S11" --name b "$T/b.tar"
blob_a=$(field "$("$MKIMG" inspect --store "$S11" --json a)" devices)
blob_b=$(field "$("$MKIMG" inspect --store "$S11" --json b)" devices)
cp "$blob_a" "$T/saved"
truncate -s -512 "$blob_a"
if "$MKIMG" mount --store "$S11" a "$T/m11" 2>"$T/err"; then fail "store mount of a truncated blob"; fi
one_line "$T/err" "store mount of a truncated blob"
grep -q "blob 1 (.*): .* bytes, the registry says" "$T/err" || { cat "$T/err"; fail "truncated blob: message"; }
cp "$T/saved" "$blob_a"
# the registry names b's blob for a (same size): its name is not a's tag
size_a=$(stat -c %s "$blob_a")
truncate -s "$size_a" "$blob_b"
python3 - "$S11/registry.db" "$(basename "$blob_a")" "$(basename "$blob_b")" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE blobs SET digest='x' WHERE digest=?", (sys.argv[2],))
db.execute("UPDATE blobs SET size=(SELECT size FROM blobs WHERE digest='x') WHERE digest=?", (sys.argv[3],))
db.execute("UPDATE blobs SET digest=? WHERE digest='x'", (sys.argv[3] + "-old",))
db.execute("UPDATE image_blobs SET blob=(SELECT id FROM blobs WHERE digest=?)"
           " WHERE image=(SELECT image FROM names WHERE name='a')", (sys.argv[3],))
db.commit()
EOF
if "$MKIMG" mount --store "$S11" a "$T/m11" 2>"$T/err"; then fail "store mount of another image's blob"; fi
one_line "$T/err" "store mount of another image's blob"
grep -q "device 1 (.*$(basename "$blob_b")): its name is not its tag $(basename "$blob_a")" "$T/err" ||
	{ cat "$T/err"; fail "another image's blob: message"; }
[ -z "$(ls -A "$S11/pins")" ] || fail "refused store mounts left pins"
echo "ok: store mounts refuse a blob of the wrong size or name, and leave no pin"

# --verify: the image and each blob hashed against their digests
S11v=$T/s11v
"$MKIMG" convert -q --store "$S11v" --name a "$T/a.tar" || fail "convert a into s11v"
blob_v=$(field "$("$MKIMG" inspect --store "$S11v" --json a)" devices)
img_v=$(image_of "$S11v" a)
cp "$blob_v" "$T/saved"
printf '\x5a' | dd of="$blob_v" bs=1 seek=100 conv=notrunc status=none
cmp -s "$blob_v" "$T/saved" && printf '\xa5' | dd of="$blob_v" bs=1 seek=100 conv=notrunc status=none
if "$MKIMG" mount --store "$S11v" --verify a "$T/m11" 2>"$T/err"; then fail "--verify mount of a changed blob"; fi
one_line "$T/err" "--verify mount of a changed blob"
grep -q "device 1 (.*$(basename "$blob_v")): sha256 [0-9a-f]\{64\}, the image's device table says $(basename "$blob_v")" \
	"$T/err" || { cat "$T/err"; fail "changed blob: message"; }
[ -z "$(ls -A "$S11v/pins")" ] || fail "a refused --verify mount left a pin"
if "$MKIMG" mount --print --json --store "$S11v" --verify a "$T/m11" 2>"$T/err" >/dev/null; then
	fail "--print --verify of a changed blob"
fi
grep -q "blob 1 (.*$(basename "$blob_v")): its bytes hash to sha256:" "$T/err" ||
	{ cat "$T/err"; fail "--print, changed blob: message"; }
cp "$T/saved" "$blob_v"
cp "$img_v" "$T/saved"
printf '\x01' | dd of="$img_v" bs=1 seek=600 conv=notrunc status=none
cmp -s "$img_v" "$T/saved" && printf '\x02' | dd of="$img_v" bs=1 seek=600 conv=notrunc status=none
if "$MKIMG" mount --store "$S11v" --verify a "$T/m11" 2>"$T/err"; then fail "--verify mount of a changed image"; fi
one_line "$T/err" "--verify mount of a changed image"
grep -q "image a (.*): its bytes hash to sha256:" "$T/err" || { cat "$T/err"; fail "changed image: message"; }
if "$MKIMG" mount --print --json --store "$S11v" --verify a "$T/m11" >"$T/out" 2>"$T/err"; then
	fail "--print --verify of a changed image"
fi
one_line "$T/err" "--print --verify of a changed image"
grep -q "image a (.*): its bytes hash to sha256:" "$T/err" || { cat "$T/err"; fail "--print, changed image: message"; }
[ ! -s "$T/out" ] || fail "--print --verify of a changed image printed $(cat "$T/out")"
cp "$T/saved" "$img_v"
"$MKIMG" mount --print --json --store "$S11v" --verify a "$T/m11" >/dev/null || fail "--print --verify of an intact image"
"$MKIMG" mount --store "$S11v" --verify a "$T/m11" || fail "--verify mount of an intact image"
python3 "$TOOLS/treecmp.py" "$T/ref-a" "$T/m11" || fail "the --verify mount differs from a"
"$MKIMG" umount "$T/m11"
echo "ok: --verify refuses a blob or image of the right size with other bytes, mounts an intact one"

fi

if want 12; then
# =========================================================================
echo "case 12: every --json output is valid JSON, whatever the names and paths"
W=$T/$'odd "store" \\ with\ttab and\nnewline'
name='q"u\o\te'
src=$T/$'src "x" \\\t.tar'
cp "$T/a.tar" "$src"
jcheck() {	# jcheck WHAT JSON KEY WANT: JSON parses and KEY equals WANT
	python3 -c '
import json, sys
what, text, key, want = sys.argv[1:5]
try:
    v = json.loads(text)
except ValueError as e:
    sys.exit(f"FAIL: {what}: not JSON ({e}): {text!r}")
if isinstance(v, list):
    v = v[0]
for k in key.split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
if v != want and not (isinstance(v, int) and str(v) == want):
    sys.exit(f"FAIL: {what}: {key} is {v!r}, not {want!r}")' "$@" || exit 1
}
j=$("$MKIMG" convert --store "$W" --name "$name" --json "$src")
jcheck "convert --json" "$j" name "$name"
jcheck "convert --json" "$j" store "$W"
check_named "$W" "$name" "$T/ref-a"
jcheck "ls --json" "$("$MKIMG" ls --store "$W" --json)" source "$src"
jcheck "inspect --json" "$("$MKIMG" inspect --store "$W" --json "$name")" name "$name"
jcheck "stats --json" "$("$MKIMG" stats --store "$W" --json)" store "$W"
mkdir "$T/mj"
"$MKIMG" mount --store "$W" "$name" "$T/mj"
jcheck "pins --json" "$("$MKIMG" pins --store "$W" --json)" name "$name"
jcheck "inspect --json pins" "$("$MKIMG" inspect --store "$W" --json "$name")" pins.0.name "$name"
"$MKIMG" umount "$T/mj"
j=$("$MKIMG" gc --store "$W" --json)
jcheck "gc --json" "$j" pins_dropped 0
out=$T/$'out "1" \\\n.img'
j=$("$MKIMG" convert -o "$out" --blob "$out.blob" --json "$src")
jcheck "convert -o --json" "$j" output "$out"
jcheck "convert -o --json" "$j" blob "$out.blob"
check_image "$out" "$T/ref-a" "$out.blob"
j=$("$MKIMG" build --json --blob "$out.b2" "$T/ref-a" "$out.2")
jcheck "build --json" "$j" image "$out.2"
jcheck "build --json" "$j" blob "$out.b2"
check_image "$out.2" "$T/ref-a" "$out.b2"
echo "ok: convert, build, ls, inspect, stats, gc and pins --json parse and keep every byte"

echo "case 12: mount --print escapes for fstab and systemd, prints absolute paths"
P=$T/$'p store \\ %x'
"$MKIMG" convert -q --store "$P" --name p "$T/a.tar"
mp=$T/$'mnt  \\ \tx%y'
mkdir "$mp"
"$MKIMG" mount --print --store "$P" p "$mp" >"$T/print.out" || fail "mount --print"
python3 - "$T/print.out" "$mp" "$P" <<'EOF' || fail "mount --print: fstab, systemd or containerd output wrong"
import json, os, subprocess, sys
text, where, store = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
lines = text.splitlines()
fstab = lines[lines.index("# fstab") + 1]
open(sys.argv[1] + ".fstab", "w").write(fstab + "\n")
fm = json.loads(subprocess.check_output(["findmnt", "-F", sys.argv[1] + ".fstab", "-J"]))
fs = fm["filesystems"][0]
img = os.path.realpath(store) + "/images/"
assert fs["target"] == where, f"fstab target {fs['target']!r} != {where!r}"
assert fs["source"].startswith(img), f"fstab source {fs['source']!r} not in {img!r}"
opts = fs["options"].split(",")
assert opts[0] == "ro" and all(o.startswith("device=" + os.path.realpath(store) + "/blobs/sha256/")
                               for o in opts[1:] if o.startswith("device=")), opts
unit = [l for l in lines if l.startswith("# systemd mount unit: ")][0].split(": ", 1)[1]
want = subprocess.check_output(["systemd-escape", "--path", "--suffix=mount", where], text=True).strip()
assert unit == want, f"unit name {unit!r} != systemd-escape's {want!r}"
w = [l for l in lines if l.startswith("Where=")][0][6:]
assert w.replace("%%", "%") == where and "%%" in w, f"Where={w!r}"
cm = json.loads(lines[lines.index("# containerd mount (JSON)") + 1])
assert cm["source"] == fs["source"] and cm["options"] == opts, cm
# for systemd-analyze: the unit under its printed name
unit_text = text.split("# systemd mount unit: ")[1].split("\n", 1)[1].split("\n\n")[0]
os.makedirs(sys.argv[1] + ".d", exist_ok=True)
open(os.path.join(sys.argv[1] + ".d", unit), "w").write(unit_text + "\n")
EOF
if command -v systemd-analyze >/dev/null; then
	# systemd reads the unit back: Where= must match the unit name
	(cd "$T/print.out.d" && systemd-analyze verify ./*.mount) >"$T/err" 2>&1 ||
		{ cat "$T/err"; fail "systemd-analyze verify refuses the printed unit"; }
	echo "ok: systemd-analyze verify reads the printed unit"
fi
# --json: the containerd mount alone, the same object
"$MKIMG" mount --print --json --store "$P" p "$mp" >"$T/print.json" || fail "mount --print --json"
python3 - "$T/print.out" "$T/print.json" <<'EOF' || fail "mount --print --json differs from --print's JSON"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
want = json.loads(lines[lines.index("# containerd mount (JSON)") + 1])
text = open(sys.argv[2]).read()
assert text.count("\n") == 1, text
assert json.loads(text) == want, (text, want)
EOF
if "$MKIMG" mount --json --store "$P" p "$mp" 2>"$T/err"; then fail "--json without --print"; fi
one_line "$T/err" "--json without --print"
# relative paths come out absolute
(cd "$T" && "$MKIMG" mount --print a.img rel-mnt --device a.blob) >"$T/print.out"
grep -qx "$T/a.img $T/rel-mnt erofs ro,device=$T/a.blob 0 0" "$T/print.out" ||
	{ cat "$T/print.out"; fail "mount --print: relative paths not made absolute"; }
echo "ok: fstab fields read back by findmnt, unit name as systemd-escape, Where= with %%, containerd JSON"

echo "case 12: mount --print refuses a comma in an option and options over one page"
C=$T/comma,store
"$MKIMG" convert -q --store "$C" --name c "$T/a.tar"
if "$MKIMG" mount --print --store "$C" c "$T/m11" >"$T/print.out" 2>"$T/err"; then
	fail "mount --print with a comma in the store path"
fi
one_line "$T/err" "--print with a comma"
grep -q "comma" "$T/err" || fail "--print with a comma: the message does not say comma"
[ ! -s "$T/print.out" ] || fail "--print with a comma printed something"
# an image with 24 blobs in a store with a long path: over 4 KiB of options
L=$T/$(printf 'long-store-path-%.0s' $(seq 8))
for i in $(seq 1 24); do
	mkdir -p "$T/part$i"
	head -c $((4096 + i)) /dev/urandom >"$T/part$i/file$i"
	touch -d '2024-05-06 07:08:09' "$T/part$i/file$i" "$T/part$i"
	tar --numeric-owner -C "$T/part$i" -cf "$T/part$i.tar" .
	"$MKIMG" convert -q --store "$L" --name "part$i" "$T/part$i.tar"
done
mkdir "$T/all"
for i in $(seq 1 24); do cp -p "$T/part$i/file$i" "$T/all/"; done
touch -d '2024-05-06 07:08:09' "$T/all"
tar --numeric-owner -C "$T/all" -cf "$T/all.tar" .
mkdir "$T/ref-all"
tar --numeric-owner -xpf "$T/all.tar" -C "$T/ref-all"
"$MKIMG" convert -q --store "$L" --name all "$T/all.tar"
ndev=$("$MKIMG" inspect --store "$L" --json all | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["devices"]))')
[ "$ndev" -ge 24 ] || fail "the image references $ndev blobs, not 24"
if "$MKIMG" mount --print --store "$L" all "$T/m11" >"$T/print.out" 2>"$T/err"; then
	fail "mount --print with over 4 KiB of options"
fi
one_line "$T/err" "--print over 4 KiB"
grep -q "more than the 4095 .*'mkimg mount'" "$T/err" || { cat "$T/err"; fail "--print over 4 KiB: message"; }
[ ! -s "$T/print.out" ] || fail "--print over 4 KiB printed something"
check_named "$L" all "$T/ref-all"
"$MKIMG" mount --store "$L" all "$T/m11" || fail "mkimg mount of the image with $ndev blobs"
python3 "$TOOLS/treecmp.py" "$T/ref-all" "$T/m11" || fail "the image with $ndev blobs differs"
"$MKIMG" umount "$T/m11"
echo "ok: a comma and $ndev device options over one page are refused in one line; mkimg mount mounts them"
fi
echo "PASS: store-pins"
