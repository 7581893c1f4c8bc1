#!/usr/bin/env bash
# The tree comparison the other tests rely on must see every kind of
# difference: content, a zero byte made non-zero in a hole, mode, owner,
# mtime nanoseconds, symlink target, rdev, xattrs, hard-link groups.
# Needs no root; owner and rdev changes are only made (and checked) as root.
. "$(dirname "$0")/lib.sh"

python3 "$TOOLS/gentree.py" --seed 11 --small "$T/a"
# restores B's mtimes from A (mutations touch parent directories), except
# for the entry named in $1
restore_mtimes() {
	python3 - "$T/a" "$T/b" "${1:-}" <<'PY'
import os, sys
a, b, keep = sys.argv[1:4]
for dp, dns, fns in os.walk(b):
    for n in dns + fns + (["."] if dp == b else []):
        pb = os.path.normpath(os.path.join(dp, n))
        rel = os.path.relpath(pb, b)
        pa = os.path.join(a, rel)
        if rel == os.path.normpath(keep) or not os.path.lexists(pa):
            continue
        st = os.lstat(pa)
        os.utime(pb, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
PY
}
cmp_expect_diff() {	# description, expected word in the report, mutation command
	local what=$1 word=$2
	shift 2
	rm -rf "$T/b"
	cp -a "$T/a" "$T/b"
	python3 "$TOOLS/treecmp.py" "$T/a" "$T/b" >/dev/null || fail "copy differs before: $what"
	"$@"
	[ "$what" = "mtime nsec" ] && restore_mtimes "$f" || restore_mtimes
	if python3 "$TOOLS/treecmp.py" "$T/a" "$T/b" >"$T/out"; then
		fail "treecmp missed: $what"
	fi
	grep -q "$word" "$T/out" || fail "treecmp did not report $word for $what: $(cat "$T/out")"
	echo "ok: detects $what: $(grep "$word" "$T/out" | head -1 | cut -c1-150)"
}
f=$(cd "$T/a" && find . -type f -size +1k -name 'f*' | sort | head -1)
cmp_expect_diff "content" "content" sh -c "printf X | dd of='$T/b/$f' bs=1 seek=100 conv=notrunc status=none"
cmp_expect_diff "mode" "mode" chmod 0723 "$T/b/$f"
is_root && cmp_expect_diff "owner" "owner" chown 4242:4343 "$T/b/$f"
cmp_expect_diff "mtime nsec" "mtime_ns" touch -h -d "@1700000000.000000001" "$T/b/$f"
cmp_expect_diff "xattr value" "xattrs" setfattr -n user.treecmp -v 1 "$T/b/$f"
cmp_expect_diff "missing file" "only in A" rm "$T/b/$f"
s=$(cd "$T/a" && find . -type l | sort | head -1)
cmp_expect_diff "symlink target" "symlink target" sh -c "rm '$T/b/$s' && ln -s elsewhere '$T/b/$s'"
cmp_expect_diff "hard-link group" "hard-link group" sh -c "cp -a '$T/b/$f' '$T/b/$f.tmp' && mv '$T/b/$f.tmp' '$T/b/$f' && ln '$T/b/$f' '$T/b/extra' && cp -a '$T/b/$f' '$T/a/extra'"
is_root && cmp_expect_diff "rdev" "rdev" sh -c "mknod '$T/b/newdev' c 1 3 && mknod '$T/a/newdev' c 1 5"
rm -f "$T/a/newdev" "$T/a/extra"
truncate -s 1M "$T/a/sparse"
cmp_expect_diff "byte in a hole" "content" sh -c "printf Y | dd of='$T/b/sparse' bs=1 seek=700000 conv=notrunc status=none"
is_root || echo "owner and rdev changes need root: not checked"
echo "PASS: treecmp"
