#!/bin/bash
# The CLI explains itself (no root): every command's --help and -h print
# its usage on stdout and exit 0; an unknown option, a missing argument, an
# option a command does not take and an unknown command each print ONE line
# "mkimg: ...; see 'mkimg ... --help'" on stderr and exit 2. gc and fsck
# draw a progress line only on a terminal and without -q, and leave none.
. "$(dirname "$0")/lib.sh"
require_oracle

cmds=$("$MKIMG" --help | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }')
[ -n "$cmds" ] || fail "mkimg --help lists no commands"
"$MKIMG" --help | grep -q -- '--version' || fail "mkimg --help does not list --version"
"$MKIMG" --version | grep -q '^mkimg ' || fail "mkimg --version"


n=0
for c in $cmds; do
	for h in --help -h; do
		rc=0
		"$MKIMG" "$c" "$h" >"$T/out" 2>"$T/err" || rc=$?
		[ "$rc" = 0 ] || fail "mkimg $c $h: exit $rc"
		[ ! -s "$T/err" ] || fail "mkimg $c $h: wrote to stderr"
		grep -qi 'usage' "$T/out" || fail "mkimg $c $h: no usage on stdout"
	done
	expect_one_line 2 "^mkimg: $c: unrecognized option '--frob'; see 'mkimg $c --help'\$" "$c" --frob
	expect_one_line 2 "^mkimg: $c: unrecognized option '--frob'; see 'mkimg $c --help'\$" "$c" --frob=1
	expect_one_line 2 "^mkimg: $c: invalid option '-Z'; see 'mkimg $c --help'\$" "$c" -Z
	expect_one_line 2 "^mkimg: $c: option '--help' takes no argument; see 'mkimg $c --help'\$" "$c" --help=1
	n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n commands"

# missing arguments, long and short
expect_one_line 2 "^mkimg: convert: option '-o' requires an argument; see 'mkimg convert --help'\$" convert -o
expect_one_line 2 "^mkimg: convert: option '--name' requires an argument; see 'mkimg convert --help'\$" convert --name
expect_one_line 2 "^mkimg: ls: option '--store' requires an argument; see 'mkimg ls --help'\$" ls --store
expect_one_line 2 "^mkimg: build: option '-b' requires an argument; see 'mkimg build --help'\$" build -b
# an option another command takes
expect_one_line 2 "^mkimg: gc: option '--full' does not apply to this command; see 'mkimg gc --help'\$" gc --full
# the wrong number of operands
expect_one_line 2 "^mkimg: rm: too few arguments; see 'mkimg rm --help'\$" rm
expect_one_line 2 "^mkimg: stats: too many arguments; see 'mkimg stats --help'\$" stats a b c
# options that do nothing in a mode are refused, and so is --json where no
# JSON is printed
expect_one_line 2 "^mkimg: convert: a store image has the store's block size \(4096\): --block-size is for -o; see" \
	convert --store "$T/s" -b 4096 x.tar
for o in --no-chunks --trust-store-layers "--max-blobs=4" "--name=n" --replace; do
	expect_one_line 2 "^mkimg: convert: -o writes a standalone image; .* are for the store; see" \
		convert -o "$T/x.erofs" "$o" x.tar
done
expect_one_line 2 "^mkimg: rm: option '--json' does not apply to this command; see 'mkimg rm --help'\$" rm --json a
expect_one_line 2 "^mkimg: fsck: option '--json' does not apply to this command; see" fsck --json
expect_one_line 2 "^mkimg: unpin: option '--pid' does not apply to this command; see" unpin --pid=1 x
expect_one_line 2 "^mkimg: unpin: option '--pid' does not apply to this command; see" unpin --pid 1 x
expect_one_line 2 "^mkimg: gc: option '--full' does not apply to this command; see" gc --fu
expect_one_line 2 "^mkimg: pin: --pid: not a process id: 'x'; see 'mkimg pin --help'\$" pin --pid x a
[ ! -e "$T/s" ] && [ ! -e "$T/x.erofs" ] || fail "a refused conversion left files"
"$MKIMG" mount --help | grep -q -- '--store DIR' || fail "mount --help lacks --store"

