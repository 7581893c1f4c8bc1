#!/usr/bin/env bash
# Large inputs: a directory of 50 000 entries, a sparse file over 4 GiB
# (extended inode, 64-bit size, holes), and a million-entry synthetic tree
# built through the library (memory grows with files, not data).
. "$(dirname "$0")/lib.sh"
require_root
require_oracle

src=$T/big
python3 "$TOOLS/gentree.py" --seed 7 --big "$src"
"$MKIMG" build -q "$src" "$T/big.erofs"
size=$(stat -c %s "$T/big.erofs")
[ "$size" -lt $((64 << 20)) ] || fail "sparse data was stored: image is $size bytes"
# fsck.erofs 1.9.4 cannot --extract a hole past 2 GiB (int lseek result):
# fsck and the kernel mount still check these images
NO_EXTRACT=1 check_image "$T/big.erofs" "$src"
"$MKIMG" build -q --blob "$T/big.blob" "$src" "$T/bigb.erofs"
NO_EXTRACT=1 check_image "$T/bigb.erofs" "$src" "$T/big.blob"
rm -rf "$src" "$T"/*.erofs "$T"/*.blob

out=$("$SYNTHIMG" 1000000 "$T/m.erofs")
echo "synthimg: $out"
"$ORACLE/fsck.erofs" "$T/m.erofs" >/dev/null || fail "fsck.erofs failed on the million-entry image"
mkdir -p "$T/mm"
"$MKIMG" mount "$T/m.erofs" "$T/mm"
n=$(find "$T/mm" | wc -l)
"$MKIMG" umount "$T/mm"
# 1 000 000 entries + 1000 directories + the root
[ "$n" = 1001001 ] || fail "mounted tree has $n entries, expected 1001001"
rss=$(echo "$out" | sed -n 's/.*"peak_rss_kib":\([0-9]*\).*/\1/p')
[ "$rss" -lt $((1024 * 1024)) ] || fail "peak RSS $rss KiB for a million entries"
echo "PASS: build-big"
