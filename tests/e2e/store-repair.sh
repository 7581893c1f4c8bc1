#!/usr/bin/env bash
# Losing the registry must never lose data (issue 9, case 4). A store of four
# images (two layer tars sharing a big file's chunks and holding hard links,
# two OCI images whose base layer is replayed from its record): after the
# registry is deleted, emptied or overwritten, fsck fails with one line, gc
# refuses and deletes nothing, and `fsck --repair` brings back every name;
# every image then passes fsck.erofs 1.9 with its blobs, mounts by name equal
# to its source, `fsck --full` passes and dedup against the repaired store
# works. gc also refuses a registry younger than the objects it does not list,
# a blob whose bytes do not match its name is reported and not registered,
# hostile names-journal lines are skipped, and kill -9 at random points of the
# repair leaves a store fsck passes (or reports without a registry) from
# which no registered image has lost data.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle
command -v umoci >/dev/null || { echo "SKIP: umoci missing"; exit 77; }

# --- fixtures ------------------------------------------------------------------
python3 - "$T" <<'EOF'
import os, random, sys
t = sys.argv[1]
def mk(root, flips, extra):
    os.makedirs(root + "/etc", exist_ok=True)
    os.makedirs(root + "/usr/lib/x", exist_ok=True)
    r = random.Random(7)
    for i in range(120):
        with open(f"{root}/usr/lib/x/f{i:03d}", "wb") as f:
            f.write(r.randbytes(r.choice([0, 1, 100, 511, 512, 513, 4096, 70000, 200000])))
    big = bytearray(random.Random(9).randbytes(6 << 20))
    for off in flips:
        big[off] ^= 0xff
    with open(root + "/usr/lib/big.bin", "wb") as f:
        f.write(big)
    with open(root + "/usr/lib/sparse", "wb") as f:
        f.write(bytes(1 << 20) + b"end")
    os.link(root + "/usr/lib/x/f003", root + "/usr/lib/hard1")
    os.link(root + "/usr/lib/x/f003", root + "/etc/hard2")
    os.symlink("x/f001", root + "/usr/lib/link")
    os.setxattr(root + "/usr/lib/x/f005", "user.note", b"kept")
    for i in range(extra):
        with open(f"{root}/etc/new{i}", "wb") as f:
            f.write(random.Random(100 + i).randbytes(5000 + i))
mk(t + "/a", [], 0)
mk(t + "/b", [1 << 20, (3 << 20) + 5], 5)
mk(t + "/b2", [1 << 20, (3 << 20) + 5, (5 << 20) + 9], 5)	# b with one more chunk changed
os.makedirs(t + "/top/etc")
open(t + "/top/etc/motd", "w").write("top layer\n")
open(t + "/top/etc/own", "wb").write(random.Random(5).randbytes(90000))
EOF
for v in a b b2; do
	find "$T/$v" -exec touch -h -d '2024-05-06 07:08:09' {} +
	tar --xattrs --xattrs-include='*' --numeric-owner --sort=name -C "$T/$v" -cf "$T/$v.tar" .
	mkdir "$T/ref-$v"
	tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$T/$v.tar" -C "$T/ref-$v"
done
# a source path a journal line could be forged with
src_odd="$T/we ird%
name.tar"
cp "$T/b.tar" "$src_odd"
python3 "$top_srcdir/scripts/sample-oci.py" "$T/oci1" one "$T/a=base"
python3 "$top_srcdir/scripts/sample-oci.py" "$T/oci2" two "$T/a=base" "$T/top=top"
umoci unpack --image "$T/oci1:one" "$T/bundle1" >/dev/null
umoci unpack --image "$T/oci2:two" "$T/bundle2" >/dev/null