# the store summary says "shared" only for data found elsewhere: holes of a
# sparse file are counted as holes
mkdir -p "$T/src1" "$T/src2"
truncate -s 8M "$T/src1/sparse"
head -c 300000 /dev/urandom >"$T/src1/rand"
cp "$T/src1/rand" "$T/src2/rand2"
# whole seconds: what a plain tar keeps, so the trees compare equal
find "$T/src1" "$T/src2" -exec touch -h -d @1700000000 {} +
tar -C "$T/src1" -cf "$T/l1.tar" .
tar -C "$T/src2" -cf "$T/l2.tar" .
"$MKIMG" convert --store "$T/st" --name a --json "$T/l1.tar" >"$T/a.json"
"$MKIMG" convert --store "$T/st" --name b --json "$T/l2.tar" >"$T/b.json"
"$MKIMG" convert --store "$T/st" --name a2 "$T/l1.tar" >"$T/a2.txt"
python3 - "$T/a.json" "$T/b.json" <<'PY' || fail "shared and hole figures"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a["hole_bytes"] == 8 << 20, a
assert a["shared_bytes"] == 0, a
assert b["hole_bytes"] == 0 and b["shared_bytes"] == 300000 and b["store_files"] == 1, b
PY
grep -q ' 8.0 MiB holes' "$T/a2.txt" || fail "no holes in the summary: $(cat "$T/a2.txt")"
# fsck --full hashes the sparse file's holes as zeros: its row verifies
"$MKIMG" fsck --full --store "$T/st" >"$T/fsck.out" 2>&1 || fail "fsck --full of sparse files: $(cat "$T/fsck.out")"
# inspect and ls say the same as the summaries did
"$MKIMG" inspect --store "$T/st" --json a >"$T/ia.json"
"$MKIMG" inspect --store "$T/st" --json b >"$T/ib.json"
"$MKIMG" ls --store "$T/st" --json >"$T/ls.json"
python3 - "$T/ia.json" "$T/ib.json" "$T/ls.json" <<'PY' || fail "inspect's shared and hole figures"
import json, sys
a, b, ls = (json.load(open(f)) for f in sys.argv[1:])
# (a2 is the same image as a: its record says the second conversion added
# nothing, so all of a's data counts as shared, its holes still as holes)
assert a["hole_bytes"] == 8 << 20 and a["shared_bytes"] == 300000, a
assert b["hole_bytes"] == 0 and b["shared_bytes"] == 300000, b
l = {x["name"]: x for x in ls}
assert (l["a"]["hole_bytes"], l["a"]["shared_bytes"]) == (8 << 20, 300000), l["a"]
PY
"$MKIMG" inspect --store "$T/st" a | grep -q '0.3 MiB shared, 8.0 MiB holes' ||
	fail "inspect's data line: $("$MKIMG" inspect --store "$T/st" a | grep data)"
# the store images are what their layers hold (fsck.erofs, extract, mount)
for pair in a:src1 b:src2; do
	# shellcheck disable=SC2046
	check_image $("$MKIMG" inspect --store "$T/st" --json "${pair%%:*}" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["image"], sys.argv[1], " ".join(d["devices"]))' "$T/${pair#*:}")
done
grep -q ' 0.3 MiB shared' "$T/a2.txt" || fail "a2's shared figure: $(cat "$T/a2.txt")"

# gc and fsck draw a progress line on stderr when it is a terminal, never
# when it is not or with -q/--quiet, and clear it: what stays on the
# terminal is the output without one
# on_tty ARG...: mkimg ARG... on a pseudo-terminal (stdout and stderr), what
# it wrote in $T/tty
on_tty() {
	local cmd
	printf -v cmd '%q ' "$MKIMG" "$@"
	script -qfec "$cmd" /dev/null </dev/null >"$T/tty"
}
# screen: what a terminal shows after the bytes of $T/tty (\r returns to the
# line's start, ESC [K erases to its end, other bytes overwrite)
screen() {
	python3 - "$T/tty" <<'PY'
import sys
out, line, col = [], [], 0
data = open(sys.argv[1], "rb").read().decode()
i = 0
while i < len(data):
    ch = data[i]
    if data.startswith("\x1b[K", i):
        del line[col:]
        i += 3
        continue
    if ch == "\r":
        col = 0
    elif ch == "\n":
        out.append("".join(line))
        line, col = [], 0
    else:
        line[col:col + 1] = [ch]
        col += 1
    i += 1
if line:
    out.append("".join(line))
print("\n".join(out))
PY
}
"$MKIMG" rm --store "$T/st" b
"$MKIMG" fsck --store "$T/st" --full >"$T/fsck.out" 2>"$T/fsck.err" ||
	fail "fsck --full: $(cat "$T/fsck.out" "$T/fsck.err")"
