#!/usr/bin/env bash
# mkimg convert end to end. OCI layouts built by tests/tools/mkoci.py cover
# every whiteout form, replacement of every file type by every other across
# layers, hard links within and across layers, xattrs, nanosecond mtimes,
# devices, implicit parent directories, a sparse-ish large file, and gzip,
# zstd and uncompressed layers. The reference is the rootfs umoci unpacks from
# the same layout. Each flattened image goes through check_image (fsck.erofs
# 1.9, kernel mount, tree comparison with the reference); --per-layer images
# are fsck'd, mounted and stacked with overlayfs and the overlay is compared
# with the reference; plain layer files give the same tree; converting twice
# gives identical bytes.
#
# Differences from the umoci rootfs that are not compared, and why:
#  * the mtime of the root directory and of parent directories that no layer
#    has an entry for ("implicit" parents): umoci sets them to the time of the
#    unpack (wall clock), so they carry no information. Before comparing, the
#    reference's mtimes of exactly those directories are set to the image's;
#    their mode and owner are still compared, and determinism is checked by
#    converting twice.
#  * no xattr with an empty value: Go's archive/tar (umoci) treats an empty
#    pax record as "unset" and drops it, so the reference could not hold one.
#  * umoci 0.4 cannot read zstd layers, so umoci unpacks a twin layout in which
#    the zstd layers are gzip-compressed (the same tars, the same diff_ids).
#  * overlay mounts (--per-layer): inode numbers, st_dev, link counts and
#    hard-link grouping (a layer image holds its own copy of a file that is
#    hard-linked to a lower layer's file) and trusted.overlay.* xattrs.
#    overlayfs takes a directory's attributes from the topmost layer that has
#    the directory; when that layer has no entry of its own for it (only
#    entries below it, or an opaque marker), its attributes in that layer
#    image are made up, so for those directories only the type is compared.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle
: "${TOOLS:=$(cd "$(dirname "$0")/../tools" && pwd)}"
MKOCI="python3 $TOOLS/mkoci.py"
command -v umoci >/dev/null || { echo "SKIP: umoci missing"; exit 77; }
command -v zstd >/dev/null || { echo "SKIP: zstd missing"; exit 77; }

# --- the fixtures ----------------------------------------------------------
python3 - "$T" "$TOOLS" <<'EOF'
import json, os, sys
T, tools = sys.argv[1], sys.argv[2]
sys.path.insert(0, tools)

NS = "1600000000.123456789"

def f(path, content=None, **kw):
    e = {"path": path, "type": "file", "content": content if content is not None else path + "\n"}
    e.update(kw)
    return e

def d(path, **kw):
    return dict({"path": path, "type": "dir"}, **kw)

def ln(path, target, kind="symlink", **kw):
    return dict({"path": path, "type": kind, "target": target}, **kw)

def wh(path):
    return {"path": path, "type": "whiteout"}

def opq(path):
    return {"path": path, "type": "opaque"}

# 1. whiteouts
whiteouts = [
    {"compression": "gzip", "entries": [
        d("./", mode="0755", mtime=1500000000),
        d("w"), f("w/keep"), f("w/delf"),
        d("w/deld"), d("w/deld/sub"), f("w/deld/sub/deep"), f("w/deld/x"),
        d("w/opq", mode="0750"), f("w/opq/a"), d("w/opq/sub"), f("w/opq/sub/b"),
        f("w/recr", "old\n"), d("w/recd"), f("w/recd/old"),
        f("w/gone"), d("w/ddir"), f("w/ddir/old"),
        d("top"), f("top/x"),
    ]},
    {"compression": "zstd", "entries": [
        wh("w/delf"), wh("w/deld"),
        # new entries before and after the opaque marker, in the same layer
        f("w/opq/new"), opq("w/opq"), d("w/opq/sub", mode="0700"), f("w/opq/sub/c"),
        # whiteout of a name, recreated in the same layer (other type/same type)
        wh("w/recr"), d("w/recr"), f("w/recr/child"),
        wh("w/recd"), d("w/recd"), f("w/recd/new"),
        wh("w/gone"), wh("w/ddir"), wh("top"),
        # an opaque marker in a directory that is new in this layer
        d("fresh"), opq("fresh"), f("fresh/f"),
    ]},
    {"compression": "none", "entries": [
        # deleted in the layer below, recreated here
        d("w/gone", mode="0711"), f("w/gone/child"),
        d("w/ddir"), f("w/ddir/new"),
        f("top", "top is a file now\n"),
        # whiteout of a name that does not exist
        wh("w/never"),
    ]},
]

