#!/usr/bin/env bash
# Hostile input to mkimg convert: broken OCI layouts (digests, diff_ids,
# truncated layers, bad JSON, 100 000 layers) and hostile tar streams (paths
# escaping the root, symlink and hard-link escapes, a 10 000-byte name, a pax
# header claiming 1 GiB, corrupt checksums), as OCI layouts and as plain
# layer files. Each must fail within 60 s with a non-zero exit below 128 and
# exactly one "mkimg: ..." line on stderr, leave no output (nor temporary
# file) behind and write nothing outside the output directory. Needs no
# root; as root the images are also mounted (check_image, case 13).
. "$(dirname "$0")/lib.sh"
require_oracle
: "${TOOLS:=$(cd "$(dirname "$0")/../tools" && pwd)}"
MKOCI="python3 $TOOLS/mkoci.py"
command -v zstd >/dev/null || { echo "SKIP: zstd missing"; exit 77; }

passwd_sum=$(sha256sum < /etc/passwd)
mkdir -p "$T/out" "$T/run/a/b"

expect_reject() {	# description, output (file or dir), mkimg convert arguments...
	local what=$1 out=$2 rc=0
	shift 2
	touch "$T/stamp"
	(cd "$T/run/a/b" && exec timeout 60 "$MKIMG" convert "$@") 2>"$T/err" >/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "$what: exit 0"
	[ "$rc" -ne 124 ] || fail "$what: no result within 60 s"
	[ "$rc" -lt 128 ] || fail "$what: exit $rc (killed by a signal: crash?)"
	[ "$(wc -l < "$T/err")" -eq 1 ] && grep -q '^mkimg: ' "$T/err" ||
		fail "$what: expected one 'mkimg:' line on stderr, got: $(head -c 2000 "$T/err")"
	[ ! -e "$out" ] || fail "$what: $out was left behind"
	[ -z "$(ls -A "$T/out")" ] || fail "$what: left in the output directory: $(ls -A "$T/out")"
	[ -z "$(find "$T/run" -mindepth 1 -newer "$T/stamp" -print -quit)" ] ||
		fail "$what: wrote into the working directory: $(find "$T/run" -newer "$T/stamp")"
	[ "$(sha256sum < /etc/passwd)" = "$passwd_sum" ] || fail "$what: /etc/passwd changed!"
	[ ! -e /abs ] && [ ! -e /x ] && [ ! -e "$T/x" ] && [ ! -e "$T/run/x" ] ||
		fail "$what: a file was written outside the output"
	echo "ok: $what: $(cat "$T/err")"
}

# --- broken layouts ----------------------------------------------------------
python3 - "$T" <<'EOF'
import json, sys
T = sys.argv[1]
ok = [{"path": "d", "type": "dir"}, {"path": "d/f", "content": "hello\n"}]
big = [{"path": "big", "size": 300000, "fill": "random", "seed": 3}]
def img(tag, broken, comp="gzip", layers=None):
    return {"tag": tag, "broken": broken,
            "layers": layers or [{"compression": comp, "entries": ok},
                                 {"compression": comp, "entries": big}]}
layouts = {
    "layer-digest": img("t", {"layer_digest": True}),
    "diff-id": img("t", {"diff_id": True}),
    "truncated-gzip": img("t", {"truncate_layer": True}, "gzip"),
    "truncated-zstd": img("t", {"truncate_layer": True}, "zstd"),
    "index-not-json": img("t", {"index_not_json": True}),
    "missing-blob": img("t", {"missing_blob": True}),
    "many-layers": img("t", {"many_layers": 100000}),
    # a symlink to /etc in one layer, a file through it in the next
    "symlink-escape-2-layers": img("t", {}, layers=[
        {"compression": "gzip", "entries": [{"path": "a", "type": "symlink", "target": "/etc"}]},
        {"compression": "gzip", "entries": [{"path": "a/passwd", "content": "pwned\n"}]}]),
    # a hard link to a name deleted in the same layer
    "hardlink-to-whiteout": img("t", {}, layers=[
        {"compression": "gzip", "entries": [{"path": "f", "content": "x\n"}]},
        {"compression": "gzip", "entries": [{"path": "f", "type": "whiteout"},
                                            {"path": "l", "type": "hardlink", "target": "f"}]}]),
}
for name, image in layouts.items():
    with open("%s/%s.json" % (T, name), "w") as fp:
        json.dump({"images": [image]}, fp)
