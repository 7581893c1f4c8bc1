#!/usr/bin/env bash
# Installs what is needed, builds mkimg and runs the whole test suite:
# cmocka unit tests, end-to-end tests (fsck.erofs 1.9, kernel mounts, tree
# comparison), and each libFuzzer target for a bounded time.
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
	for f in tests/unit/*.log tests/e2e/*.log; do
		[ -f "$f" ] || continue
		if ! grep -q '^PASS\|^SKIP' "${f%.log}.trs" 2>/dev/null; then
			echo "==== $f"; tail -n 60 "$f"
		fi
	done
	exit 1
fi
# A summary line per test (automake's .trs files), then the totals.
pass=0 fail=0 skip=0
for t in $(find tests -name '*.trs' | sort); do
	r=$(sed -n 's/^:test-result: //p' "$t")
	echo "  $r ${t%.trs}"
	case $r in PASS) pass=$((pass+1));; SKIP) skip=$((skip+1));; *) fail=$((fail+1));; esac
done
if [ -x fuzz/run.sh ]; then
	fuzz/run.sh "${MKIMG_FUZZ_SECONDS:-30}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
