#!/usr/bin/env bash
# Bad input to mkimg build: a clear one-line error, a non-zero exit, and
# no image (or temporary file) left behind.
. "$(dirname "$0")/lib.sh"
require_root

expect_fail() {	# description, output image, command...
	local what=$1 out=$2 rc=0
	shift 2
	timeout 60 "$@" 2>"$T/err" >/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "$what: exit 0"
	[ "$rc" -lt 124 ] || fail "$what: exit $rc (crash or timeout)"
	[ "$(wc -l < "$T/err")" -eq 1 ] && grep -q '^mkimg: ' "$T/err" ||
		fail "$what: expected one 'mkimg:' line, got: $(cat "$T/err")"
	[ ! -e "$out" ] || fail "$what: $out was left behind"
	ls -a "$(dirname "$out")" 2>/dev/null | grep -q '\.tmp-' && fail "$what: temporary file left behind"
	echo "ok: $what: $(cat "$T/err")"
}

mkdir -p "$T/out" "$T/src/sub"
echo data > "$T/src/sub/f"
expect_fail "missing source" "$T/out/a.erofs" "$MKIMG" build "$T/nope" "$T/out/a.erofs"
expect_fail "source is a file" "$T/out/a.erofs" "$MKIMG" build "$T/src/sub/f" "$T/out/a.erofs"
expect_fail "output directory missing" "$T/nodir/a.erofs" "$MKIMG" build "$T/src" "$T/nodir/a.erofs"

# An unreadable file (as an unprivileged user) fails the build.
chmod 0711 "$T"
chmod 0755 "$T/src" "$T/src/sub"
chmod 0777 "$T/out"
echo secret > "$T/src/sub/secret"
chmod 0600 "$T/src/sub/secret"
expect_fail "unreadable file" "$T/out/a.erofs" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$MKIMG" build "$T/src" "$T/out/a.erofs"
grep -q 'src/sub/secret' "$T/err" || fail "the error does not name the unreadable file"
rm -f "$T/src/sub/secret"

# An unreadable directory.
mkdir -m 0700 "$T/src/private"
expect_fail "unreadable directory" "$T/out/a.erofs" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$MKIMG" build "$T/src" "$T/out/a.erofs"
rmdir "$T/src/private"

# Invalid options.
expect_fail "bad block size" "$T/out/a.erofs" "$MKIMG" build -b 3000 "$T/src" "$T/out/a.erofs"
expect_fail "bad uuid" "$T/out/a.erofs" "$MKIMG" build -U xyz "$T/src" "$T/out/a.erofs"

# Out of space: a 1 MiB tmpfs cannot hold 4 MiB of data.
mkdir -p "$T/small"
mount -t tmpfs -o size=1m tmpfs "$T/small"
head -c 4000000 /dev/urandom > "$T/src/big"
expect_fail "no space left" "$T/small/a.erofs" "$MKIMG" build "$T/src" "$T/small/a.erofs"
umount "$T/small"
echo "PASS: build-errors"