EOF
for name in layer-digest diff-id truncated-gzip truncated-zstd index-not-json missing-blob \
	many-layers symlink-escape-2-layers hardlink-to-whiteout; do
	$MKOCI "$T/$name.json" "$T/$name" || fail "mkoci.py $name failed"
	expect_reject "$name" "$T/out/out.erofs" -o "$T/out/out.erofs" "oci:$T/$name:t"
done
expect_reject "truncated-gzip, --per-layer" "$T/out/pl" --per-layer -o "$T/out/pl" "oci:$T/truncated-gzip:t"
expect_reject "diff-id, --per-layer" "$T/out/pl" --per-layer -o "$T/out/pl" "oci:$T/diff-id:t"
expect_reject "no such tag" "$T/out/out.erofs" -o "$T/out/out.erofs" "oci:$T/diff-id:nope"
expect_reject "no such layout" "$T/out/out.erofs" -o "$T/out/out.erofs" "oci:$T/nope"
expect_reject "no such platform" "$T/out/out.erofs" --platform linux/s390x -o "$T/out/out.erofs" \
	"oci:$T/layer-digest:t"

# --- hostile tar streams, as an OCI layout (gzip) and as plain layer files ----
good=$T/good.tar.gz
echo '{"entries": [{"path": "d", "type": "dir"}, {"path": "d/f", "content": "ok\n"}]}' > "$T/good.json"
$MKOCI --layer "$T/good.json" "$good" || fail "mkoci.py --layer failed"
for kind in dotdot dotdot-deep absolute symlink-escape symlink-escape-rel hardlink-missing \
	hardlink-escape hardlink-absolute long-name pax-1g bad-checksum bad-checksum-2nd \
	truncated-tar garbage; do
	printf '{"images": [{"tag": "t", "layers": [{"compression": "gzip", "entries": [{"path": "base", "content": "b\\n"}]}, {"compression": "gzip", "hostile": "%s"}]}]}' \
		"$kind" > "$T/h.json"
	rm -rf "$T/h"
	$MKOCI "$T/h.json" "$T/h" || fail "mkoci.py $kind failed"
	expect_reject "$kind (OCI layout)" "$T/out/out.erofs" -o "$T/out/out.erofs" "oci:$T/h:t"
	$MKOCI --hostile-layer "$kind" "$T/$kind.tar" || fail "mkoci.py --hostile-layer $kind failed"
	expect_reject "$kind (layer file)" "$T/out/out.erofs" -o "$T/out/out.erofs" "$good" "$T/$kind.tar"
done
$MKOCI --hostile-layer dotdot "$T/dotdot.tar.zst" --compression zstd || fail "mkoci.py failed"
expect_reject "dotdot (zstd layer file, --per-layer)" "$T/out/pl" --per-layer -o "$T/out/pl" \
	"$good" "$T/dotdot.tar.zst"
head -c 100 "$good" > "$T/short.tar.gz"
expect_reject "truncated gzip layer file" "$T/out/out.erofs" -o "$T/out/out.erofs" "$T/short.tar.gz"
expect_reject "missing layer file" "$T/out/out.erofs" -o "$T/out/out.erofs" "$T/nope.tar"
# --- case 13: hostile sizes cost time in proportion to real bytes -------------
# A 10 KiB tar declaring a 4 GiB (and a 1 TiB) sparse file: holes are hashed
# like data (fingerprints, dedup keys), so they are bounded (--max-holes,
# default 1 GiB): refused at once, in a store and standalone.
command -v tar >/dev/null || fail "GNU tar missing"
mkdir -p "$T/sp4" "$T/sp1t" "$T/sp512"
truncate -s 4G "$T/sp4/sparse" && echo hi >> "$T/sp4/sparse"
truncate -s 1T "$T/sp1t/sparse" && echo hi >> "$T/sp1t/sparse"
truncate -s 512M "$T/sp512/sparse" && echo hi >> "$T/sp512/sparse"
for n in sp4 sp1t sp512; do
	chmod 755 "$T/$n"
	touch -d @1700000000 "$T/$n/sparse" "$T/$n"
	tar --sparse -C "$T/$n" -cf "$T/$n.tar" . || fail "tar --sparse $n failed"
	[ "$(stat -c %s "$T/$n.tar")" -le 20480 ] || fail "$n.tar is not a small sparse tar"
