#!/usr/bin/env bash
# The shared store end to end: two versions of a tree converted as layer
# tars into one store share their data (the same blob extents, checked with
# dump.erofs), a large file changed in three places stores only the three
# changed 64 KiB chunks, every image passes fsck.erofs 1.9 with its blobs and
# mounts equal to GNU tar's extraction of its layer, converting into a fresh
# store gives the same bytes, four concurrent conversions leave a consistent
# store, conversions killed with SIGKILL at random points leave a store that
# `mkimg fsck` passes, `gc` after `rm` frees exactly the blobs no image
# references, and `fsck --full` names a blob with one corrupted byte.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle

# --- fixtures: tree a, and b = a + new files + big.bin changed in 3 places
python3 - "$T" <<'EOF'
import os, random, sys
t = sys.argv[1]
rnd = random.Random(4)
def mk(root, extra):
    os.makedirs(root + "/etc/conf.d", exist_ok=True)
    os.makedirs(root + "/usr/lib/x", exist_ok=True)
    r = random.Random(7)
    for i in range(300):
        d = root + ("/usr/lib/x" if i % 2 else "/etc/conf.d")
        with open(f"{d}/f{i:03d}", "wb") as f:
            f.write(r.randbytes(r.choice([0, 1, 100, 511, 512, 513, 4096, 5000, 70000])))
    big = bytearray(random.Random(9).randbytes(8 << 20))
    if extra:
        for off in (1 << 20, (3 << 20) + 70000, (7 << 20) + 1):
            big[off] ^= 0xff
        for i in range(40):
            with open(f"{root}/usr/lib/x/new{i:02d}", "wb") as f:
                f.write(rnd.randbytes(3000 + i))
    with open(root + "/usr/lib/big.bin", "wb") as f:
        f.write(big)
    with open(root + "/usr/lib/zeros", "wb") as f:
        f.write(bytes(300000))
    os.symlink("x/f001", root + "/usr/lib/link")
    os.link(root + "/usr/lib/x/f003", root + "/usr/lib/hard")
    os.setxattr(root + "/usr/lib/x/f005", "user.note", b"kept")
    os.chmod(root + "/usr/lib/x/f007", 0o4755)
    os.chown(root + "/etc/conf.d/f010", 1234, 70000)
mk(t + "/a", False)
mk(t + "/b", True)
EOF
for v in a b; do
	find "$T/$v" -exec touch -h -d '2024-05-06 07:08:09.123456789' {} +
	tar --xattrs --xattrs-include='*' --numeric-owner --sort=name -C "$T/$v" -cf "$T/$v.tar" .
	mkdir "$T/ref-$v"
	tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$T/$v.tar" -C "$T/ref-$v"
done
gzip -k "$T/b.tar"

S=$T/store
field() {	# field JSON KEY
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(" ".join(v) if isinstance(v, list) else v)' "$1" "$2"
}
check_named() {	# check_named STORE NAME REF
	local j
	j=$("$MKIMG" inspect --store "$1" --json "$2")
	# shellcheck disable=SC2046
	check_image "$(field "$j" image)" "$3" $(field "$j" devices)
}

# --- dedup across images --------------------------------------------------
ja=$("$MKIMG" convert --store "$S" --name a --json "$T/a.tar")
jb=$("$MKIMG" convert --store "$S" --name b --json "$T/b.tar.gz")
echo "a: $ja"
echo "b: $jb"
new_b=$(field "$jb" new_bytes)
# b's new data: 40 new files (3000..3039 bytes, 6 blocks of 512 each) and the
# three changed 64 KiB chunks of big.bin
want=$((40 * 6 * 512 + 3 * 65536))
[ "$new_b" -eq "$want" ] || fail "b stored $new_b new bytes, expected $want"
[ "$(field "$jb" chunk_hits)" -eq $((128 - 3)) ] ||
	fail "big.bin: expected 125 chunks found in the store, got $(field "$jb" chunk_hits)"
echo "ok: b stores only its new files and big.bin's 3 changed chunks ($new_b bytes)"

