#!/usr/bin/env bash
# Hostile input to mkimg convert: broken OCI layouts (digests, diff_ids,
# truncated layers, bad JSON, 100 000 layers) and hostile tar streams (paths
# escaping the root, symlink and hard-link escapes, a 10 000-byte name, a pax
# header claiming 1 GiB, corrupt checksums), as OCI layouts and as plain
# layer files. Each must fail within 60 s with a non-zero exit below 128 and
# exactly one "mkimg: ..." line on stderr, leave no output (nor temporary
# file) behind and write nothing outside the output directory.
. "$(dirname "$0")/lib.sh"
require_root
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
echo "PASS: convert-hostile"