done
timed_reject() {	# description, expected message part, mkimg convert arguments...
	local what=$1 msg=$2 start=$SECONDS
	shift 2
	expect_reject "$what" "$T/out/out.erofs" "$@"
	[ $((SECONDS - start)) -le 20 ] || fail "$what: took $((SECONDS - start)) s"
	grep -qF -- "$msg" "$T/err" || fail "$what: expected '$msg', got: $(cat "$T/err")"
}
timed_reject "case 13: 4 GiB sparse entry, standalone" "more than 1.0 GiB of holes" \
	-o "$T/out/out.erofs" "$T/sp4.tar"
timed_reject "case 13: 1 TiB sparse entry, standalone" "more than 1.0 GiB of holes" \
	-o "$T/out/out.erofs" "$T/sp1t.tar"
timed_reject "case 13: 1 TiB sparse entry, --max-holes 2G" "more than 2.0 GiB of holes" \
	--max-holes 2G -o "$T/out/out.erofs" "$T/sp1t.tar"
rm -rf "$T/st13"
timed_reject "case 13: 1 TiB sparse entry into a store" "more than 1.0 GiB of holes" \
	--store "$T/st13" --name sp "$T/sp1t.tar"
# under the limit, and with the limit raised: converted, and correct
start=$SECONDS
timeout 20 "$MKIMG" convert -q -o "$T/sp512.erofs" "$T/sp512.tar" ||
	fail "case 13: 512 MiB sparse entry refused (or over 20 s)"
timeout 20 "$MKIMG" convert -q --max-holes 5G --fingerprint -o "$T/sp4.erofs" "$T/sp4.tar" ||
	fail "case 13: 4 GiB sparse entry with --max-holes 5G refused (or over 20 s)"
echo "ok: case 13: 512 MiB and (--max-holes 5G) 4 GiB sparse entries in $((SECONDS - start)) s"
check_image "$T/sp512.erofs" "$T/sp512"
NO_EXTRACT=1 check_image "$T/sp4.erofs" "$T/sp4"
rm -rf "$T/sp4" "$T/sp1t" "$T/sp512" "$T"/sp*.erofs "$T/st13"

# 300 entries with 4000 xattrs each (a search per name was quadratic: 45 s).
# No reference tree: ext4 holds one block of xattrs per inode and tmpfs is
# itself quadratic in xattrs; the image passes fsck.erofs 1.9 and its
# xattrs are read back through a kernel mount.
python3 - "$T/xa.tar" <<'EOF2'
import io, sys, tarfile
def rec(k, v):	# one pax record ("LEN key=value\n", LEN counting itself)
    body = " %s=%s\n" % (k, v)
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return ("%d%s" % (n, body)).encode()
# pax headers written by hand: tarfile's own builder is quadratic here
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as tf:
    for i in range(300):
        data = b"".join(rec("SCHILY.xattr.user.k%04d" % j, "v%d" % (i + j)) for j in range(4000))
        x = tarfile.TarInfo("PaxHeaders/f%03d" % i)
        x.type, x.size, x.mtime = tarfile.XHDTYPE, len(data), 1700000000
        tf.addfile(x, io.BytesIO(data))
        ti = tarfile.TarInfo("f%03d" % i)
        ti.mtime, ti.mode = 1700000000, 0o644
        tf.addfile(ti, io.BytesIO(b""))