# 2. every type replaced by every type
types = ["file", "dir", "symlink", "hardlink", "fifo", "chr"]
def make(kind, path, gen):
    if kind == "file":
        return [f(path, "%s gen %d\n" % (path, gen), mode="0640")]
    if kind == "dir":
        return [d(path, mode="0751"), f(path + "/child%d" % gen)]
    if kind == "symlink":
        return [ln(path, "target-%d" % gen)]
    if kind == "hardlink":
        return [ln(path, "rep/base%d" % gen, "hardlink")]
    if kind == "fifo":
        return [{"path": path, "type": "fifo", "mode": "0600"}]
    if kind == "chr":
        return [{"path": path, "type": "chr", "major": 1, "minor": 3 + gen, "mode": "0666"}]
rl0, rl1 = [d("rep"), f("rep/base0", "base zero\n")], [f("rep/base1", "base one\n")]
for a in types:
    for b in types:
        p = "rep/%s-%s" % (a, b)
        rl0 += make(a, p, 0)
        rl1 += make(b, p, 1)
replace = [
    {"compression": "gzip", "entries": rl0 + [
        # a symlinked directory, replaced by a real directory later
        d("realdir"), f("realdir/f"), ln("sd", "realdir"),
        # dir -> symlink -> dir over three layers
        d("chain"), f("chain/old"),
        # hard links; one name of the group is replaced, one deleted
        d("hl"), f("hl/a", "hard link group\n", mode="0604", uid=7),
        ln("hl/b", "hl/a", "hardlink"), ln("hl/c", "hl/a", "hardlink"),
        f("del-recreate", "first\n"),
    ]},
    {"compression": "zstd", "entries": rl1 + [
        d("sd", mode="0700"), f("sd/g"),
        ln("chain", "realdir"),
        f("hl/a", "replaced\n"), wh("hl/c"),
        # a link in this layer to a file of the layer below
        ln("hl/x", "hl/b", "hardlink"),
        ln("hl/y", "realdir/f", "hardlink"),
        # deleted and recreated in one layer (other type)
        wh("del-recreate"), ln("del-recreate", "somewhere"),
    ]},
    {"compression": "gzip", "entries": [
        d("chain", mode="0700"), f("chain/new"),
        # file replaced by the same type, metadata only
        f("rep/base0", "base zero\n", mode="0600", uid=1000, gid=1000, mtime=NS),
    ]},
]