[ ! -s "$T/fsck.err" ] || fail "fsck --full wrote to stderr, no terminal: $(cat "$T/fsck.err")"
grep -q "^$T/st: 0 errors, .* (full: " "$T/fsck.out" || fail "fsck --full: $(cat "$T/fsck.out")"
on_tty fsck --store "$T/st" --full || fail "fsck --full on a terminal: $(cat "$T/tty")"
grep -q $'\rhashing blobs: [0-9]*/[0-9]*, ' "$T/tty" || fail "fsck --full on a terminal: no progress line: $(cat -v "$T/tty")"
grep -q $'\rhashing file rows: ' "$T/tty" || fail "fsck --full on a terminal: no progress of the file rows"
[ "$(screen)" = "$(cat "$T/fsck.out")" ] ||
	fail "fsck --full on a terminal leaves '$(screen)', not '$(cat "$T/fsck.out")'"
for q in -q --quiet; do
	on_tty fsck "$q" --store "$T/st" --full || fail "fsck $q --full on a terminal"
	! grep -q $'\e' "$T/tty" || fail "fsck $q --full drew a progress line: $(cat -v "$T/tty")"
	[ "$(tr -d '\r' <"$T/tty")" = "$(cat "$T/fsck.out")" ] || fail "fsck $q --full printed $(cat -v "$T/tty")"
done
on_tty gc --store "$T/st" || fail "gc on a terminal: $(cat "$T/tty")"
grep -q $'\rremoving files: ' "$T/tty" || fail "gc on a terminal: no progress line: $(cat -v "$T/tty")"
# b's only image goes (its file data is a's)
[[ "$(screen)" == "removed 0 blobs (0.0 MiB), 1 images, "*" freed" ]] || fail "gc on a terminal leaves '$(screen)'"
"$MKIMG" gc --store "$T/st" >"$T/gc.out" 2>"$T/gc.err" || fail "gc"
[ ! -s "$T/gc.err" ] && [ "$(wc -l <"$T/gc.out")" = 1 ] &&
	grep -q "^removed 0 blobs (0.0 MiB), 0 images, " "$T/gc.out" || fail "gc, no terminal: $(cat "$T/gc.out" "$T/gc.err")"
on_tty gc --quiet --store "$T/st" || fail "gc --quiet on a terminal"
[ "$(tr -d '\r' <"$T/tty")" = "$(cat "$T/gc.out")" ] || fail "gc --quiet printed $(cat -v "$T/tty")"
on_tty fsck --repair -q --store "$T/st" || fail "fsck --repair -q on a terminal: $(cat "$T/tty")"
! grep -q $'\e' "$T/tty" || fail "fsck --repair -q drew a progress line: $(cat -v "$T/tty")"
on_tty fsck --repair --store "$T/st" || fail "fsck --repair on a terminal: $(cat "$T/tty")"
grep -q $'\rhashing blobs: ' "$T/tty" && grep -q $'\rrebuilding registry: ' "$T/tty" ||
	fail "fsck --repair on a terminal: no progress line: $(cat -v "$T/tty")"
[[ "$(screen)" == "$T/st: registry rebuilt: "*" 0 errors, 0 notes" ]] || fail "fsck --repair on a terminal leaves '$(screen)'"
expect_one_line 2 "^mkimg: ls: invalid option '-q'; see 'mkimg ls --help'\$" ls -q
expect_one_line 2 "^mkimg: stats: option '--quiet' does not apply to this command; see" stats --quiet

# mount and umount say what is wrong in words; umount leaves what is not
# an EROFS mount alone unless --force; mounting over files or a mount warns
mkdir -p "$T/m/tree" "$T/m/empty" "$T/m/full"
echo data >"$T/m/tree/f"
echo old >"$T/m/full/old"
"$MKIMG" build -q "$T/m/tree" "$T/m/img.erofs"
check_image "$T/m/img.erofs" "$T/m/tree"
expect_one_line 1 "^mkimg: $T/m/empty is not a mount point\$" umount "$T/m/empty"
expect_one_line 1 "^mkimg: $T/m/nothere does not exist\$" umount "$T/m/nothere"
expect_one_line 1 "^mkimg: mount point $T/m/tree/f is not a directory\$" mount "$T/m/img.erofs" "$T/m/tree/f"
expect_one_line 1 "^mkimg: mount point $T/m/nothere does not exist\$" mount "$T/m/img.erofs" "$T/m/nothere"
as_nobody() { if is_root; then setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; else "$@"; fi; }
chmod a+x "$T" && chmod -R a+rX "$T/m"
rc=0
as_nobody "$MKIMG" mount "$T/m/img.erofs" "$T/m/empty" 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] &&
	grep -q '^mkimg: mounting needs root (CAP_SYS_ADMIN)' "$T/err" ||
	fail "mount without root: exit $rc, '$(cat "$T/err")'"