EOF2
# CPU seconds, not wall time (the machine may be shared): today about 1 s
# (4 s under ASan); a search per name took 13 s here.
cpu_run() {	# mkimg arguments...: runs mkimg; its user+sys CPU seconds in $cpu
	local TIMEFORMAT='%3U %3S' rc=0
	{ time timeout 60 "$MKIMG" "$@" >/dev/null 2>"$T/cpu.err"; } 2>"$T/cpu.t" || rc=$?
	cpu=$(awk '{ printf "%d", $1 + $2 + 0.999 }' "$T/cpu.t")
	return "$rc"
}
cpu_run convert -q -o "$T/xa.erofs" "$T/xa.tar" ||
	fail "case 13: 300 entries x 4000 xattrs: failed: $(cat "$T/cpu.err")"
[ "$cpu" -le 8 ] || fail "case 13: 300 entries x 4000 xattrs: $cpu s of CPU"
c1=$cpu
rm -rf "$T/st13"
cpu_run convert -q --store "$T/st13" --name xa "$T/xa.tar" ||
	fail "case 13: 300 entries x 4000 xattrs into a store: failed: $(cat "$T/cpu.err")"
[ "$cpu" -le 8 ] || fail "case 13: 300 entries x 4000 xattrs into a store: $cpu s of CPU"
echo "ok: case 13: 300 entries x 4000 xattrs: at most $c1 s of CPU standalone, $cpu s into a store"
"$ORACLE/fsck.erofs" "$T/xa.erofs" >"$T/fsck.log" 2>&1 ||
	{ cat "$T/fsck.log"; fail "case 13: fsck.erofs failed on xa.erofs"; }
if is_root; then
mkdir -p "$T/mnt-xa"
"$MKIMG" mount "$T/xa.erofs" "$T/mnt-xa" || fail "case 13: cannot mount xa.erofs"
# (three files: the kernel looks each name up linearly in the inode)
python3 - "$T/mnt-xa" <<'EOF2' || fail "case 13: the xattrs of xa.erofs differ from its tar"
import os, sys
for i in (0, 123, 299):
    p = os.path.join(sys.argv[1], "f%03d" % i)
    got = {k: os.getxattr(p, k) for k in os.listxattr(p)}
    want = {"user.k%04d" % j: b"v%d" % (i + j) for j in range(4000)}
    if got != want:
        sys.exit("f%03d: %d xattrs, %d expected" % (i, len(got), len(want)))
EOF2
"$MKIMG" umount "$T/mnt-xa"
echo "ok: case 13: xa.erofs passes fsck.erofs; mounted, the 4000 xattrs of f000, f123, f299 equal the tar's"
else
echo "ok: case 13: xa.erofs passes fsck.erofs (its xattrs are read back through a mount as root)"
fi
# what one EROFS inode holds inline is the cap: 4096 xattrs of 100 bytes
python3 - "$T/xbig.tar" <<'EOF2'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tf:
    ti = tarfile.TarInfo("f")
    ti.pax_headers = {"SCHILY.xattr.user.k%04d" % j: "v" * 100 for j in range(4096)}
    tf.addfile(ti, io.BytesIO(b""))
EOF2
timed_reject "case 13: xattrs beyond an inode's inline area" "what EROFS can hold inline" \
	-o "$T/out/out.erofs" "$T/xbig.tar"
rm -rf "$T/xa.tar" "$T/mnt-xa" "$T/xa.erofs" "$T/xbig.tar" "$T/st13"

# --- case 14: ambiguous selections are refused, naming the candidates --------
python3 - "$T" <<'EOF2'
import json, sys
T = sys.argv[1]
a = [{"compression": "gzip", "entries": [{"path": "a", "content": "a\n"}]}]
b = [{"compression": "gzip", "entries": [{"path": "b", "content": "b\n"}]}]
specs = {
    "same-tag": [{"tag": "t", "layers": a}, {"tag": "t", "layers": b}],
    "same-platform": [{"tag": None, "layers": a}, {"tag": None, "layers": b}],
}
for name, images in specs.items():
    with open("%s/%s.json" % (T, name), "w") as fp:
        json.dump({"images": images}, fp)