# 3. attributes
cap = "01000002" + "20000000" + "00000000" + "00000000" + "00000000"
MiB = 1 << 20
attrs = [
    {"compression": "none", "entries": [
        d("meta", mode="0700", uid=1000, gid=1000, mtime="1500000000.000000001"),
        f("meta/suid", mode="04755"), f("meta/sgid", mode="02711"),
        d("meta/sticky", mode="01777"),
        f("meta/ns", mtime="1234567890.123456789"),
        ln("meta/nslink", "ns", mtime="1600000000.987654321"),
        d("meta/nsdir", mtime="1700000000.5"),
        f("meta/old", mtime=0), f("meta/future", mtime=4102444800),
        f("meta/own", uid=4000000, gid=65534),
        f("meta/xa", xattrs={"user.foo": "bar",
                             "user.bin": {"hex": "00ff00fe"},
                             "trusted.t": "trusted value",
                             "security.capability": {"hex": cap}}),
        d("meta/xdir", xattrs={"user.dir": "yes"}),
        ln("meta/xlink", "xa", xattrs={"trusted.sym": "on a symlink"}),
        f("meta/h1", "linked\n", xattrs={"user.h": "1"}), ln("meta/h2", "meta/h1", "hardlink"),
        ln("meta/h3", "meta/h1", "hardlink"),
        f("meta/empty", ""),
        f("meta/" + "L" * 255, "long name\n"),
        f("meta/ünïcödé name with spaces", "utf-8\n"),
        d("dev"),
        {"path": "dev/null", "type": "chr", "major": 1, "minor": 3, "mode": "0666"},
        {"path": "dev/sda", "type": "blk", "major": 8, "minor": 0, "mode": "0660", "gid": 6},
        {"path": "dev/big", "type": "chr", "major": 254, "minor": 70000},
        {"path": "dev/fifo", "type": "fifo", "mode": "0620"},
        # parents without entries of their own
        f("imp/a/b/file"), f("imp/a/other"),
        d("big"),
        {"path": "big/sparse", "type": "file", "size": 5 * MiB, "seed": 1,
         "runs": [[0, 4096], [MiB, 70000], [3 * MiB + 5, 100000], [5 * MiB - 10, 10]]},
        {"path": "big/zero", "type": "file", "size": 3 * MiB, "fill": "zero"},
        {"path": "big/rand", "type": "file", "size": MiB + 123, "fill": "random", "seed": 2},
    ]},
    {"compression": "gzip", "entries": [
        # metadata changes of existing entries; a directory re-added keeps
        # its children
        d("meta", mode="0755", uid=0, gid=0, mtime="1500000002.5"),
        f("meta/ns", "changed\n", mode="0600", uid=5, gid=6, mtime="1234567891.000000999"),
        f("imp/a/new"),
        f("new-implicit/x/y"),
    ]},
]

spec = {"images": [
    {"tag": "whiteouts", "layers": whiteouts},
    {"tag": "replace", "layers": replace},
    {"tag": "attrs", "layers": attrs},
]}
with open(os.path.join(T, "spec.json"), "w") as fp:
    json.dump(spec, fp, indent=1)
single = {"images": [{"tag": None, "layers": replace}]}
with open(os.path.join(T, "single.json"), "w") as fp:
    json.dump(single, fp)

# Directories no layer has an entry for, per image (plus the root).
for img in spec["images"]:
    explicit, parents = set(), set()
    for layer in img["layers"]:
        for e in layer["entries"]:
            p = e["path"].strip("/").removeprefix("./")
            if e["type"] == "dir" or e["type"] == "opaque":
                explicit.add(p)
            parts = p.split("/")
            for i in range(1, len(parts)):
                parents.add("/".join(parts[:i]))
    with open(os.path.join(T, "implicit-" + img["tag"]), "w") as fp:
        for p in sorted(parents - explicit):
            fp.write(p + "\n")    # For overlay stacks: directories whose attributes come from a layer
    # that has no entry of its own for them (the topmost layer that holds
    # anything at or below the directory has no "dir" entry for it).
    top = {}
    for i, layer in enumerate(img["layers"]):
        for e in layer["entries"]:
            p = e["path"].strip("/").removeprefix("./")
            parts = p.split("/") if p else []
            n = len(parts) if e["type"] in ("dir", "opaque") else len(parts) - 1
            for k in range(0, n + 1):
                q = "/".join(parts[:k])
                explicit_here = e["type"] == "dir" and k == len(parts)
                if top.get(q, (-1,))[0] < i:
                    top[q] = (i, explicit_here)
                elif explicit_here:
                    top[q] = (i, True)
    with open(os.path.join(T, "ovl-implicit-" + img["tag"]), "w") as fp:
        for q, (i, explicit_here) in sorted(top.items()):
            if not explicit_here:
                fp.write((q or ".") + "\n")
