#!/usr/bin/env bash
# Input mkimg convert must treat as umoci does, and interrupted runs:
#  case 10: trusted.overlay.* xattrs of layers are dropped (one warning);
#           the only trusted.overlay.* xattrs in flattened and per-layer
#           images are the markers mkimg writes itself;
#  case 15: a layer written by umoci 0.4.7 `insert` (no padding after the
#           last file, no end-of-archive blocks) converts and equals
#           `umoci unpack`;
#  case 16: SIGINT, SIGTERM and SIGHUP during a conversion or a build leave
#           no .NAME.tmp-* file and a non-zero exit;
#  case 17: an empty layer (a file or in a layout) is a layer of no entries,
#           as umoci reads it; a zstd layer file may start with a skippable
#           frame.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle
command -v umoci >/dev/null || { echo "SKIP: umoci missing"; exit 77; }
MKOCI="python3 $TOOLS/mkoci.py"
CASES=" ${CASES:-10 15 16 17} "	# a subset, e.g. CASES=15

# The trusted.overlay.* xattrs of every inode under a mounted tree:
# "path name hexvalue" lines.
overlay_xattrs() {
	python3 - "$1" <<'EOF'
import os, sys
root = sys.argv[1]
for d, dirs, files in os.walk(root):
    for n in [d] + [os.path.join(d, f) for f in dirs + files]:
        for k in os.listxattr(n, follow_symlinks=False):
            if k.startswith("trusted.overlay."):
                v = os.getxattr(n, k, follow_symlinks=False)
                print(os.path.relpath(n, root), k, v.hex())
EOF
}

# --- case 10 ------------------------------------------------------------------
if [[ $CASES == *" 10 "* ]]; then
cat > "$T/ovl.json" <<'EOF'
{"images": [{"tag": "t", "layers": [
  {"compression": "gzip", "entries": [
    {"path": "d", "type": "dir"},
    {"path": "d/lower", "content": "lower\n"},
    {"path": "gone", "content": "gone\n"}]},
  {"compression": "gzip", "entries": [
    {"path": "d", "type": "dir", "xattrs": {"trusted.overlay.opaque": "y"}},
    {"path": "r", "type": "dir", "xattrs": {"trusted.overlay.redirect": "/d"}},
    {"path": "f", "content": "f\n",
     "xattrs": {"trusted.overlay.metacopy": "", "user.kept": "1"}},
    {"path": "gone", "type": "whiteout"}]}]}]}
EOF
$MKOCI "$T/ovl.json" "$T/ovl" || fail "mkoci.py failed"
umoci unpack --image "$T/ovl:t" "$T/ovl-ref" >/dev/null 2>&1 || fail "umoci unpack failed"
ref=$T/ovl-ref/rootfs
[ -z "$(overlay_xattrs "$ref")" ] || fail "case 10: umoci kept trusted.overlay.* xattrs"

"$MKIMG" convert -q -o "$T/ovl.erofs" "oci:$T/ovl:t" 2>"$T/err" || fail "case 10: convert failed"
[ "$(grep -c '^mkimg: warning: dropped 3 trusted.overlay.\* xattrs' "$T/err")" -eq 1 ] &&
	[ "$(wc -l < "$T/err")" -eq 1 ] ||
	fail "case 10: expected one warning about 3 dropped xattrs, got: $(cat "$T/err")"
mkdir -p "$T/m"
"$MKIMG" mount "$T/ovl.erofs" "$T/m" || fail "case 10: mount failed"
got=$(overlay_xattrs "$T/m")
[ -f "$T/m/d/lower" ] || { "$MKIMG" umount "$T/m"; fail "case 10: d/lower hidden by an input opaque xattr"; }
getfattr -n user.kept "$T/m/f" >/dev/null 2>&1 || { "$MKIMG" umount "$T/m"; fail "case 10: user.kept lost"; }
# implicit root: umoci sets it to the time of unpacking
touch -d "@$(stat -c %Y "$T/m")" "$ref"
"$MKIMG" umount "$T/m"
[ -z "$got" ] || fail "case 10: flattened image has trusted.overlay.* xattrs: $got"
echo "ok: case 10: flattened image without trusted.overlay.* xattrs, one warning"
check_image "$T/ovl.erofs" "$ref"

"$MKIMG" convert -q --per-layer -o "$T/ovl-pl" "oci:$T/ovl:t" 2>"$T/err" ||
	fail "case 10: convert --per-layer failed"
[ "$(wc -l < "$T/err")" -eq 1 ] && grep -q '^mkimg: warning: dropped 3 ' "$T/err" ||
	fail "case 10: --per-layer: expected one warning, got: $(cat "$T/err")"