S=$T/store
field() {	# field JSON KEY
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(" ".join(v) if isinstance(v, list) else v)' "$1" "$2"
}
ja=$("$MKIMG" convert --store "$S" --name a --json "$T/a.tar")
jb=$("$MKIMG" convert --store "$S" --name b --json "$src_odd")
[ "$(field "$jb" chunk_hits)" -gt 80 ] || fail "b should share big.bin's chunks with a: $jb"
"$MKIMG" convert -q --store "$S" --name one "oci:$T/oci1:one"
j2=$("$MKIMG" convert --store "$S" --name two --json "oci:$T/oci2:two")
[ "$(field "$j2" layers_reused)" = 1 ] || fail "two: the base layer was not replayed: $j2"
tar -C "$T/top" -cf "$T/top.tar" .
"$MKIMG" convert -q --store "$S" --name gone "$T/top.tar"	# removed again below
"$MKIMG" rm --store "$S" gone
names="a b one two"
refof() {	# refof NAME -> the tree it must equal
	case $1 in
	a) echo "$T/ref-a" ;; b) echo "$T/ref-b" ;;
	one) echo "$T/bundle1/rootfs" ;; two) echo "$T/bundle2/rootfs" ;;
	*) fail "no reference for $1" ;;
	esac
}
snapshot() {	# name image_sha256 source, one line per name
	local n
	for n in $names; do
		j=$("$MKIMG" inspect --store "$S" --json "$n") || return 1
		echo "$n $(field "$j" image_sha256) $(field "$j" devices) $(field "$j" layers)"
	done
}
snapshot >"$T/before"
"$MKIMG" inspect --store "$S" --json b | python3 -c 'import json,sys; print(json.load(sys.stdin)["source"])' >"$T/src-before"
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full of the fresh store"; }
objects() { (cd "$S" && find blobs images layers -type f | sort | xargs sha256sum); }
objects >"$T/objects"