EOF
[ -s "$T/spec.json" ] || fail "could not write the fixture spec"
$MKOCI "$T/spec.json" "$T/oci" || fail "mkoci.py failed"
$MKOCI --zstd-as-gzip "$T/spec.json" "$T/ref-oci" || fail "mkoci.py failed"
$MKOCI "$T/single.json" "$T/single" || fail "mkoci.py failed"
tags="whiteouts replace attrs"

# A tree comparison that tolerates what overlayfs changes (inode numbers,
# st_dev, link counts, trusted.overlay.*); for the directories listed in
# LOOSE only the type is compared. Prints differences, exits 1 on any.
overlay_cmp() {	# MOUNT REFERENCE LOOSE
	python3 - "$1" "$2" "$3" <<'EOF'
import hashlib, os, stat, sys
loose = set(open(sys.argv[3]).read().split("\n")) - {""}
def walk(root):
    out = {}
    paths = [root]
    for dp, dns, fns in os.walk(root):
        paths += [os.path.join(dp, n) for n in dns + fns]
    for p in paths:
        if True:
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            x = {}
            for k in os.listxattr(p, follow_symlinks=False):
                if not k.startswith("trusted.overlay."):
                    x[k] = os.getxattr(p, k, follow_symlinks=False)
            rec = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                   st.st_mtime_ns, sorted(x.items())]
            if rel in loose and stat.S_ISDIR(st.st_mode):
                rec = [stat.S_IFMT(st.st_mode), "(attributes not compared)"]
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as fp:
                    for b in iter(lambda: fp.read(1 << 20), b""):
                        h.update(b)
                rec += [st.st_size, h.hexdigest()]
            elif stat.S_ISLNK(st.st_mode):
                rec.append(os.readlink(p))
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                rec.append(st.st_rdev)
            out[rel] = rec
    return out
a, b = walk(sys.argv[1]), walk(sys.argv[2])
bad = 0
for k in sorted(set(a) | set(b)):
    if a.get(k) != b.get(k):
        print("  differs: %s\n    overlay:   %s\n    reference: %s" % (k, a.get(k), b.get(k)))
        bad += 1
sys.exit(1 if bad else 0)
EOF
}

# Self-contained images are mounted by the kernel directly (loop, read-only).
img_mount() {	# IMAGE DIR
	mount -t erofs -o ro,loop "$1" "$2" || fail "mounting $1 failed"
}

# The reference's root and implicit parent directories get the mtimes of the
# same directories in IMAGE (see the header).
align_mtimes() {	# IMAGE-MOUNT REFERENCE TAG
	local p
	touch -h -d "@$(stat -c %.9Y "$1")" "$2"
	while read -r p; do
		[ -d "$2/$p" ] || fail "$3: implicit directory $p missing from the reference"
		[ -d "$1/$p" ] || fail "$3: implicit directory $p missing from the image"
		touch -h -d "@$(stat -c %.9Y "$1/$p")" "$2/$p"
	done < "$T/implicit-$3"
}

