#!/usr/bin/env bash
# The main job on a sample: installs what is needed, builds mkimg, builds a
# sample tree into an EROFS image whose file data lives in a separate blob
# (chunk-based inodes, fingerprint xattrs), checks it with fsck.erofs 1.9,
# mounts it file-backed with its blob as device=, and prints what was stored
# and what was shared.
# Usage: scripts/demo.sh [SOURCE_DIR]     (as root; default: /usr/share)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-/usr/share}
scripts/install-deps.sh
if [ ! -x configure ] || [ configure.ac -nt configure ]; then autoreconf -fi >/dev/null; fi
[ -f Makefile ] || ./configure -q
make -s -j"$(nproc)" mkimg/mkimg
out=${DEMO_OUT:-/var/tmp/mkimg-demo}
mkdir -p "$out"
mnt="$out/mnt"
mountpoint -q "$mnt" 2>/dev/null && ./mkimg/mkimg umount "$mnt"
rm -rf "$out"/*
mkdir -p "$mnt"

echo "== building $src into $out/demo.erofs + $out/demo.blob"
./mkimg/mkimg build --blob "$out/demo.blob" "$src" "$out/demo.erofs"
echo "== fsck.erofs 1.9 with the blob as its device"
/opt/mkimg-oracle/bin/fsck.erofs --device="$out/demo.blob" "$out/demo.erofs"
echo "== mounting (file-backed, device=$out/demo.blob)"
./mkimg/mkimg mount "$out/demo.erofs" "$mnt" --device "$out/demo.blob"
echo "== comparing the mounted tree with $src"
python3 tests/tools/treecmp.py "$src" "$mnt"
echo "== what was stored and shared"
du -sb --apparent-size "$src" | awk '{printf "source tree:          %8.1f MiB\n", $1/1048576}'
stat -c '%s' "$out/demo.blob" | awk '{printf "blob (file data):     %8.1f MiB\n", $1/1048576}'
stat -c '%s' "$out/demo.erofs" | awk '{printf "metadata image:       %8.1f MiB\n", $1/1048576}'
./mkimg/mkimg build --json --no-fsync --blob "$out/again.blob" "$src" "$out/again.erofs" |
	python3 -c 'import json,sys; j=json.load(sys.stdin); print("files with identical content stored once: %d (%.1f MiB saved)" % (j["dedup_files"], j["dedup_bytes"]/1048576)); print("all-zero ranges stored as holes:      %.1f MiB" % (j["hole_bytes"]/1048576)); print("files with a page-cache fingerprint:  %d" % j["fingerprints"])'
cmp -s "$out/demo.erofs" "$out/again.erofs" && echo "rebuilt image is byte-identical (deterministic)"
./mkimg/mkimg umount "$mnt"