for l in 000 001; do
	"$MKIMG" mount "$T/ovl-pl/layer-$l.erofs" "$T/m" || fail "case 10: mount layer $l failed"
	overlay_xattrs "$T/m" > "$T/ovl-$l.x"
	"$MKIMG" umount "$T/m"
done
[ ! -s "$T/ovl-000.x" ] || fail "case 10: layer 0 has trusted.overlay.* xattrs: $(cat "$T/ovl-000.x")"
# layer 1: only the marker of the directory holding the whiteout (the root)
[ "$(cat "$T/ovl-001.x")" = ". trusted.overlay.origin " ] ||
	fail "case 10: layer 1's trusted.overlay.* xattrs are not mkimg's markers: $(cat "$T/ovl-001.x")"
lower=$T/ovl-pl/layer-000.erofs upper=$T/ovl-pl/layer-001.erofs
mkdir -p "$T/l0" "$T/l1" "$T/ov"
"$MKIMG" mount "$lower" "$T/l0" && "$MKIMG" mount "$upper" "$T/l1" || fail "case 10: mounts failed"
mount -t overlay overlay -o "lowerdir=$T/l1:$T/l0" "$T/ov" || fail "case 10: overlay mount failed"
python3 "$TOOLS/treecmp.py" --ignore-root-mtime "$ref" "$T/ov"; rc=$?
umount "$T/ov"; "$MKIMG" umount "$T/l1"; "$MKIMG" umount "$T/l0"
[ "$rc" -eq 0 ] || fail "case 10: the overlay of the layer images differs from umoci's rootfs"
for l in 000 001; do
	"$ORACLE/fsck.erofs" "$T/ovl-pl/layer-$l.erofs" >"$T/fsck.log" 2>&1 ||
		{ cat "$T/fsck.log"; fail "case 10: fsck.erofs failed on layer $l"; }
done
echo "ok: case 10: per-layer images hold only mkimg's markers; stacked they equal umoci's rootfs"

fi

# --- case 15 ------------------------------------------------------------------
if [[ $CASES == *" 15 "* ]]; then
mkdir -p "$T/ins/d"
echo hello > "$T/ins/d/f"
head -c 1000 /dev/urandom > "$T/ins/d/g"	# 1000 bytes: the layer ends mid-block
touch -d @1700000000 "$T/ins/d/f" "$T/ins/d/g" "$T/ins/d" "$T/ins"
umoci init --layout "$T/u15" && umoci new --image "$T/u15:t" &&
	umoci insert --image "$T/u15:t" "$T/ins" /opt/x >/dev/null || fail "case 15: umoci insert failed"
layer=$(python3 - "$T/u15" <<'EOF'
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
print(d + "/blobs/sha256/" + m["layers"][-1]["digest"][7:])
EOF
)
size=$(gzip -dc "$layer" | wc -c)
[ $((size % 512)) -ne 0 ] || fail "case 15: umoci's layer is block-aligned ($size bytes): no test"
echo "case 15: umoci insert wrote a $size-byte layer (no padding, no end-of-archive blocks)"
umoci unpack --image "$T/u15:t" "$T/u15-ref" >/dev/null 2>&1 || fail "case 15: umoci unpack failed"
"$MKIMG" convert -q -o "$T/u15.erofs" "oci:$T/u15:t" || fail "case 15: convert failed"
"$MKIMG" mount "$T/u15.erofs" "$T/m" || fail "case 15: mount failed"
# implicit directories (no entry in the layer): umoci uses the time of unpacking
for p in . opt; do
	touch -d "@$(stat -c %Y "$T/m/$p")" "$T/u15-ref/rootfs/$p"
done
"$MKIMG" umount "$T/m"
check_image "$T/u15.erofs" "$T/u15-ref/rootfs"
# a cut inside the last file's data is still refused
gzip -dc "$layer" | head -c $((size - 100)) > "$T/cut.tar"
"$MKIMG" convert -q -o "$T/cut.erofs" "$T/cut.tar" 2>"$T/err" && fail "case 15: a cut inside data was accepted"
grep -q '^mkimg: .*Truncated' "$T/err" || fail "case 15: unexpected error: $(cat "$T/err")"
[ ! -e "$T/cut.erofs" ] || fail "case 15: output left after an error"
echo "ok: case 15: umoci insert's layer converts and equals umoci unpack; a cut inside data is refused"

fi