mkdir -p "$T/m"
for tag in $tags; do
	ref=$T/ref-$tag/rootfs
	umoci unpack --image "$T/ref-oci:$tag" "$T/ref-$tag" >/dev/null 2>"$T/umoci.err" ||
		fail "$tag: umoci unpack failed: $(cat "$T/umoci.err")"

	echo "$tag: convert (flatten) an OCI layout with gzip, zstd and plain layers"
	"$MKIMG" convert --quiet -o "$T/$tag.erofs" "oci:$T/oci:$tag" ||
		fail "$tag: mkimg convert failed"
	img_mount "$T/$tag.erofs" "$T/m"
	align_mtimes "$T/m" "$ref" "$tag"
	umount "$T/m"
	check_image "$T/$tag.erofs" "$ref"

	echo "$tag: converting again gives identical bytes"
	"$MKIMG" convert --quiet -o "$T/$tag-2.erofs" "oci:$T/oci:$tag" ||
		fail "$tag: second convert failed"
	cmp "$T/$tag.erofs" "$T/$tag-2.erofs" || fail "$tag: the second conversion differs"
	rm -f "$T/$tag-2.erofs"

	echo "$tag: plain layer files (tar, tar.gz, tar.zst) as the source"
	$MKOCI --export-layers "$T/spec.json" "$tag" "$T/files-$tag" > "$T/files.list" ||
		fail "$tag: exporting layers failed"
	mapfile -t files < "$T/files.list"
	"$MKIMG" convert --quiet -o "$T/$tag-files.erofs" "${files[@]}" ||
		fail "$tag: convert of layer files failed"
	check_image "$T/$tag-files.erofs" "$ref"
	rm -f "$T/$tag-files.erofs"

	echo "$tag: --per-layer, layer images stacked with overlayfs"
	"$MKIMG" convert --per-layer --quiet -o "$T/pl-$tag" "oci:$T/oci:$tag" ||
		fail "$tag: convert --per-layer failed"
	nl=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(len([i for i in s["images"] if i["tag"]==sys.argv[2]][0]["layers"]))' "$T/spec.json" "$tag")
	lower=
	for ((i = 0; i < nl; i++)); do
		li=$(printf '%s/pl-%s/layer-%03d.erofs' "$T" "$tag" "$i")
		[ -f "$li" ] || fail "$tag: $li missing"
		"$ORACLE/fsck.erofs" "$li" >"$T/fsck.out" 2>&1 ||
			fail "$tag: fsck.erofs $li: $(cat "$T/fsck.out")"
		mkdir -p "$T/l$i"
		img_mount "$li" "$T/l$i"
		lower=$T/l$i${lower:+:$lower}
	done
	[ ! -e "$(printf '%s/pl-%s/layer-%03d.erofs' "$T" "$tag" "$nl")" ] ||
		fail "$tag: more layer images than layers"
	mkdir -p "$T/ovl"
	mount -t overlay overlay -o "ro,lowerdir=$lower" "$T/ovl" || fail "$tag: overlay mount failed"
	# The overlay's root and implicit directories come from the top layer
	# that has them; align the reference again (see the header).
	align_mtimes "$T/ovl" "$ref" "$tag"
	rc=0
	overlay_cmp "$T/ovl" "$ref" "$T/ovl-implicit-$tag" > "$T/ovl.diff" || rc=$?
	umount "$T/ovl"
	for ((i = 0; i < nl; i++)); do umount "$T/l$i"; done
	[ "$rc" -eq 0 ] || fail "$tag: overlay of the layer images differs from umoci's rootfs:
$(head -40 "$T/ovl.diff")"
	rm -rf "$T/pl-$tag"
done

echo "replace: data in a blob (--blob)"
"$MKIMG" convert --quiet --blob "$T/r.blob" -o "$T/rb.erofs" "oci:$T/oci:replace" ||
	fail "convert --blob failed"
check_image "$T/rb.erofs" "$T/ref-replace/rootfs" "$T/r.blob"

echo "replace: the manifest chosen by digest, and a layout with one manifest"
digest=$(python3 -c 'import json,sys; print([m["digest"] for m in json.load(open(sys.argv[1]))["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "replace"][0])' "$T/oci/index.json")
"$MKIMG" convert --quiet -o "$T/rd.erofs" "oci:$T/oci@$digest" || fail "convert oci:PATH@DIGEST failed"
cmp "$T/rd.erofs" "$T/replace.erofs" || fail "oci:PATH@DIGEST gives a different image than oci:PATH:TAG"
"$MKIMG" convert --quiet -o "$T/rs.erofs" "oci:$T/single" || fail "convert oci:PATH (one manifest) failed"
cmp "$T/rs.erofs" "$T/replace.erofs" || fail "oci:PATH gives a different image than oci:PATH:TAG"
"$MKIMG" convert --quiet --platform linux/amd64 -o "$T/rp.erofs" "oci:$T/oci:replace" ||
	fail "convert --platform linux/amd64 failed"
cmp "$T/rp.erofs" "$T/replace.erofs" || fail "--platform changed the image"
echo "PASS: convert"
