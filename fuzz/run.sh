#!/bin/sh
# Builds the oci/ libFuzzer targets with clang (no autotools needed) into
# /var/tmp/mkimg-fuzz and runs each for SECONDS (default 30) on the seed
# corpora in fuzz/corpus/<target>/ (new inputs go to a scratch corpus).
# Usage: fuzz/run.sh [SECONDS]
set -eu
secs=${1:-30}
src=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-/var/tmp/mkimg-fuzz}
mkdir -p "$out"
CC=${CC:-clang}
CFLAGS="-std=gnu11 -g -O1 -D_GNU_SOURCE -I$src/include -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
LIBS="-larchive -lisal -lzstd -lcrypto -ljson-c"
targets="fuzz_oci_index fuzz_tar_entry fuzz_record"
for t in $targets; do
	$CC $CFLAGS -o "$out/$t" "$src/fuzz/$t.c" "$src/oci/layout.c" "$src/oci/stream.c" \
		"$src/oci/tar.c" "$src/oci/record.c" "$src/util/error.c" $LIBS
done
rc=0
for t in $targets; do
	mkdir -p "$out/corpus-$t"
	echo "== $t: ${secs}s"
	"$out/$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
		-artifact_prefix="$out/$t-" "$out/corpus-$t" "$src/fuzz/corpus/$t" \
		2>"$out/$t.log" || { rc=$?; echo "FAIL: $t (see $out/$t.log)"; tail -40 "$out/$t.log"; }
	tail -n 3 "$out/$t.log"
done
exit $rc