# shared files point at the same blob extent in both images
extent() {	# extent NAME PATH -> "blob-path physical-offsets..."
	local j img devs=() d out
	j=$("$MKIMG" inspect --store "$S" --json "$1")
	img=$(field "$j" image)
	for d in $(field "$j" devices); do devs+=("--device=$d"); done
	out=$("$ORACLE/dump.erofs" "${devs[@]}" -e --path="$2" "$img")
	python3 - "$out" $(field "$j" devices) <<'EOF'
import re, sys
out, devs = sys.argv[1], sys.argv[2:]
for line in out.splitlines():
    m = re.match(r"\s*\d+:\s*(\d+)\.\.\s*(\d+)\s*\|\s*\d+\s*:\s*(\d+)\.\.\s*(\d+).*# device (\d+)", line)
    if m:
        print(m.group(1), devs[int(m.group(5)) - 1], m.group(3), m.group(4))
EOF
}
shared=$(cd "$T/ref-a" && find . -type f -size +1k | sort | head -n 5 | cut -c2-)
[ -n "$shared" ] || fail "no files to compare"
for f in $shared; do
	ea=$(extent a "$f"); eb=$(extent b "$f")
	[ -n "$ea" ] && [ "$ea" = "$eb" ] || fail "$f: a has '$ea', b has '$eb'"
done
# big.bin: the unchanged first MiB is the same extent of a's blob in both
ea=$(extent a /usr/lib/big.bin | sed -n 1p); eb=$(extent b /usr/lib/big.bin | sed -n 1p)
[ "$(echo "$ea" | cut -d' ' -f2,3)" = "$(echo "$eb" | cut -d' ' -f2,3)" ] ||
	fail "big.bin's first chunk: a '$ea', b '$eb'"
echo "ok: shared files and chunks are the same blob extents in both images"

check_named "$S" a "$T/ref-a"
check_named "$S" b "$T/ref-b"
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full"; }

# both mounted at once, by name
mkdir -p "$T/ma" "$T/mb"
"$MKIMG" mount --store "$S" a "$T/ma"
"$MKIMG" mount --store "$S" b "$T/mb"
python3 "$TOOLS/treecmp.py" --ignore-root-mtime "$T/ref-a" "$T/ma" || fail "a mounted differs"
python3 "$TOOLS/treecmp.py" --ignore-root-mtime "$T/ref-b" "$T/mb" || fail "b mounted differs"
"$MKIMG" umount "$T/ma"
"$MKIMG" umount "$T/mb"
echo "ok: a and b mounted at once by name"

# --- determinism ------------------------------------------------------------
"$MKIMG" convert -q --store "$T/store2" --name a "$T/a.tar"
"$MKIMG" convert -q --store "$T/store2" --name b "$T/b.tar.gz"
for n in a b; do
	[ "$(field "$("$MKIMG" inspect --store "$S" --json $n)" image_sha256)" = \
	  "$(field "$("$MKIMG" inspect --store "$T/store2" --json $n)" image_sha256)" ] ||
		fail "$n: a fresh store gave different image bytes"
done
(cd "$S/blobs/sha256" && ls) >"$T/b1"; (cd "$T/store2/blobs/sha256" && ls) >"$T/b2"
cmp -s "$T/b1" "$T/b2" || fail "a fresh store gave different blobs"
echo "ok: the same conversions into a fresh store give identical images and blobs"

# --- a layer already in the store is replayed, not decompressed -----------
L=$T/lstore
python3 "$top_srcdir/scripts/sample-oci.py" "$T/oci1" one "$T/a=base"
mkdir -p "$T/top/etc"
echo "top layer" >"$T/top/etc/motd"
python3 "$top_srcdir/scripts/sample-oci.py" "$T/oci2" two "$T/a=base" "$T/top=top"
j1=$("$MKIMG" convert --store "$L" --name one --json "oci:$T/oci1:one")
j2=$("$MKIMG" convert --store "$L" --name two --json "oci:$T/oci2:two")
[ "$(field "$j1" layers_reused)" = 0 ] && [ "$(field "$j2" layers_reused)" = 1 ] ||
	fail "the base layer was not reused: $j2"