# --- case 16 ------------------------------------------------------------------
if [[ $CASES == *" 16 "* ]]; then
# A layer big enough to take a while (random data: nothing to dedup), and a
# tree for mkimg build.
mkdir -p "$T/big" "$T/out16"
for i in $(seq 0 15); do head -c 32M /dev/urandom > "$T/big/f$i"; done
tar -C "$T/big" -cf "$T/big.tar" .
interrupt() {	# description, signal, mkimg arguments...
	local what=$1 sig=$2 rc=0 pid i
	shift 2
	rm -rf "$T/out16" && mkdir -p "$T/out16"
	# job control: the background job gets SIGINT (else it is ignored);
	# and a signal ignored where the test runs (nohup) is caught again
	set -m
	env --default-signal="$sig" "$MKIMG" "$@" 2>"$T/err16" >/dev/null &
	pid=$!
	set +m
	for i in $(seq 1 400); do
		[ -n "$(find "$T/out16" -name '.*.tmp-*' -print -quit)" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	[ -n "$(find "$T/out16" -name '.*.tmp-*' -print -quit)" ] ||
		{ wait "$pid"; fail "case 16: $what: no temporary file appeared (finished too fast?)"; }
	kill -"$sig" "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -ne 0 ] || fail "case 16: $what: exit 0 after SIG$sig"
	[ -z "$(ls -A "$T/out16")" ] || fail "case 16: $what: left behind: $(ls -A "$T/out16")"
	echo "ok: case 16: $what, SIG$sig: exit $rc, nothing left ($(head -c 200 "$T/err16"))"
}
for sig in INT TERM HUP; do
	interrupt "convert -o" "$sig" convert --no-fsync -o "$T/out16/img.erofs" "$T/big.tar"
	interrupt "convert --blob" "$sig" convert --no-fsync --blob "$T/out16/data.blob" \
		-o "$T/out16/img.erofs" "$T/big.tar"
	interrupt "build --blob" "$sig" build --no-fsync --blob "$T/out16/data.blob" \
		"$T/big" "$T/out16/img.erofs"
done
fi
# --- case 17 ------------------------------------------------------------------
if [[ $CASES == *" 17 "* ]]; then
cat > "$T/e17.json" <<'EOF'
{"images": [{"tag": "t", "layers": [
  {"compression": "none", "raw_b64": ""},
  {"compression": "none", "entries": [
    {"path": "d", "type": "dir"},
    {"path": "d/f", "content": "f\n"}]}]}]}
EOF
$MKOCI "$T/e17.json" "$T/e17" || fail "mkoci.py failed"
$MKOCI --export-layers "$T/e17.json" t "$T/e17l" >/dev/null || fail "mkoci.py --export-layers failed"
empty=$T/e17l/layer-000.tar base=$T/e17l/layer-001.tar
[ -f "$empty" ] && [ ! -s "$empty" ] || fail "case 17: $empty is not an empty file"
umoci unpack --image "$T/e17:t" "$T/e17-ref" >/dev/null 2>&1 || fail "case 17: umoci unpack failed"
"$MKIMG" convert -q -o "$T/oci17.erofs" "oci:$T/e17:t" || fail "case 17: an empty OCI layer is refused"
mkdir -p "$T/m"
"$MKIMG" mount "$T/oci17.erofs" "$T/m" || fail "case 17: mount failed"
# the implicit root (no entry in the layer): umoci uses the time of unpacking
touch -d "@$(stat -c %Y "$T/m")" "$T/e17-ref/rootfs"
"$MKIMG" umount "$T/m"
check_image "$T/oci17.erofs" "$T/e17-ref/rootfs"
"$MKIMG" convert -q -o "$T/base17.erofs" "$base" || fail "case 17: convert of the base layer failed"
"$MKIMG" convert -q -o "$T/empty17.erofs" "$empty" "$base" ||
	fail "case 17: an empty layer file is refused"
cmp "$T/base17.erofs" "$T/empty17.erofs" || fail "case 17: an empty layer file changed the image"
# zstd with a skippable frame (magic 0x184D2A50..5F, LE size, payload) first
{ printf '\x5a\x2a\x4d\x18\x05\x00\x00\x00hello'; zstd -q -c "$base"; } > "$T/skip17.tar.zst"
"$MKIMG" convert -q -o "$T/skip17.erofs" "$T/skip17.tar.zst" ||
	fail "case 17: a zstd layer file starting with a skippable frame is refused"
cmp "$T/base17.erofs" "$T/skip17.erofs" || fail "case 17: the skippable frame changed the image"
"$MKIMG" convert -q --store "$T/st17" --name e "$empty" "$T/skip17.tar.zst" ||
	fail "case 17: the store refused the empty and the skippable-frame layers"
"$MKIMG" fsck --store "$T/st17" --full >/dev/null || fail "case 17: fsck --full of the store"
echo "ok: case 17: empty layers (file and OCI) and a zstd skippable frame convert as the plain tar"
fi
echo "PASS: convert-input"
