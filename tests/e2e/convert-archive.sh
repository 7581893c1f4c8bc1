#!/usr/bin/env bash
# oci-archive: and docker-archive: sources end to end. An OCI layout built by
# tests/tools/mkoci.py (gzip and plain layers, a whiteout, an opaque
# directory, a hard link, a symlink, xattrs) is written as archives by skopeo
# (oci-archive:, docker-archive:) and by tar (the layout's directory as
# `tar -C LAYOUT .` packs it, "./" names; and so with a manifest.json naming
# blobs/sha256/<hex>, as docker save writes since Docker 25); the corpus's
# nginx layout, when
# present, by skopeo. Every archive is converted in all three modes;
# each result must be byte-identical to the conversion of the layout itself
# (flattened image, each per-layer image, the store's metadata image and
# blob), and the flattened image passes check_image against `umoci unpack`
# of the layout (fsck.erofs 1.9, extract, kernel mount, tree compare).
# Hostile archives (truncated, a layer member with a flipped byte, a
# symlink or nothing in place of a blob, ".." names, duplicates, a FIFO)
# each give one `mkimg:` line, a non-zero exit and no output; a store that
# replays a layer from its record still checks the archive's member.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle
: "${TOOLS:=$(cd "$(dirname "$0")/../tools" && pwd)}"
command -v umoci >/dev/null || { echo "SKIP: umoci missing"; exit 77; }
command -v skopeo >/dev/null || { echo "SKIP: skopeo missing (apt-get install skopeo)"; exit 77; }

python3 - "$T" <<'EOF'
import json, sys
T = sys.argv[1]
def f(p, c=None, **kw):
    e = {"path": p, "type": "file"}
    if "size" not in kw:
        e["content"] = c if c is not None else p + "\n"
    return dict(e, **kw)
d = lambda p, **kw: dict({"path": p, "type": "dir"}, **kw)
spec = {"images": [{"tag": "v1", "layers": [
    {"compression": "gzip", "entries": [
        d("etc"), f("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), d("usr"), d("usr/bin"),
        f("usr/bin/tool", "#!/bin/sh\necho hi\n", mode="0755"),
        {"path": "usr/bin/tool2", "type": "hardlink", "target": "usr/bin/tool"},
        {"path": "usr/bin/sh", "type": "symlink", "target": "tool"},
        d("var"), d("var/cache"), f("var/cache/a"), f("var/cache/b"),
        f("big", size=300000, fill="random", seed=7),
        f("x", "attrs", xattrs={"user.a": "1"})]},
    {"compression": "none", "entries": [
        {"path": "var/cache", "type": "opaque"}, f("var/cache/c"),
        {"path": "x", "type": "whiteout"}, f("etc/motd", "hello\n")]},
]}]}
json.dump(spec, open(T + "/spec.json", "w"))
EOF
python3 "$TOOLS/mkoci.py" "$T/spec.json" "$T/layout" >/dev/null || fail "mkoci.py failed"

# the root's mtime is the wall clock of umoci's unpack: take the image's
align_root() {	# IMAGE REFERENCE
	mkdir -p "$T/m"
	mount -t erofs -o ro,loop "$1" "$T/m" || fail "mounting $1 failed"
	touch -h -d "@$(stat -c %.9Y "$T/m")" "$2"
	umount "$T/m"
}

# store_image STORE NAME: the metadata image's and blob's paths
store_files() {
	"$MKIMG" inspect --store "$1" --json "$2" |
		python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["image"]); [print(b) for b in o["devices"]]'
}