if is_root; then
	"$MKIMG" mount "$T/m/img.erofs" "$T/m/full" 2>"$T/err" || fail "mount over files: $(cat "$T/err")"
	grep -q "^mkimg: warning: $T/m/full is not empty: " "$T/err" || fail "no warning for a non-empty directory"
	"$MKIMG" mount "$T/m/img.erofs" "$T/m/full" 2>"$T/err" || fail "mount over a mount: $(cat "$T/err")"
	grep -q "^mkimg: warning: $T/m/full is a mount point already" "$T/err" || fail "no warning for a mount point"
	cmp "$T/m/tree/f" "$T/m/full/f" || fail "the image is not what is mounted"
	"$MKIMG" umount "$T/m/full" && "$MKIMG" umount "$T/m/full" || fail "umount of mkimg's mounts"
	[ -f "$T/m/full/old" ] || fail "the directory's own files are not back after umount"
	rc=0
	as_nobody "$MKIMG" umount --force "$T/m/full" 2>"$T/err" || rc=$?
	[ "$rc" = 1 ] && grep -q "^mkimg: $T/m/full is not a mount point\$" "$T/err" || fail "umount as nobody: $(cat "$T/err")"
	mount -t tmpfs tmpfs "$T/m/empty"
	expect_one_line 1 "^mkimg: $T/m/empty is not an EROFS mount \(mounted from tmpfs\), so not mkimg's: --force unmounts it\$" \
		umount "$T/m/empty"
	mountpoint -q "$T/m/empty" || fail "umount removed a mount that is not mkimg's"
	"$MKIMG" umount --force "$T/m/empty" || fail "umount --force"
	! mountpoint -q "$T/m/empty" || fail "umount --force left the mount"
fi

# default store names: the layout directory's basename ("." and ".."
# resolved), ":TAG", "@sha256-" and 12 hex digits of a digest; an archive's
# without ".tar", a layer file's without its compression suffixes
cat >"$T/spec.json" <<'EOF'
{"images": [{"tag": "v1", "layers": [{"compression": "gzip",
  "entries": [{"path": "f", "content": "hello\n"}]}]}]}
EOF
N=$T/names
mkdir -p "$N"
python3 "$TOOLS/mkoci.py" "$T/spec.json" "$N/lay" >/dev/null || fail "mkoci.py failed"
for d in dot dotslash slash up; do cp -a "$N/lay" "$N/$d"; done
tar -C "$N/lay" -cf "$N/arch.tar" .
gzip -c "$T/l1.tar" >"$N/l.tar.gz"
dg=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
	"$N/lay/index.json")
