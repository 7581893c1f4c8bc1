#!/usr/bin/env bash
# Benchmark (not a test): converts gzip layers one by one with
# `mkimg convert --per-layer` and with `mkfs.erofs --tar=f --ungzip --aufs`
# (erofs-utils 1.9, the containerd way) and prints throughput in MB/s of
# uncompressed tar, CPU time and peak RSS of each, summed over the layers.
# Usage: bench/convert-bench.sh [LAYER.tar.gz...]
#   default: every distinct layer blob of the public corpus
#   ($CORPUS_OUT/oci, built by shared/corpus/make-corpus.sh)
# Page cache stays warm (layers are read once before timing); neither tool
# fsyncs (mkimg runs with --no-fsync for a like-for-like comparison), but
# each run starts after a sync (not timed), so that neither pays for the
# writeback of the run before it. The last line gives mkimg's throughput
# over mkfs.erofs's (the ratio of their wall times).
set -euo pipefail
cd "$(dirname "$0")/.."
mkimg=${MKIMG:-./mkimg/mkimg}
mkfs=${MKFS_EROFS:-/opt/mkimg-oracle/bin/mkfs.erofs}
out=${BENCH_OUT:-/var/tmp/mkimg-bench-convert}
corpus=${CORPUS_OUT:-/var/tmp/mkimg-corpus}/oci
layers=("$@")
if [ ${#layers[@]} -eq 0 ]; then
	mapfile -t layers < <(python3 - "$corpus" <<'PY'
import json, os, sys
root = sys.argv[1]
seen = set()
for img in sorted(os.listdir(root)):
    idx = json.load(open(os.path.join(root, img, "index.json")))
    for m in idx["manifests"]:
        man = json.load(open(os.path.join(root, img, "blobs", "sha256", m["digest"][7:])))
        for l in man["layers"]:
            if l["digest"] not in seen and l["mediaType"].endswith("gzip"):
                seen.add(l["digest"])
                print(os.path.join(root, img, "blobs", "sha256", l["digest"][7:]))
PY
)
fi
[ ${#layers[@]} -gt 0 ] || { echo "no layers (build the corpus first)"; exit 1; }
rm -rf "$out"; mkdir -p "$out"
tar_bytes=0
for l in "${layers[@]}"; do
	cat "$l" > /dev/null
	tar_bytes=$((tar_bytes + $(gzip -dc < "$l" | wc -c)))
done
run() {	# name, then a command with @L@ (layer) and @O@ (output); sets $wall
	local name=$1 cpu=0 rss=0 i=0
	wall=0
	shift
	for l in "${layers[@]}"; do
		i=$((i + 1))
		rm -rf "$out/o"
		sync
		local cmd=("${@//@L@/$l}")
		cmd=("${cmd[@]//@O@/$out/o}")
		/usr/bin/time -f "%e %U %S %M" -o "$out/t" "${cmd[@]}" >/dev/null 2>"$out/err" ||
			{ echo "$name failed on $l:"; cat "$out/err"; exit 1; }
		read -r w u s m < "$out/t"
		wall=$(echo "$wall + $w" | bc); cpu=$(echo "$cpu + $u + $s" | bc)
		[ "$m" -gt "$rss" ] && rss=$m
	done
	printf "%-40s %8.2f %8.2f %9.1f %10.1f\n" "$name" "$wall" "$cpu" \
		"$(echo "$tar_bytes / 1000000 / $wall" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}
echo "${#layers[@]} gzip layers, $((tar_bytes / 1048576)) MiB of tar"
printf "%-40s %8s %8s %9s %10s\n" "tool" "wall s" "cpu s" "tar MB/s" "peak MiB"
run "mkimg convert --per-layer" "$mkimg" convert -q --no-fsync --per-layer -o @O@ @L@
mkimg_wall=$wall
run "mkfs.erofs --tar=f --ungzip --aufs" "$mkfs" --quiet --tar=f --ungzip --aufs -Enoinline_data \
	-b4096 @O@ @L@
printf "mkimg throughput: %.2fx that of mkfs.erofs\n" "$(echo "$wall / $mkimg_wall" | bc -l)"
