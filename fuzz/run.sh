#!/bin/sh
# Builds the libFuzzer targets with the automake build (clang,
# ./configure --enable-fuzzing, in a copy of the sources in $FUZZ_OUT/src,
# default /var/tmp/mkimg-fuzz) and runs each for SECONDS (default 30) on its seed
# corpus fuzz/corpus/<target>/ (new inputs go to a scratch corpus; crashes
# to $FUZZ_OUT/<target>-crash-*). Bounded: SECONDS per target.
# Usage: fuzz/run.sh [SECONDS [TARGET...]]
set -eu
secs=${1:-30}
[ $# -gt 0 ] && shift
src=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-/var/tmp/mkimg-fuzz}
all="fuzz_oci_index fuzz_tar_entry fuzz_record fuzz_stream fuzz_apply fuzz_encode fuzz_archive fuzz_tag fuzz_artifact fuzz_registry"
targets=${*:-$all}
# The build needs a source tree that is not configured in place: a copy of
# the checkout's files (mtimes kept, so make only rebuilds what changed).
mkdir -p "$out/src"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -)
else
	(cd "$src" && tar --exclude=./.git -cf - .)
fi | tar -C "$out/src" -xf -
b=$out/src
if [ ! -x "$b/configure" ] || [ "$b/configure.ac" -nt "$b/configure" ] ||
   [ "$b/Makefile.am" -nt "$b/configure" ]; then
	(cd "$b" && autoreconf -fi >/dev/null 2>&1)
fi
if [ ! -f "$b/Makefile" ] || [ "$b/configure" -nt "$b/Makefile" ]; then
	(cd "$b" && ./configure -q --enable-fuzzing CC="${CC:-clang}" CFLAGS="-O1")
fi
make -s -C "$b" -j"${FUZZ_JOBS:-2}" $(for t in $targets; do printf 'fuzz/%s ' "$t"; done)
rc=0
for t in $targets; do
	mkdir -p "$out/corpus-$t"
	echo "== $t: ${secs}s"
	"$b/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
		-timeout=25 -artifact_prefix="$out/$t-" "$out/corpus-$t" "$src/fuzz/corpus/$t" \
		2>"$out/$t.log" || { rc=$?; echo "FAIL: $t (see $out/$t.log)"; tail -40 "$out/$t.log"; }
	tail -n 3 "$out/$t.log"
done
exit $rc
