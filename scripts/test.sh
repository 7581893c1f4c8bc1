#!/usr/bin/env bash
# Installs what is needed, builds mkimg and runs the whole test suite:
# cmocka unit tests, the fuzz targets' corpora replayed, end-to-end tests
# (fsck.erofs 1.9, kernel mounts, tree comparison), the VM test (make
# check-vm), and each libFuzzer target for a bounded time.
# Usage: scripts/test.sh            (as root on Debian 12)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null
fi
[ -f Makefile ] && [ config.status -nt configure ] || ./configure -q --enable-werror
make -s -j"$(nproc)"
if ! make -s -j"$(nproc)" check; then
	for f in tests/unit/*.log tests/e2e/*.log tests/containerd/*.log fuzz/*.log; do
		[ -f "$f" ] || continue
		if ! grep -q '^:test-result: \(PASS\|SKIP\)' "${f%.log}.trs" 2>/dev/null; then
			echo "==== $f"; tail -n 60 "$f"
		fi
	done
	exit 1
fi
# A summary line per test (automake's .trs files), then the totals.
pass=0 fail=0 skip=0
for t in $(find tests fuzz -name '*.trs' | sort); do
	r=$(sed -n 's/^:test-result: //p' "$t")
	echo "  $r ${t%.trs}"
	case $r in PASS) pass=$((pass+1));; SKIP) skip=$((skip+1));; *) fail=$((fail+1));; esac
done
# The VM test (kernel download, qemu), outside make check.
vm=$(make -s check-vm 2>&1 | tee tests/vm/run.log | tail -n 1) || true
case $vm in
PASS:*) pass=$((pass+1));; SKIP:*) skip=$((skip+1));;
*) fail=$((fail+1)); echo "==== tests/vm/run.log"; tail -n 60 tests/vm/run.log;;
esac
echo "  ${vm%%:*} tests/vm/run.sh"
# The tier without root: the end-to-end scripts that need none, run as
# nobody, so that no root-only step creeps into them (as root they also
# mount, above).
noroot=(treecmp build store-trust convert-hostile man cli analyze)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if [ "$(id -u)" = 0 ] && as_nobody test -r tests/e2e/lib.sh -a -x mkimg/mkimg; then
	nr=$(mktemp -d /var/tmp/mkimg-noroot.XXXXXX)
	chmod 1777 "$nr"
	for s in "${noroot[@]}"; do
		if as_nobody env TMPDIR="$nr" top_srcdir="$PWD" top_builddir="$PWD" \
			bash "tests/e2e/$s.sh" >"$nr/$s.log" 2>&1; then
			pass=$((pass+1)); echo "  PASS tests/e2e/$s.sh (as nobody)"
		else
			fail=$((fail+1)); echo "  FAIL tests/e2e/$s.sh (as nobody)"; tail -n 60 "$nr/$s.log"
		fi
	done
	rm -rf "$nr"
else
	skip=$((skip+${#noroot[@]}))
	echo "  SKIP the tier without root (not root, or the checkout is not readable by nobody)"
fi
# Second tier: the unit tests, the fuzz corpora and a representative part of
# the end-to-end tests built with AddressSanitizer and UndefinedBehaviorSanitizer (clang, any
# finding aborts), out of tree (VPATH) from a clean copy of the sources, so
# the in-tree build above stays as it is. MKIMG_NO_SANITIZE=1 skips it.
if [ "${MKIMG_NO_SANITIZE:-0}" != 1 ]; then
	san_start=$SECONDS
	rm -rf build-san && mkdir -p build-san/src build-san/build
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard |
			grep -zv '^build-san/' | tar --null -T - -cf - | tar -C build-san/src -xf -
		(cd build-san/src && autoreconf -fi >/dev/null)
	else
		tar --exclude=./build-san --exclude=./.git -cf - . | tar -C build-san/src -xf -
		(cd build-san/src && { [ ! -f Makefile ] || make -s distclean; })
	fi
	san_flags='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all'
	san_tests='tests/unit/test_layout tests/unit/test_sink tests/unit/test_oci tests/unit/test_util tests/unit/test_convert
		fuzz/fuzz_oci_index fuzz/fuzz_tar_entry fuzz/fuzz_record fuzz/fuzz_stream
		fuzz/fuzz_apply fuzz/fuzz_encode fuzz/fuzz_archive
		tests/unit/test_store tests/unit/test_registry tests/unit/test_determinism
		tests/unit/test_fault tests/unit/test_chain tests/unit/test_archive tests/unit/test_analyze
		tests/unit/test_progress
		tests/e2e/build.sh tests/e2e/convert-hostile.sh tests/e2e/convert-input.sh tests/e2e/analyze.sh'
	(
		cd build-san/build
		../src/configure -q --enable-werror CC=clang CFLAGS="$san_flags" \
			LDFLAGS='-fsanitize=address,undefined'
		make -s -j"$(nproc)"
		export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
		if ! make -s -j"$(nproc)" check TESTS="$(echo $san_tests)"; then
			for t in $san_tests; do
				grep -q '^:test-result: PASS\|^:test-result: SKIP' "$t.trs" 2>/dev/null ||
					{ echo "==== sanitizers: $t.log"; tail -n 60 "$t.log"; }
			done
			exit 1
		fi
		for t in $san_tests; do
			echo "  sanitizers: $(sed -n 's/^:test-result: //p' "$t.trs") $t"
		done
	) || { echo "sanitizer tier failed"; exit 1; }
	echo "sanitizer tier (ASan+UBSan, out of tree): $((SECONDS - san_start)) s"
fi
if [ -x fuzz/run.sh ]; then
	fuzz/run.sh "${MKIMG_FUZZ_SECONDS:-30}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
