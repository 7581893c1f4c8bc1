# Shared helpers for the end-to-end tests (sourced).
#   require_root, require_oracle      exit 77 (skip) when missing
#   is_root                           true when running as root
#   fail MSG                          print and exit 1
#   expect_one_line RC PATTERN CMD... mkimg CMD exits RC, prints nothing on
#                                     stdout and one stderr line matching PATTERN
#   check_image IMG SRC [BLOB...]     fsck.erofs 1.9 (+ --extract compared with
#                                     SRC), and as root a kernel mount compared
#                                     with SRC
#   ab_trees                          small trees $T/a and $T/b (b shares all
#                                     of a's files but one), as $T/a.tar and
#                                     $T/b.tar, extracted in $T/ref-a, $T/ref-b
# Two tiers: scripts that only need fsck.erofs, dump.erofs and treecmp.py run
# without root (check_image leaves out the mount); scripts about mounts,
# devices or ownership call require_root and skip without it.
# Variables: MKIMG, ORACLE, TOOLS, SYNTHIMG, T (scratch dir, removed at exit)
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
MKIMG=${MKIMG:-$top_builddir/mkimg/mkimg}
SYNTHIMG=${SYNTHIMG:-$top_builddir/tests/tools/synthimg}
ORACLE=${MKIMG_ORACLE:-/opt/mkimg-oracle/bin}
TOOLS=$top_srcdir/tests/tools

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

expect_one_line() {
	local want=$1 pat=$2 rc=0
	shift 2
	"$MKIMG" "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] || fail "mkimg $*: exit $rc, want $want"
	[ ! -s "$T/out" ] || fail "mkimg $*: wrote to stdout: $(cat "$T/out")"
	[ "$(wc -l <"$T/err")" = 1 ] || fail "mkimg $*: not one line on stderr: $(cat "$T/err")"
	grep -qE -- "$pat" "$T/err" || fail "mkimg $*: '$(cat "$T/err")' does not match '$pat'"
}

is_root() {
	[ "$(id -u)" = 0 ]
}

require_root() {
	is_root || { echo "SKIP: needs root"; exit 77; }
}

require_oracle() {
	"$ORACLE/fsck.erofs" -V 2>/dev/null | grep -q ' 1\.9' ||
		{ echo "SKIP: fsck.erofs 1.9 not found in $ORACLE (tests/setup/erofs-utils.sh)"; exit 77; }
}

T=$(mktemp -d /var/tmp/mkimg-e2e.XXXXXX)
cleanup() {
	local m
	# unmount anything still mounted below $T, deepest first
	for m in $(awk -v t="$T" '$2 ~ "^"t {print $2}' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

_mnt_n=0
# check_image IMG SRC [BLOB...]
check_image() {
	local img=$1 src=$2
	shift 2
	local devs=() mdevs=() b
	for b in "$@"; do
		devs+=("--device=$b")
		mdevs+=(--device "$b")
	done
	# images with fingerprints: fsck.erofs recomputes every file's sha256.
	# (Not combined with --extract: fsck.erofs 1.9.4 then truncates files
	# that start with a hole, with mkfs.erofs's own images too.)
	local digest=()
	if "$ORACLE/dump.erofs" -s "$img" 2>/dev/null | grep -q ishare_xattrs; then
		digest=(--xattr-inode-digest)
	fi
	"$ORACLE/fsck.erofs" "${devs[@]}" "${digest[@]}" "$img" >"$T/fsck.log" 2>&1 ||
		{ cat "$T/fsck.log"; fail "fsck.erofs failed on $img"; }
	# fsck.erofs --extract restores data, modes, times, ownership and xattrs.
	# NO_EXTRACT=1 skips it: fsck.erofs 1.9.4 keeps lseek()'s result in an
	# int, so extracting a file with a hole past 2 GiB fails.
	if [ "${NO_EXTRACT:-0}" != 1 ]; then
		rm -rf "$T/extract"
		# (root restores owners and exact modes by default; a user asks
		# for the modes)
		local perms=()
		is_root || perms=(--preserve-perms)
		"$ORACLE/fsck.erofs" "${devs[@]}" --extract="$T/extract" --xattrs "${perms[@]}" "$img" \
			>"$T/fsck.log" 2>&1 ||
			{ cat "$T/fsck.log"; fail "fsck.erofs --extract failed on $img"; }
		python3 "$TOOLS/treecmp.py" --extracted "$src" "$T/extract" ||
			fail "fsck.erofs --extract of $img differs from $src"
		rm -rf "$T/extract"
	fi
	local how="fsck.erofs, --extract"
	[ "${NO_EXTRACT:-0}" = 1 ] && how="fsck.erofs"
	if ! is_root; then
		echo "ok: $img ($how; no kernel mount without root) equals $src"
		return 0
	fi
	_mnt_n=$((_mnt_n + 1))
	local mnt=$T/mnt$_mnt_n
	mkdir -p "$mnt"
	"$MKIMG" mount "${mdevs[@]}" "$img" "$mnt" || fail "mkimg mount $img failed"
	if ! python3 "$TOOLS/treecmp.py" "$src" "$mnt"; then
		"$MKIMG" umount "$mnt"
		fail "mounted $img differs from $src"
	fi
	"$MKIMG" umount "$mnt"
	rmdir "$mnt"
	echo "ok: $img ($how, kernel mount) equals $src"
}

json() {	# json FILE EXPR: EXPR over the JSON object j of FILE
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
# pulled STORE NAME SRC: the store image NAME (its metadata image and the
# devices inspect gives) checked by check_image against the tree SRC
pulled() {
	local j devs
	j=$("$MKIMG" inspect --json --store "$1" "$2") || fail "inspect $2 in $1"
	devs=$(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["devices"]))' "$j")
	# shellcheck disable=SC2086
	check_image "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["image"])' "$j")" "$3" $devs
}

# ab_trees: the fixture pair a and b (see the top)
ab_trees() {
	local v
	python3 - "$T" <<'EOF'
import os, random, sys
t = sys.argv[1]
for v, seed in (("a", 1), ("b", 2)):
    root = f"{t}/{v}"
    os.makedirs(root + "/d/e")
    r = random.Random(5)
    for i in range(40):
        with open(f"{root}/d/f{i:02d}", "wb") as f:
            f.write(r.randbytes(r.choice([0, 1, 700, 4096, 9000, 40000])))
    with open(root + "/d/e/big", "wb") as f:
        f.write(random.Random(seed).randbytes(600000))
    os.symlink("f01", root + "/d/link")
EOF
	for v in a b; do
		tar --numeric-owner --sort=name -C "$T/$v" -cf "$T/$v.tar" .
		mkdir "$T/ref-$v"
		tar --numeric-owner -xpf "$T/$v.tar" -C "$T/ref-$v"
	done
}
