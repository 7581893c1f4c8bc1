#!/usr/bin/env bash
# Benchmark (not a test): builds an image of a large real tree with
# `mkimg build` and with mkfs.erofs 1.9 on the same tree, and prints wall
# time, CPU time and peak RSS of both, plus image sizes.
# Usage: bench/build-bench.sh [TREE] [OUTDIR]     (default TREE=/usr)
# Page cache is dropped before each run so both read the tree cold; set
# BENCH_WARM=1 to keep it warm (then each tool runs once first to warm up).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:-/usr}
out=${2:-/var/tmp/mkimg-bench}
mkimg=${MKIMG:-./mkimg/mkimg}
mkfs=${MKFS_EROFS:-/opt/mkimg-oracle/bin/mkfs.erofs}
[ -x "$mkimg" ] || { echo "build mkimg first (scripts/test.sh or make)"; exit 1; }
[ -x "$mkfs" ] || tests/setup/erofs-utils.sh
mkdir -p "$out"
rm -f "$out"/*.erofs "$out"/*.blob

run() {	# name, command...
	local name=$1; shift
	if [ -z "${BENCH_WARM:-}" ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
	/usr/bin/time -f "%e %U %S %M" -o "$out/$name.time" "$@" >/dev/null 2>"$out/$name.err" || {
		echo "$name failed:"; cat "$out/$name.err"; exit 1; }
	read -r wall user sys rss < "$out/$name.time"
	printf "%-34s %8.2f %8.2f %10.1f\n" "$name" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc -l)"
}

files=$(find "$tree" -xdev -type f | wc -l)
bytes=$(du -sb --apparent-size -x "$tree" | cut -f1)
echo "tree: $tree, $files regular files, $((bytes / 1048576)) MiB (apparent)"
if [ -n "${BENCH_WARM:-}" ]; then
	"$mkimg" build -q --no-fsync "$tree" "$out/warm.erofs"; rm -f "$out/warm.erofs"
fi
printf "%-34s %8s %8s %10s\n" "tool" "wall s" "cpu s" "peak MiB"
run "mkimg build (self-contained)" "$mkimg" build -q "$tree" "$out/mkimg.erofs"
run "mkfs.erofs 1.9" "$mkfs" --quiet "$out/mkfs.erofs" "$tree"
run "mkimg build --blob" "$mkimg" build -q --blob "$out/mkimg.blob" "$tree" "$out/mkimg-blob.erofs"
run "mkfs.erofs --blobdev --chunksize=1M" "$mkfs" --quiet --blobdev="$out/mkfs.blob" \
	--chunksize=1048576 "$out/mkfs-blob.erofs" "$tree"
echo
echo "sizes (bytes):"
ls -l "$out"/*.erofs "$out"/*.blob | awk '{printf "  %-40s %14s\n", $9, $5}'