# every name, by name: mounted equal to its source; fsck.erofs, --extract,
# kernel mount through check_image
check_all() {
	local n j ref
	for n in $names; do
		ref=$(refof "$n")
		mkdir -p "$T/m"
		"$MKIMG" mount --store "$S" "$n" "$T/m" || fail "mount $n by name"
		# umoci gives the (implicit) root the time of the unpack
		case $n in one|two) touch -h -d "@$(stat -c %Y "$T/m")" "$ref" ;; esac
		python3 "$TOOLS/treecmp.py" "$ref" "$T/m" || { "$MKIMG" umount "$T/m"; fail "$n mounted by name differs"; }
		"$MKIMG" umount "$T/m"
		j=$("$MKIMG" inspect --store "$S" --json "$n")
		# shellcheck disable=SC2046
		check_image "$(field "$j" image)" "$ref" $(field "$j" devices)
	done
}
repaired_ok() {	# the repaired store: same names, same images, same objects
	snapshot >"$T/after" || fail "a name does not map after the repair"
	diff "$T/before" "$T/after" || fail "names map to other images after the repair"
	objects | cmp -s - "$T/objects" || fail "the repair changed the store's objects"
	"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full after the repair"; }
	! "$MKIMG" inspect --store "$S" --json gone >/dev/null 2>&1 || fail "a removed name came back"
}
lose() {	# lose HOW: delete, empty or overwrite the registry
	case $1 in
	delete) rm -f "$S/registry.db" "$S/registry.db-wal" "$S/registry.db-shm" ;;
	empty) rm -f "$S/registry.db-wal" "$S/registry.db-shm"; : >"$S/registry.db" ;;
	truncated) rm -f "$S/registry.db-wal" "$S/registry.db-shm"
		truncate -s $(($(stat -c %s "$S/registry.db") / 2)) "$S/registry.db" ;;
	corrupt) rm -f "$S/registry.db-wal" "$S/registry.db-shm"
		head -c 4000 /dev/urandom | dd of="$S/registry.db" bs=1 seek=0 conv=notrunc status=none ;;
	esac
}
refused() {	# refused HOW: fsck fails with one line, gc refuses and deletes nothing
	local out
	if out=$("$MKIMG" fsck --store "$S" 2>&1); then
		fail "fsck passed with a $1 registry: $out"
	fi
	[ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "^mkimg: .*registry.db.*fsck --repair" ||
		fail "fsck with a $1 registry: want one line naming registry.db and --repair: $out"
	"$MKIMG" fsck --store "$S" --full >/dev/null 2>&1 && fail "fsck --full passed with a $1 registry"
	"$MKIMG" gc --store "$S" >"$T/gc.out" 2>&1 && fail "gc ran with a $1 registry: $(cat "$T/gc.out")"
	objects | cmp -s - "$T/objects" || fail "gc deleted objects with a $1 registry"
	"$MKIMG" ls --store "$S" >/dev/null 2>&1 && fail "ls showed a store with a $1 registry"
	"$MKIMG" convert -q --store "$S" --name x "$T/a.tar" 2>/dev/null &&
		fail "convert made a new registry over a $1 one"
	objects | cmp -s - "$T/objects" || fail "commands changed the objects with a $1 registry"
	echo "ok: $1 registry: fsck fails ($out), gc refuses, nothing deleted"
}

# --- case 4: a deleted registry -------------------------------------------------
echo "== case 4: a deleted registry is an error, gc refuses, --repair restores it"
lose delete
refused deleted
"$MKIMG" fsck --store "$S" --repair >"$T/repair.out" || { cat "$T/repair.out"; fail "fsck --repair"; }
cat "$T/repair.out"
repaired_ok
"$MKIMG" inspect --store "$S" --json b | python3 -c 'import json,sys; print(json.load(sys.stdin)["source"])' |
	cmp -s - "$T/src-before" || fail "b's source (spaces, %, a newline) did not survive the journal"
check_all
echo "ok: case 4: after rm registry.db and fsck --repair every name maps and every image equals its source"

# --- case 4: dedup against the repaired store ------------------------------------
echo "== case 4: dedup against the repaired store"
j=$("$MKIMG" convert --store "$S" --name a-again --json "$T/a.tar")
[ "$(field "$j" new_bytes)" = 0 ] || fail "a converted again into the repaired store stored $(field "$j" new_bytes) new bytes"
[ "$(field "$j" image)" = "$(field "$ja" image)" ] || fail "a again: another image"
j=$("$MKIMG" convert --store "$S" --name b2 --json "$T/b2.tar")
# b2 = b with one more 64 KiB chunk of big.bin changed: the other chunks are
# found through the repaired chunk rows (whole-file dedup misses big.bin)
[ "$(field "$j" chunk_hits)" -ge 90 ] || fail "b2: big.bin's chunks not found in the repaired store: $j"
[ "$(field "$j" new_bytes)" -le $((2 * 65536)) ] || fail "b2 stored $(field "$j" new_bytes) new bytes"
j=$("$MKIMG" convert --store "$S" --name two-again --json "oci:$T/oci2:two")
[ "$(field "$j" layers_reused)" = 2 ] && [ "$(field "$j" new_bytes)" = 0 ] ||
	fail "two again: layers not replayed from the repaired registry: $j"
NO_EXTRACT=1 check_image "$(field "$("$MKIMG" inspect --store "$S" --json b2)" image)" "$T/ref-b2" \
	$(field "$("$MKIMG" inspect --store "$S" --json b2)" devices)
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full after the new conversions"; }
for n in a-again b2 two-again; do "$MKIMG" rm --store "$S" "$n"; done
"$MKIMG" gc --store "$S" >/dev/null || fail "gc on the repaired store"
snapshot | cmp -s - "$T/before" || fail "gc on the repaired store changed the images"
objects >"$T/objects"
echo "ok: case 4: the repaired store dedups whole files, chunks and layers"

# --- case 4: an empty and a corrupted registry ----------------------------------
for how in empty truncated corrupt; do
	echo "== case 4: a $how registry"
	lose $how
	refused $how
	"$MKIMG" fsck --store "$S" --repair >"$T/repair.out" || { cat "$T/repair.out"; fail "fsck --repair ($how)"; }
	repaired_ok
	echo "ok: case 4: repaired from a $how registry"
done
NO_EXTRACT=1 names="two" check_all

# --- case 4: gc refuses a registry younger than its objects ---------------------
echo "== case 4: gc refuses a registry younger than the objects it does not list"
E=$T/estore
"$MKIMG" convert -q --store "$E" --name other "$T/top.tar"
(cd "$S" && find blobs images layers -type f -exec touch -h -d '1 hour ago' {} +)
objects >"$T/objects"
rm -f "$S"/registry.db*
cp "$E/registry.db" "$S/registry.db"	# a registry made again after its objects
"$MKIMG" gc --store "$S" >"$T/gc.out" 2>&1 && fail "gc ran on a registry younger than its objects"
grep -q "older than .*registry.db.*fsck --repair" "$T/gc.out" || fail "gc: $(cat "$T/gc.out")"
objects | cmp -s - "$T/objects" || fail "gc deleted objects under a younger registry"
"$MKIMG" fsck --store "$S" --repair >"$T/repair.out" || { cat "$T/repair.out"; fail "fsck --repair (younger)"; }
repaired_ok
# crash leftovers younger than the registry are still removed
leftover=$S/blobs/sha256/$(printf 'leftover' | sha256sum | cut -c1-64)
printf 'leftover' >"$leftover"
touch -d '1 minute' "$leftover"
"$MKIMG" gc --store "$S" >"$T/gc.out" || fail "gc after the repair: $(cat "$T/gc.out")"
[ ! -e "$leftover" ] || fail "gc left a crash leftover younger than the registry"
objects | cmp -s - "$T/objects" || fail "gc after the repair deleted registered objects"
echo "ok: case 4: gc refuses a younger registry; after the repair it removes only leftovers"

# --- case 4: a blob whose bytes do not match its name -----------------------------
echo "== case 4: a damaged blob is reported by the repair, never registered"
victim=$(field "$("$MKIMG" inspect --store "$S" --json b)" devices | cut -d' ' -f1)
cp "$victim" "$T/victim.save"
printf '\xa5' | dd of="$victim" bs=1 seek=100 conv=notrunc status=none
rm -f "$S"/registry.db*
"$MKIMG" fsck --store "$S" --repair >"$T/repair.out" && fail "the repair hid a damaged blob"
grep -q "blob $(basename "$victim").*do not match its name" "$T/repair.out" || { cat "$T/repair.out"; fail "repair: damaged blob not named"; }
grep -q "name b: .*not restored" "$T/repair.out" || { cat "$T/repair.out"; fail "repair: b should not be restored"; }
"$MKIMG" inspect --store "$S" --json a >/dev/null || fail "a not restored beside a damaged blob of b"
"$MKIMG" gc --store "$S" >/dev/null 2>&1 && fail "gc ran while a blob older than the registry is unregistered"
[ -e "$victim" ] || fail "the damaged blob was deleted"
cp "$T/victim.save" "$victim"
touch -h -d '1 hour ago' "$victim"
"$MKIMG" fsck --store "$S" --repair >"$T/repair.out" || { cat "$T/repair.out"; fail "repair after the blob was mended"; }
repaired_ok
echo "ok: case 4: a damaged blob is named, its image not restored, nothing deleted"

# --- case 4: hostile names-journal lines -----------------------------------------
echo "== case 4: forged or torn names-journal lines are skipped"
img_a=$(basename "$(field "$ja" image)")
printf 'add =evil %s 1 == 0 00000000\n' "$img_a" >>"$S/names.log"	# bad check
printf 'rm =a 1 deadbeef\n' >>"$S/names.log"			# a forged removal
printf 'add =torn %s 1 == 0' "$img_a" >>"$S/names.log"		# torn, no newline
rm -f "$S"/registry.db*
"$MKIMG" fsck --store "$S" --repair >"$T/repair.out" || { cat "$T/repair.out"; fail "repair with hostile journal lines"; }
grep -q "3 damaged lines skipped" "$T/repair.out" || { cat "$T/repair.out"; fail "hostile lines not reported"; }
repaired_ok
for n in evil torn; do
	"$MKIMG" inspect --store "$S" --json $n >/dev/null 2>&1 && fail "a hostile line restored $n"
done
printf '\n' >>"$S/names.log"	# end the torn line for the appends that follow
echo "ok: case 4: hostile journal lines are skipped and reported"

# --- case 4: kill -9 during the repair --------------------------------------------
echo "== case 4: kill -9 at random points of fsck --repair"
start=$(date +%s%N)
"$MKIMG" fsck --store "$S" --repair >/dev/null
dur=$(( ($(date +%s%N) - start) / 1000 ))	# microseconds
echo "repair of the test store: $dur us"
RANDOM=29
missing=0
for i in $(seq 1 24); do
	"$MKIMG" fsck --store "$S" --repair >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v r=$RANDOM -v d="$dur" 'BEGIN { printf "%.6f", r / 32768 * d * 1.2 / 1e6 }')"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if ! out=$("$MKIMG" fsck --store "$S" 2>&1); then
		echo "$out" | grep -q "registry.db is missing" || fail "fsck after kill -9 #$i: $out"
		missing=$((missing + 1))
		"$MKIMG" fsck --store "$S" --repair >"$T/repair.out" ||
			{ cat "$T/repair.out"; fail "the second repair after kill -9 #$i"; }
		"$MKIMG" fsck --store "$S" >/dev/null || fail "fsck after the second repair #$i"
	fi
	snapshot | cmp -s - "$T/before" || fail "kill -9 #$i: names no longer map to their images"
	objects | cmp -s - "$T/objects" || fail "kill -9 #$i: the store's objects changed"
done
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full after the kills"; }
"$MKIMG" gc --store "$S" >/dev/null || fail "gc after the kills"
objects | cmp -s - "$T/objects" || fail "gc after the kills deleted objects"
echo "ok: case 4: 24 repairs killed at random points ($missing left no registry and were repaired again)"
check_all
echo "PASS: store-repair"