# named NAME DIR SOURCE: converting SOURCE in DIR without --name makes NAME
named() {
	local got
	got=$(cd "$2" && "$MKIMG" convert --store "$T/ns" --json "$3" | python3 -c '
import json, sys
print(json.load(sys.stdin)["name"])') || fail "convert $3 in $2 failed"
	[ "$got" = "$1" ] || fail "convert $3 in $2: named '$got', want '$1'"
}
named dot "$N/dot" oci:.
named dotslash "$N/dotslash" oci:./
named slash "$N" oci:slash/
named up "$N/up/blobs" oci:..
named lay:v1 "$N" oci:lay:v1
named "lay@sha256-${dg:7:12}" "$N" "oci:lay@$dg"
named arch:v1 "$N" oci-archive:arch.tar:v1
named "arch@sha256-${dg:7:12}" "$N" "oci-archive:$N/arch.tar@$dg"
named l "$N" ./l.tar.gz
got=$("$MKIMG" ls --store "$T/ns" | awk 'NR > 1 { print $1 }' | sort | tr '\n' ' ')
want="arch:v1 arch@sha256-${dg:7:12} dot dotslash l lay:v1 lay@sha256-${dg:7:12} slash up "
[ "$got" = "$want" ] || fail "mkimg ls: names '$got', want '$want'"
cp "$T/l1.tar" "$N/-x.tar"
expect_one_line 2 "^mkimg: oci:/: no image name follows from it: give --name\$" convert --store "$T/ns" oci:/
expect_one_line 2 "^mkimg: $N/-x.tar: no image name follows from it \(image name -x: may not start .*\): give --name\$" \
	convert --store "$T/ns" "$N/-x.tar"

# oci:PATH with ':' in PATH: the whole is PATH when it is a layout, else the
# last ':' starts the tag
cp -a "$N/lay" "$N/a:b"
"$MKIMG" convert -q -o "$T/lay.erofs" "oci:$N/lay" || fail "convert oci:lay"
"$MKIMG" convert -q -o "$T/ab.erofs" "oci:$N/a:b" || fail "convert oci:a:b (a layout named a:b)"
"$MKIMG" convert -q -o "$T/abv1.erofs" "oci:$N/a:b:v1" || fail "convert oci:a:b:v1"
cmp "$T/lay.erofs" "$T/ab.erofs" && cmp "$T/lay.erofs" "$T/abv1.erofs" ||
	fail "the layout a:b does not convert as the same layout elsewhere"
named a:b "$N" "oci:a:b"
expect_one_line 1 "^mkimg: OCI layout $N/a: " convert -q -o "$T/ac.erofs" "oci:$N/a:c"
rm -f "$T/lay.erofs"

# a layout given as a layer file: one line saying how to name it
expect_one_line 1 "^mkimg: $N/lay is an OCI image layout: use oci:$N/lay\$" convert -o "$T/lay.erofs" "$N/lay"
expect_one_line 1 "^mkimg: $N/lay/ is an OCI image layout: use oci:$N/lay/\$" convert --store "$T/ns" "$N/lay/"
[ ! -e "$T/lay.erofs" ] || fail "a refused conversion left $T/lay.erofs"

# a control character in what the user typed stays on the one line, escaped
expect_one_line 2 "^mkimg: ls: unrecognized option '--a\\\\nb'; see" ls $'--a\nb'
# unknown command
expect_one_line 2 "^mkimg: unknown command 'frob'; see 'mkimg --help'\$" frob

# a layer record that no longer replays: one warning line, the layer
# converted from its tar, one summary line, exit 0, a store fsck passes
cat >"$T/rec.json" <<'EOF'
{"images": [{"tag": "x", "layers": [{"compression": "gzip", "entries": [
  {"path": "f", "type": "file", "content": "hello\n"},
  {"path": "g", "type": "file", "size": 300000, "fill": "random", "seed": 1}]}]}]}
EOF
python3 "$TOOLS/mkoci.py" "$T/rec.json" "$T/rec" >/dev/null || fail "mkoci.py rec"
"$MKIMG" convert -q --store "$T/rs" --name a "oci:$T/rec"
rec=$(find "$T/rs/layers" -type f -name '[0-9a-f]*' | head -n 1)
[ -n "$rec" ] || fail "no layer record"
chmod u+w "$rec"
printf 'XXXX' | dd of="$rec" bs=1 seek=100 conv=notrunc status=none
"$MKIMG" convert --store "$T/rs" --name b "oci:$T/rec" >"$T/rec.out" 2>"$T/rec.err" ||
	fail "convert over a damaged record failed: $(cat "$T/rec.err")"
[ "$(wc -l <"$T/rec.err")" = 1 ] && grep -q '^mkimg: warning: .*layer record is corrupt.*converting the layer from its tar$' "$T/rec.err" ||
	fail "a damaged record: not one warning line: $(cat "$T/rec.err")"
[ "$(wc -l <"$T/rec.out")" = 1 ] && grep -q '^b: 1 layer (0 reused)' "$T/rec.out" ||
	fail "a damaged record: not one summary line: $(cat "$T/rec.out")"
"$MKIMG" fsck --store "$T/rs" --full >/dev/null || fail "fsck after a damaged record was replaced"
# both images equal the layout as umoci unpacks it
rootless=()
is_root || rootless=(--rootless)
umoci unpack "${rootless[@]}" --image "$T/rec:x" "$T/rec-ref" >/dev/null 2>"$T/umoci.err" ||
	fail "umoci unpack: $(cat "$T/umoci.err")"
for name in a b; do
	j=$("$MKIMG" inspect --store "$T/rs" --json "$name")
	img=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["image"])' "$j")
	mapfile -t devs < <(python3 -c 'import json,sys; [print(d) for d in json.loads(sys.argv[1])["devices"]]' "$j")
	if is_root; then
		# umoci gives the (implicit) root the time of the unpack
		mkdir -p "$T/rm"
		"$MKIMG" mount --store "$T/rs" "$name" "$T/rm"
		touch -h -d "@$(stat -c %Y "$T/rm")" "$T/rec-ref/rootfs"
		"$MKIMG" umount "$T/rm"
	fi
	check_image "$img" "$T/rec-ref/rootfs" "${devs[@]}"
done
echo "PASS: cli ($n commands)"