[ "$(field "$j2" tar_bytes)" -lt $(($(field "$j1" tar_bytes) / 2)) ] ||
	fail "the base layer was decompressed again"
command -v umoci >/dev/null || fail "umoci missing"
umoci unpack --image "$T/oci1:one" "$T/bundle1" >/dev/null
umoci unpack --image "$T/oci2:two" "$T/bundle2" >/dev/null
mkdir -p "$T/m2"
check_oci() {	# check_oci NAME BUNDLE: fsck.erofs, extract, mount vs umoci
	# umoci gives the (implicit) root the time of the unpack
	"$MKIMG" mount --store "$L" "$1" "$T/m2"
	touch -h -d "@$(stat -c %Y "$T/m2")" "$2/rootfs"
	"$MKIMG" umount "$T/m2"
	check_named "$L" "$1" "$2/rootfs"
}
check_oci one "$T/bundle1"
check_oci two "$T/bundle2"
# a damaged record: the layer is converted from its tar again (with a warning)
rec=$(ls "$L"/layers/* | head -n 1)
printf 'x' | dd of="$rec" bs=1 seek=100 conv=notrunc status=none
"$MKIMG" fsck --store "$L" --full >"$T/fsck.out" && fail "fsck --full missed a damaged layer record"
grep -q "layer record.*corrupt" "$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full: layer record"; }
"$MKIMG" convert -q --store "$L" --name two-again "oci:$T/oci2:two" 2>"$T/err" ||
	{ cat "$T/err"; fail "convert with a damaged layer record"; }
grep -q "corrupt" "$T/err" || fail "no warning about the damaged record: $(cat "$T/err")"
check_oci two-again "$T/bundle2"
"$MKIMG" fsck --store "$L" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full after the record was rewritten"; }
echo "ok: a layer in the store is replayed from its record; a damaged record falls back to the tar"

# --- gc after rm frees exactly the unreferenced blobs --------------------------
"$MKIMG" convert -q --store "$S" --name a2 "$T/a.tar"	# a again: nothing new
[ "$(field "$("$MKIMG" inspect --store "$S" --json a2)" image_sha256)" = \
  "$(field "$("$MKIMG" inspect --store "$S" --json a)" image_sha256)" ] ||
	fail "converting a again gave a different image"
python3 - "$T/c" <<'EOF'
import os, random, sys
os.makedirs(sys.argv[1])
open(sys.argv[1] + "/only-c", "wb").write(random.Random(3).randbytes(100000))
EOF
tar -C "$T/c" -cf "$T/c.tar" .
"$MKIMG" convert -q --store "$S" --name c "$T/c.tar"
mkdir "$T/ref-c"
tar -xpf "$T/c.tar" -C "$T/ref-c"	# the tar keeps whole seconds
NO_EXTRACT=1 check_named "$S" c "$T/ref-c"
blobs_of() { field "$("$MKIMG" inspect --store "$S" --json "$1")" devices | tr ' ' '\n' | sort; }
blobs_of b >"$T/keep"
blobs_of a >>"$T/keep"
sort -u -o "$T/keep" "$T/keep"
blobs_of c >"$T/c.blobs"
gone=$(comm -23 "$T/c.blobs" "$T/keep")
[ -n "$gone" ] || fail "c should own a blob"
"$MKIMG" rm --store "$S" c
gc=$("$MKIMG" gc --store "$S" --json)
echo "gc: $gc"
[ "$(field "$gc" blobs)" -eq "$(echo "$gone" | wc -l)" ] || fail "gc removed $(field "$gc" blobs) blobs"
for b in $gone; do [ ! -e "$b" ] || fail "gc left $b"; done
ls "$S"/blobs/sha256/* | sort >"$T/left"
cmp -s "$T/left" "$T/keep" || { diff "$T/left" "$T/keep"; fail "blobs left after gc"; }
"$MKIMG" rm --store "$S" c 2>"$T/err" && fail "rm of a removed name succeeded"
grep -q "no image named c" "$T/err" || fail "rm: $(cat "$T/err")"
"$MKIMG" fsck --store "$S" --full >/dev/null || fail "fsck after gc"
echo "ok: gc after rm removed exactly c's own blob"

# --- a corrupted byte is found by fsck --full ------------------------------
victim=$(blobs_of b | head -1)
cp "$victim" "$T/victim.save"
printf '\xa5' | dd of="$victim" bs=1 seek=70000 conv=notrunc status=none
"$MKIMG" fsck --store "$S" >/dev/null || fail "plain fsck checks sizes only and should pass"
if "$MKIMG" fsck --store "$S" --full >"$T/fsck.out"; then
	fail "fsck --full missed a corrupted byte"
fi
grep -q "blob $(basename "$victim").*corrupt" "$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full did not name the blob"; }
cp "$T/victim.save" "$victim"
echo "ok: fsck --full names the corrupted blob"

# --- four concurrent conversions ---------------------------------------------
C=$T/cstore
pids=()
"$MKIMG" convert -q --store "$C" --name p1 "$T/a.tar" & pids+=($!)
"$MKIMG" convert -q --store "$C" --name p2 "$T/b.tar" & pids+=($!)
"$MKIMG" convert -q --store "$C" --name p3 "$T/a.tar" & pids+=($!)
"$MKIMG" convert -q --store "$C" --name p4 "$T/b.tar.gz" & pids+=($!)
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent conversion failed"; done
"$MKIMG" fsck --store "$C" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after concurrent conversions"; }
[ "$("$MKIMG" ls --store "$C" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 4 ] ||
	fail "concurrent conversions: not 4 images"
NO_EXTRACT=1 check_named "$C" p1 "$T/ref-a"
NO_EXTRACT=1 check_named "$C" p2 "$T/ref-b"
NO_EXTRACT=1 check_named "$C" p3 "$T/ref-a"
NO_EXTRACT=1 check_named "$C" p4 "$T/ref-b"
echo "ok: 4 concurrent conversions, consistent store"

# --- kill -9 at random points -------------------------------------------------
K=$T/kstore
"$MKIMG" convert -q --store "$K" --name base "$T/a.tar"
NO_EXTRACT=1 check_named "$K" base "$T/ref-a"
start=$(date +%s%N)
"$MKIMG" convert -q --store "$K" --name probe "$T/b.tar.gz"
dur=$(( ($(date +%s%N) - start) / 1000 ))	# microseconds
"$MKIMG" rm --store "$K" probe
"$MKIMG" gc --store "$K" >/dev/null
RANDOM=17
for i in $(seq 1 24); do
	src=$T/b.tar.gz; [ $((i % 3)) = 0 ] && src=$T/a.tar
	"$MKIMG" convert -q --store "$K" --name "k$i" "$src" &
	pid=$!
	sleep "$(awk -v r=$RANDOM -v d="$dur" 'BEGIN { printf "%.6f", r / 32768 * d * 1.1 / 1e6 }')"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	"$MKIMG" fsck --store "$K" >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after kill -9 #$i"; }
done
echo "kill -9: $(grep -c '^note' "$T/fsck.out" || true) leftover files noted after the last kill"
"$MKIMG" convert -q --store "$K" --name after "$T/b.tar.gz" || fail "convert after the kills"
"$MKIMG" gc --store "$K" >/dev/null
"$MKIMG" fsck --store "$K" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck --full after the kills"; }
grep -q '^note' "$T/fsck.out" && fail "gc left garbage: $(cat "$T/fsck.out")"
NO_EXTRACT=1 check_named "$K" after "$T/ref-b"
echo "ok: 24 conversions killed at random points (duration ${dur} us), fsck passes each time"
# gc waits for conversions (they hold the store lock shared)
flock -s "$K/lock" sleep 2 &
fl=$!
sleep 0.3
start=$(date +%s%N)
"$MKIMG" gc --store "$K" >/dev/null
waited=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$fl"
[ "$waited" -ge 1400 ] || fail "gc ran while a conversion held the store (waited ${waited} ms)"
echo "ok: gc waited ${waited} ms for the running conversion"
echo "PASS: store"