# the conversions of SOURCE must equal those of the layout (in $T/ref-*)
same_as_layout() {	# LABEL SOURCE
	local label=$1 src=$2 f
	"$MKIMG" convert -q -o "$T/$label.erofs" "$src" || fail "$label: convert failed"
	cmp "$T/ref-img.erofs" "$T/$label.erofs" || fail "$label: image differs from the layout's"
	"$MKIMG" convert -q --per-layer -o "$T/$label-pl" "$src" || fail "$label: --per-layer failed"
	diff <(ls "$T/ref-pl") <(ls "$T/$label-pl") || fail "$label: other per-layer images"
	for f in "$T/ref-pl"/*; do
		cmp "$f" "$T/$label-pl/$(basename "$f")" || fail "$label: $(basename "$f") differs"
	done
	"$MKIMG" convert -q --store "$T/s-$label" --name img "$src" || fail "$label: --store failed"
	mapfile -t got < <(store_files "$T/s-$label" img)
	[ ${#got[@]} = ${#refstore[@]} ] || fail "$label: store image has other blobs"
	for i in "${!got[@]}"; do
		cmp "${refstore[$i]}" "${got[$i]}" || fail "$label: store file $i differs"
	done
	echo "ok: $label: image, ${#ref_pl[@]} per-layer images and store image + blob equal the layout's"
	rm -rf "$T/$label.erofs" "$T/$label-pl" "$T/s-$label"
}

run_layout() {	# LAYOUT TAG NAME (a docker reference for skopeo) [all]
	local layout=$1 tag=$2 name=$3 all=${4:-}
	echo "== $layout:$tag"
	rm -rf "$T/ref-img.erofs" "$T/ref-pl" "$T/s-ref" "$T/ref" "$T"/*.tar
	"$MKIMG" convert -q -o "$T/ref-img.erofs" "oci:$layout:$tag" || fail "layout convert failed"
	"$MKIMG" convert -q --per-layer -o "$T/ref-pl" "oci:$layout:$tag" || fail "layout per-layer failed"
	ref_pl=("$T/ref-pl"/*)
	"$MKIMG" convert -q --store "$T/s-ref" --name img "oci:$layout:$tag" || fail "layout store failed"
	mapfile -t refstore < <(store_files "$T/s-ref" img)

	umoci unpack --image "$layout:$tag" "$T/ref" >/dev/null 2>"$T/umoci.err" ||
		fail "umoci unpack failed: $(cat "$T/umoci.err")"
	align_root "$T/ref-img.erofs" "$T/ref/rootfs"

	skopeo copy -q "oci:$layout:$tag" "oci-archive:$T/a.oci.tar:$tag" ||
		fail "skopeo copy to oci-archive failed"
	skopeo copy -q "oci:$layout:$tag" "docker-archive:$T/a.docker.tar:$name" ||
		fail "skopeo copy to docker-archive failed"
	tar -cf "$T/a.dir.tar" -C "$layout" . || fail "tar of the layout failed"

	same_as_layout oci-archive "oci-archive:$T/a.oci.tar:$tag"
	same_as_layout docker-archive "docker-archive:$T/a.docker.tar"
	if [ -n "$all" ]; then
		same_as_layout oci-archive-untagged "oci-archive:$T/a.oci.tar"
		same_as_layout docker-archive-tag "docker-archive:$T/a.docker.tar:$name"
		same_as_layout tar-of-layout "oci-archive:$T/a.dir.tar:$tag"
		# docker save's newer form: the layout plus a manifest.json naming
		# blobs/sha256/<hex> (the gzip layer kept compressed)
		rm -rf "$T/dl" && cp -a "$layout" "$T/dl"
		python3 -c 'import json,sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
b = lambda x: "blobs/sha256/" + x["digest"][7:]
json.dump([{"Config": b(m["config"]), "RepoTags": [sys.argv[2]],
            "Layers": [b(l) for l in m["layers"]]}], open(d + "/manifest.json", "w"))' \
			"$T/dl" "$name" || fail "writing manifest.json failed"
		tar -cf "$T/a.dl.tar" -C "$T/dl" . || fail "tar of the docker layout failed"
		same_as_layout docker-archive-blobs "docker-archive:$T/a.dl.tar"
	fi
	"$MKIMG" convert -q -o "$T/check.erofs" "docker-archive:$T/a.docker.tar" ||
		fail "docker-archive convert failed"
	check_image "$T/check.erofs" "$T/ref/rootfs"
	rm -f "$T/check.erofs"
}

run_layout "$T/layout" v1 example.com/test:v1 all
mkdir "$T/keep"
cp "$T/a.oci.tar" "$T/keep/oci.tar"
cp "$T/a.docker.tar" "$T/keep/docker.tar"
cp "$T/a.dir.tar" "$T/keep/dir.tar"
corpus=${CORPUS_OUT:-/var/tmp/mkimg-corpus}/oci/nginx
if [ -d "$corpus" ]; then
	run_layout "$corpus" latest docker.io/library/nginx:latest
else
	echo "note: no corpus nginx layout at $corpus, only the built layout"
fi

# --- hostile archives --------------------------------------------------------
# expect_fail LABEL PATTERN SOURCE: one mkimg: line matching PATTERN, exit
# non-zero, no output in any mode, nothing registered in a store
expect_fail() {
	local label=$1 pat=$2 src=$3 mode out
	for mode in img pl store; do
		rm -rf "$T/out" "$T/out.erofs"
		case $mode in
		img) out=(-o "$T/out.erofs") ;;
		pl) out=(--per-layer -o "$T/out") ;;
		store) out=(--store "$T/hs" --name "h-$label") ;;
		esac
		rc=0
		timeout 60 "$MKIMG" convert -q "${out[@]}" "$src" 2>"$T/err" >/dev/null || rc=$?
		[ "$rc" != 0 ] || fail "$label ($mode): accepted"
		[ "$rc" -lt 124 ] || fail "$label ($mode): exit $rc (crash or hang)"
		[ "$(wc -l < "$T/err")" = 1 ] || { cat "$T/err"; fail "$label ($mode): not one line"; }
		grep -q '^mkimg: ' "$T/err" || fail "$label ($mode): no mkimg: prefix"
		grep -qE "$pat" "$T/err" || { cat "$T/err"; fail "$label ($mode): not /$pat/"; }
		[ ! -e "$T/out.erofs" ] && [ ! -e "$T/out" ] || fail "$label ($mode): output left"
	done
	if [ -d "$T/hs" ] && "$MKIMG" ls --store "$T/hs" | grep -q "h-$label"; then
		fail "$label: registered in the store"
	fi
	echo "ok: $label: $(cat "$T/err")"
}

# member_off ARCHIVE NAME [mid]: the offset of a member's data (its middle)
member_off() {
	python3 -c 'import sys,tarfile
t = tarfile.open(sys.argv[1])
for m in t.getmembers():
    if m.name.lstrip("./") == sys.argv[2].lstrip("./") or m.name == sys.argv[2]:
        print(m.offset_data + (m.size // 2 if len(sys.argv) > 3 else 0)); break' "$@"
}
flip() {	# FILE OFFSET
	python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 1]))' "$1" "$2"
}
# the layer members of the oci-archive (bottom first; skopeo may have
# compressed a layer the layout has uncompressed)
mapfile -t layers < <(python3 -c 'import json,sys,tarfile
t = tarfile.open(sys.argv[1])
rd = lambda n: json.load(t.extractfile(n))
m = rd("blobs/sha256/" + rd("index.json")["manifests"][0]["digest"][7:])
[print("blobs/sha256/" + l["digest"][7:]) for l in m["layers"]]' "$T/keep/oci.tar")
[ ${#layers[@]} = 2 ] || fail "the oci-archive has ${#layers[@]} layers"
off=$(member_off "$T/keep/oci.tar" "${layers[0]}")
head -c $((off + 100)) "$T/keep/oci.tar" > "$T/h.tar"
expect_fail truncated 'truncated' "oci-archive:$T/h.tar"

cp "$T/keep/oci.tar" "$T/h.tar"
flip "$T/h.tar" "$(member_off "$T/h.tar" "${layers[0]}" mid)"
expect_fail oci-layer-flipped 'digest mismatch|gzip|diff_id' "oci-archive:$T/h.tar"

cp "$T/keep/docker.tar" "$T/h.tar"
# a byte of a file's data in the plain layer (the tar still parses)
flip "$T/h.tar" "$(python3 -c 'import json,sys,tarfile
t = tarfile.open(sys.argv[1])
l = t.getmember(json.load(t.extractfile("manifest.json"))[0]["Layers"][1])
inner = tarfile.open(fileobj=t.extractfile(l))
print(l.offset_data + inner.getmember("var/cache/c").offset_data)' "$T/h.tar")"
expect_fail docker-layer-flipped 'diff_id mismatch|digest mismatch' "docker-archive:$T/h.tar"
# a store that has the layer's record replays it, and still checks the member
"$MKIMG" convert -q --store "$T/hs" --name base "oci:$T/layout:v1" || fail "store base failed"
"$MKIMG" convert --store "$T/hs" --name whole "docker-archive:$T/keep/docker.tar" >"$T/out.txt" ||
	fail "store docker-archive failed"
grep -q '2 layers (2 reused)' "$T/out.txt" || fail "docker-archive layers not replayed: $(cat "$T/out.txt")"
expect_fail docker-replayed-flipped 'digest mismatch' "docker-archive:$T/h.tar"

# rewrite ARCHIVE OUT PYTHON-BODY: a tar rebuilt member by member (m, data)
rewrite() {
	python3 - "$@" <<'EOF'
import io, sys, tarfile
src, out, how = sys.argv[1], sys.argv[2], sys.argv[3]
t = tarfile.open(src)
o = tarfile.open(out, "w", format=tarfile.PAX_FORMAT)
layer = sys.argv[4]
for m in t.getmembers():
    data = t.extractfile(m).read() if m.isfile() else None
    name = m.name.lstrip("./") if m.name.startswith("./") else m.name
    if name == layer and how == "symlink":
        m.type, m.linkname, m.size, data = tarfile.SYMTYPE, "/dev/zero", 0, None
    elif name == layer and how == "missing":
        continue
    elif name == layer and how == "dotdot":
        m.name = "../" + m.name
    o.addfile(m, io.BytesIO(data) if data is not None else None)
    if name == "index.json" and how == "duplicate":
        o.addfile(m, io.BytesIO(data))
o.close()
EOF
}
rewrite "$T/keep/oci.tar" "$T/h.tar" symlink "${layers[1]}"
expect_fail symlink-blob 'is a symbolic link, not a regular file' "oci-archive:$T/h.tar"
rewrite "$T/keep/oci.tar" "$T/h.tar" missing "${layers[1]}"
expect_fail missing-layer 'no member "blobs/sha256/' "oci-archive:$T/h.tar"
rewrite "$T/keep/oci.tar" "$T/h.tar" dotdot "${layers[1]}"
expect_fail dotdot-name 'name with ".."' "oci-archive:$T/h.tar"
rewrite "$T/keep/oci.tar" "$T/h.tar" duplicate none
expect_fail duplicate 'appears twice' "oci-archive:$T/h.tar"
expect_fail docker-as-oci 'no member "index.json"' "oci-archive:$T/keep/docker.tar"
expect_fail oci-as-docker 'no member "manifest.json"' "docker-archive:$T/keep/dir.tar"
expect_fail no-tag 'no image "v9"' "oci-archive:$T/keep/oci.tar:v9"
expect_fail docker-no-tag 'no image "x:y"' "docker-archive:$T/keep/docker.tar:x:y"
mkfifo "$T/fifo.tar"
expect_fail fifo 'not a regular file' "oci-archive:$T/fifo.tar"
expect_fail directory 'not a regular file' "docker-archive:$T/layout"
expect_fail absent 'No such file' "oci-archive:$T/none.tar"
head -c 1000 /dev/urandom > "$T/h.tar"
expect_fail not-tar 'not a tar archive|truncated' "oci-archive:$T/h.tar"
"$MKIMG" fsck --store "$T/hs" >/dev/null || fail "the store of the failed conversions fails fsck"
echo "PASS"