EOF2
for name in same-tag same-platform; do
	rm -rf "${T:?}/$name"
	$MKOCI "$T/$name.json" "$T/$name" || fail "mkoci.py $name failed"
	digests=$(python3 -c 'import json,sys; print(" ".join(m["digest"] for m in json.load(open(sys.argv[1]))["manifests"]))' "$T/$name/index.json")
	ref="oci:$T/$name"
	[ "$name" = same-tag ] && ref="$ref:t"
	expect_reject "case 14: $name" "$T/out/out.erofs" -o "$T/out/out.erofs" "$ref"
	for d in $digests; do
		grep -qF "$d" "$T/err" || fail "case 14: $name: candidate $d not named: $(cat "$T/err")"
	done
done
grep -qF "tag \"t\" is ambiguous" <("$MKIMG" convert -o "$T/out/out.erofs" "oci:$T/same-tag:t" 2>&1) ||
	fail "case 14: same-tag: not called ambiguous"
# --- case 15: messages name what they are about ----------------------------
# A file that is not a tar names the file; a missing one names it once; a
# name holding a newline and an escape character stays on one line.
echo "not a tar" >"$T/notatar"
expect_reject "case 15: not a tar" "$T/out/out.erofs" -o "$T/out/out.erofs" "$T/notatar"
grep -qF "mkimg: $T/notatar: tar: open: " "$T/err" || fail "case 15: the file is not named: $(cat "$T/err")"
expect_reject "case 15: missing layer file" "$T/out/out.erofs" -o "$T/out/out.erofs" "$T/nofile"
[ "$(grep -o "$T/nofile" "$T/err" | wc -l)" = 1 ] || fail "case 15: not named once: $(cat "$T/err")"
nl=$'no\nsuch\033file'
expect_reject "case 15: a name with a newline" "$T/out/out.erofs" -o "$T/out/out.erofs" "$T/$nl"
grep -qF 'no?such?file' "$T/err" || grep -qF 'no\nsuch\x1bfile' "$T/err" ||
	fail "case 15: control characters not escaped: $(cat -A "$T/err")"
# ENOSPC names the file being written and says so (root: a 4 MiB tmpfs)
if is_root; then
	mkdir -p "$T/full"
	mount -t tmpfs -o size=4m tmpfs "$T/full"
	head -c 6000000 /dev/urandom >"$T/big"
	tar -C "$T" -cf "$T/big.tar" big
	mkdir -p "$T/bigdir" && cp "$T/big" "$T/bigdir/"
	for mode in image store build blob; do
		rc=0
		case $mode in
		image) "$MKIMG" convert -q -o "$T/full/x.erofs" "$T/big.tar" 2>"$T/err" || rc=$?; want="$T/full/x.erofs" ;;
		store) "$MKIMG" convert -q --store "$T/full/s" --name a "$T/big.tar" 2>"$T/err" || rc=$?; want="$T/full/s/" ;;
		build) "$MKIMG" build -q "$T/bigdir" "$T/full/y.erofs" 2>"$T/err" || rc=$?; want="$T/full/y.erofs" ;;
		blob) "$MKIMG" build -q --blob "$T/full/b" "$T/bigdir" "$T/full/y.erofs" 2>"$T/err" || rc=$?; want="$T/full/b" ;;
		esac
		[ "$rc" = 1 ] || fail "case 15: ENOSPC ($mode): exit $rc"
		[ "$(wc -l <"$T/err")" = 1 ] || fail "case 15: ENOSPC ($mode): not one line: $(cat "$T/err")"
		grep -q "^mkimg: .*$want.*: No space left on device\$" "$T/err" ||
			fail "case 15: ENOSPC ($mode): '$(cat "$T/err")' does not name $want"
		echo "ok: case 15: ENOSPC ($mode): $(cat "$T/err")"
	done
	[ -z "$(ls "$T/full" | grep -v '^s$')" ] || fail "case 15: ENOSPC left output behind: $(ls "$T/full")"
	"$MKIMG" fsck --store "$T/full/s" >/dev/null || fail "case 15: the store fails fsck after ENOSPC"
	[ -z "$("$MKIMG" ls --store "$T/full/s")" ] || fail "case 15: an image was registered"
	umount "$T/full"
fi
echo "PASS: convert-hostile"
