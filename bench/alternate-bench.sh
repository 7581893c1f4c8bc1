#!/usr/bin/env bash
# bench/alternate-bench.sh: a host pulling the public corpus from a shared OCI
# layout (as a cache many hosts mount), two ways, each into an empty store:
#   copy        `mkimg pull oci:LAYOUT:TAG` of each image: the blobs copied
#   alternate   the same after `mkimg alternate add LAYOUT`: the blobs hashed
#               where they lie and linked
# The layout is made first: the corpus converted into a store, each image
# pushed into it. Per way, with a cold page cache: wall time, CPU (user+sys)
# and peak RSS of the 10 pulls, and the bytes the store takes afterwards; the
# alternate's store is then checked with fsck --full.
#
# Usage: bench/alternate-bench.sh   (as root: it drops the page cache)
# Environment: CORPUS_OUT (default /var/tmp/mkimg-corpus), BENCH_OUT (default
# /var/tmp/mkimg-alternate-bench), MKIMG (default ./mkimg/mkimg).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
oci=${CORPUS_OUT:-/var/tmp/mkimg-corpus}/oci
out=${BENCH_OUT:-/var/tmp/mkimg-alternate-bench}
mkimg=${MKIMG:-$top/mkimg/mkimg}
[ -d "$oci" ] || { echo "alternate-bench: no corpus in $oci (run make-corpus.sh)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "alternate-bench: needs root (drop_caches)" >&2; exit 1; }
mapfile -t imgs < <(ls "$oci")

rm -rf "$out"
mkdir -p "$out"
echo "making the shared layout (${#imgs[@]} images)..." >&2
for i in "${imgs[@]}"; do
	"$mkimg" convert -q --no-fsync --store "$out/src" --name "$i" "oci:$oci/$i"
	"$mkimg" push -q --no-fsync --store "$out/src" "$i" "oci:$out/shared:$i"
done

pulls() { # STORE: the 10 pulls
	local i
	for i in "${imgs[@]}"; do
		"$mkimg" pull -q --store "$1" "oci:$out/shared:$i"
	done
}
echo "| way | wall s | CPU s | peak RSS MiB | store MiB |"
echo "| --- | ---: | ---: | ---: | ---: |"
for way in copy alternate; do
	s=$out/$way
	[ "$way" = copy ] || "$mkimg" alternate --store "$s" add "$out/shared"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	/usr/bin/time -f "%e %U %S %M" -o "$out/$way.time" bash -c "$(declare -f pulls); $(declare -p imgs out mkimg); pulls '$s'"
	read -r wall user sys rss <"$out/$way.time"
	printf '| %s | %.2f | %.2f | %.1f | %s |\n' "$way" "$wall" "$(echo "$user + $sys" | bc)" \
		"$(echo "$rss / 1024" | bc -l)" "$(du -sm "$s" | cut -f1)"
done
"$mkimg" fsck --full -q --store "$out/alternate" >/dev/null ||
	{ echo "alternate-bench: fsck --full of the alternate's store failed" >&2; exit 1; }
echo "shared layout: $(du -sm "$out/shared" | cut -f1) MiB; fsck --full of the alternate's store passes"
