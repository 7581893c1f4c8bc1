#!/bin/bash
# mkimg analyze (no root): two OCI images with known sharing (a layer shared
# by digest, a file in both, a file changed in one 64 KiB unit, a duplicate
# inside one layer, files a later layer's whiteout or opaque directory
# deletes, a hard link, a sparse file). Its
# figures are checked against a count made here in Python from the tars
# (as ../shared/corpus/redundancy.py counts), and its store prediction
# against a conversion into a fresh store; it writes nothing; bad input is
# one line.
. "$(dirname "$0")/lib.sh"
require_oracle

python3 - "$T" <<'EOF'
import base64, json, os, random, sys
t = sys.argv[1]
rnd = random.Random(7)
def rb(n): return bytes(rnd.getrandbits(8) for _ in range(n))
a = rb(300000)
big = rb(1 << 20)
big2 = bytearray(big); big2[3 * 65536 + 100] ^= 0xff        # one unit differs
big3 = bytearray(big); big3[7 * 65536 + 5] ^= 0xff          # another, in the same layer as big
small = rb(70000)
def f(path, data): return {"path": path, "type": "file", "content_b64": base64.b64encode(bytes(data)).decode()}
base = {"compression": "gzip", "entries": [
    {"path": "etc", "type": "dir"},
    f("etc/a.bin", a), f("etc/a-copy.bin", a), f("etc/big.bin", big), f("etc/big3.bin", big3),
    f("etc/todel.bin", rb(200000)), f("etc/small.bin", small),
    {"path": "etc/sparse.bin", "type": "file", "size": 524288, "fill": "random", "seed": 3,
     "runs": [[0, 4096]]},
    {"path": "etc/text", "type": "file", "content": "hello\n"},
    {"path": "etc/a-link", "type": "hardlink", "target": "etc/a.bin"},
    {"path": "var", "type": "dir"}, f("var/x.bin", rb(20000))]}
spec = {"images": [
    {"tag": "one", "layers": [base, {"compression": "none", "entries": [
        {"path": "etc/todel.bin", "type": "whiteout"}, f("etc/c.bin", rb(150000))]}]},
    {"tag": "two", "layers": [base, {"compression": "zstd", "entries": [
        {"path": "var", "type": "opaque"},
        {"path": "opt", "type": "dir"}, f("opt/big.bin", big2), f("opt/a.bin", a), f("opt/d.bin", rb(5000))]}]}]}
json.dump(spec, open(os.path.join(t, "spec.json"), "w"))
EOF
python3 "$TOOLS/mkoci.py" "$T/spec.json" "$T/oci" >/dev/null || fail "mkoci.py failed"
# umoci 0.4 cannot read zstd: its reference unpacks a gzip twin
python3 "$TOOLS/mkoci.py" --zstd-as-gzip "$T/spec.json" "$T/ref-oci" >/dev/null || fail "mkoci.py failed"
python3 "$TOOLS/mkoci.py" --export-layers "$T/spec.json" two "$T/layers-two" >/dev/null ||
	fail "mkoci.py --export-layers failed"

# the figures, counted here from the layout's tars
python3 - "$T/oci" >"$T/expect.json" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
def blob(dg): return os.path.join(d, "blobs", "sha256", dg.split(":", 1)[1])
def tar_bytes(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b": return gzip.decompress(raw)
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        import subprocess
        return subprocess.run(["zstd", "-dc"], input=raw, capture_output=True, check=True).stdout
    return raw
sizes = [4096, 16384, 65536, 1048576]
images, layers, fsize, chunks, fimg = [], {}, {}, {s: {} for s in sizes}, {}
fchunks = {}
for i, m in enumerate(sorted(idx["manifests"], key=lambda m: m["annotations"]["org.opencontainers.image.ref.name"])):
    man = json.load(open(blob(m["digest"])))
    images.append([l["digest"] for l in man["layers"]])
for i, ls in enumerate(images):
    for dg in ls:
        if dg not in layers:
            files = []
            with tarfile.open(fileobj=io.BytesIO(tar_bytes(blob(dg)))) as tf:
                for e in tf:
                    if not e.isreg() or not e.size: continue
                    data = tf.extractfile(e).read()
                    h = hashlib.sha256(data).digest()
                    files.append((h, len(data)))
                    if h in fsize: continue
                    fsize[h] = len(data)
                    for s in sizes:
                        ks = []
                        for o in range(0, len(data), s):
                            k = hashlib.sha256(data[o:o + s]).digest()
                            chunks[s][k] = len(data[o:o + s]); ks.append(k)
                        fchunks[(h, s)] = ks
            layers[dg] = files
        for h, _ in layers[dg]:
            fimg.setdefault(h, set()).add(i)
out = {"total": sum(n for ls in images for dg in ls for _, n in layers[dg]),
       "layers": sum(n for fs in layers.values() for _, n in fs),
       "files": sum(fsize.values()), "distinct_layers": len(layers),
       "chunks": {str(s): sum(chunks[s].values()) for s in sizes},
       "pc_files": sum(1 for v in fimg.values() if len(v) > 1),
       "pc_bytes": sum(fsize[h] for h, v in fimg.items() if len(v) > 1)}
# the pair matrix at 4 KiB: share of image a's distinct chunks in image b
sets = []
for i in range(len(images)):
    s = set()
    for h, v in fimg.items():
        if i in v: s.update(fchunks[(h, 4096)])
    sets.append(s)
out["matrix"] = [[sum(chunks[4096][k] for k in sa & sb) / sum(chunks[4096][k] for k in sa)
                  for sb in sets] for sa in sets]
json.dump(out, sys.stdout)
EOF

# it writes nothing: not in the layout, its working directory or TMPDIR
snap() { find "$T/oci" "$T/cwd" "$T/tmp" -printf '%p %s %T@\n' | sort; }
mkdir -p "$T/cwd" "$T/tmp"
snap >"$T/snap.before"
(cd "$T/cwd" && TMPDIR=$T/tmp "$MKIMG" analyze --json oci:"$T/oci":one oci:"$T/oci":two) \
	>"$T/an.json" 2>"$T/an.err" || fail "analyze failed: $(cat "$T/an.err")"
[ ! -s "$T/an.err" ] || fail "analyze wrote to stderr without a terminal: $(cat "$T/an.err")"
snap >"$T/snap.after"
cmp -s "$T/snap.before" "$T/snap.after" || fail "analyze changed files: $(diff "$T/snap.before" "$T/snap.after")"

python3 - "$T/an.json" "$T/expect.json" <<'EOF' || fail "analyze figures differ from the count made from the tars"
import json, sys
a, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
def eq(what, got, want):
    if got != want: sys.exit(f"{what}: analyze says {got}, the tars say {want}")
eq("total", a["total_bytes"], e["total"])
eq("distinct layers bytes", a["layer_dedup_bytes"], e["layers"])
eq("distinct layers", a["distinct_layers"], e["distinct_layers"])
eq("whole files", a["file_dedup_bytes"], e["files"])
for k, s in (("4K", "4096"), ("16K", "16384"), ("64K", "65536"), ("1M", "1048576")):
    eq(k + " chunks", a["chunk_dedup_bytes"][k], e["chunks"][s])
for i in range(2):
    for j in range(2):
        if abs(a["matrix"][i][j] - e["matrix"][i][j]) > 1e-3:
            sys.exit(f"matrix[{i}][{j}]: {a['matrix'][i][j]} vs {e['matrix'][i][j]}")
# what the images share must show: the base layer, the copy of a.bin, the
# unchanged units of big.bin, and the whole-file duplicate in one layer
# (big3.bin's units equal to big.bin's are not found: the registry has the
# units of earlier conversions only, and the per-image blob bytes below
# would differ)
im = a["images"]
eq("image 1 new layers", im[0]["new_layers"], 2)
eq("image 2 new layers", im[1]["new_layers"], 1)
if not (e["files"] < e["layers"] < e["total"]): sys.exit("fixture has no sharing")
if not (a["chunk_dedup_bytes"]["64K"] < a["file_dedup_bytes"]): sys.exit("no chunk sharing seen")
if a["store"]["hole_bytes"] != 7 * 65536: sys.exit(f"holes: {a['store']['hole_bytes']}")
if a["store"]["unit_hit_bytes"] != 15 * 65536: sys.exit(f"unit hits: {a['store']['unit_hit_bytes']}")
# image two: its base layer (replayed), opt/a.bin whole, 15 units of opt/big.bin
base = im[1]["bytes"] - im[1]["layer_new_bytes"]
eq("image 2 shared", im[1]["shared_bytes"], base + 300000 + 15 * 65536)
# image one: a-copy.bin found whole inside its own conversion
eq("image 1 shared", im[0]["shared_bytes"], 300000)
print("ok: figures agree with the tars:", {k: a[k] for k in ("total_bytes", "layer_dedup_bytes", "file_dedup_bytes")}, a["chunk_dedup_bytes"])
EOF

# the prediction against a conversion into a fresh store, image by image
S=$T/store
blob_total() { find "$S/blobs/sha256" -type f -name '[0-9a-f]*' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
prev=0
for i in 0 1; do
	tag=$([ $i = 0 ] && echo one || echo two)
	"$MKIMG" convert -q --no-fsync --store "$S" --name "$tag" oci:"$T/oci":$tag ||
		fail "convert $tag failed"
	now=$(blob_total)
	python3 - "$T/an.json" $i $((now - prev)) <<'EOF' || fail "analyze's prediction for image $i is off"
import json, sys
a = json.load(open(sys.argv[1])); i = int(sys.argv[2]); got = int(sys.argv[3])
want = a["images"][i]["new_bytes"]
if abs(want - got) > got / 100:
    sys.exit(f"image {i}: analyze predicts {want} new blob bytes, the store wrote {got}")
print(f"ok: image {i}: predicted {want} new blob bytes, the store wrote {got}")
EOF
	prev=$now
	j=$("$MKIMG" inspect --store "$S" --json "$tag")
	img=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["image"])' "$j")
	mapfile -t devs < <(python3 -c 'import json,sys; [print(d) for d in json.loads(sys.argv[1])["devices"]]' "$j")
	rootless=()
	is_root || rootless=(--rootless)
	umoci unpack "${rootless[@]}" --image "$T/ref-oci:$tag" "$T/ref-$tag" >/dev/null 2>"$T/umoci.err" ||
		fail "umoci unpack $tag: $(cat "$T/umoci.err")"
	if is_root; then
		# umoci gives the (implicit) root the time of the unpack
		mkdir -p "$T/m"
		"$MKIMG" mount --store "$S" "$tag" "$T/m"
		touch -h -d "@$(stat -c %Y "$T/m")" "$T/ref-$tag/rootfs"
		"$MKIMG" umount "$T/m"
	fi
	check_image "$img" "$T/ref-$tag/rootfs" "${devs[@]}"
	# the image's devices are the blobs analyze said its tree uses
	python3 - "$T/an.json" $i ${#devs[@]} <<'EOF' || fail "analyze's blob count for image $i is off"
import json, sys
a = json.load(open(sys.argv[1])); i, n = int(sys.argv[2]), int(sys.argv[3])
if a["images"][i]["blobs"] != n:
    sys.exit(f"image {i}: analyze says {a['images'][i]['blobs']} blobs, the image has {n} devices")
EOF
done
# the trees against umoci's unpack: data they show, content both show
python3 - "$T/an.json" "$T/ref-one/rootfs" "$T/ref-two/rootfs" <<'EOF' || fail "analyze's tree figures"
import hashlib, json, os, stat, sys
a = json.load(open(sys.argv[1]))
trees = []
for root in sys.argv[2:]:
    files, seen = {}, set()
    for dp, dns, fns in os.walk(root):
        for n in fns:
            st = os.lstat(os.path.join(dp, n))
            if not stat.S_ISREG(st.st_mode) or not st.st_size or st.st_ino in seen: continue
            seen.add(st.st_ino)
            files[os.path.join(dp, n)] = (hashlib.sha256(open(os.path.join(dp, n), "rb").read()).digest(), st.st_size)
    trees.append(files)
for i, t in enumerate(trees):
    im = a["images"][i]
    want = (len(t), sum(n for _, n in t.values()))
    if (im["tree_files"], im["tree_bytes"]) != want:
        sys.exit(f"image {i}: analyze shows {im['tree_files']} files, {im['tree_bytes']} bytes; umoci {want}")
c = [{h: n for h, n in t.values()} for t in trees]
both = set(c[0]) & set(c[1])
pc = a["page_cache"]
if (pc["files"], pc["bytes"]) != (len(both), sum(c[0][h] for h in both)):
    sys.exit(f"page cache: {pc} vs {len(both)} contents, {sum(c[0][h] for h in both)} bytes")
print("ok: tree files and bytes, and content in both trees, as umoci unpacks them:", pc)
EOF
python3 - "$T/an.json" "$(blob_total)" <<'EOF' || fail "analyze's store total is off"
import json, sys
a = json.load(open(sys.argv[1])); got = int(sys.argv[2]); want = a["store"]["blob_bytes"]
if abs(want - got) > got / 100:
    sys.exit(f"analyze predicts {want} blob bytes, the store holds {got}")
print(f"ok: predicted {want} blob bytes, the store holds {got}")
EOF

# store images: their trees, read back from the blobs, give the same tree
# figures; a file whose blob bytes changed is refused by its fingerprint
"$MKIMG" analyze --json --store "$S" store:one store:two >"$T/st.json" ||
	fail "analyze of store images failed"
python3 - "$T/an.json" "$T/st.json" <<'EOF' || fail "store images analyze differently"
import json, sys
a, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for i in range(2):
    x, y = a["images"][i], s["images"][i]
    assert (y["tree_files"], y["tree_bytes"]) == (x["tree_files"], x["tree_bytes"]), (x, y)
    assert (y["files"], y["bytes"]) == (x["tree_files"], x["tree_bytes"]), y
assert s["page_cache"] == a["page_cache"], (s["page_cache"], a["page_cache"])
assert s["distinct_layers"] == 2 and s["layers"] == 2, s
print("ok: store images show the trees the OCI images do:", s["page_cache"])
EOF
cp -a "$S" "$T/store-bad"
blob=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["devices"][0])' \
	"$("$MKIMG" inspect --store "$T/store-bad" --json one)")
chmod u+w "$blob"
printf '\001' | dd of="$blob" bs=1 seek=100 count=1 conv=notrunc status=none
# a layer file is an image of one layer; the human report has the table
"$MKIMG" analyze "$T"/layers-two/layer-000.tar.gz "$T"/layers-two/layer-001.tar* >"$T/an.txt" ||
	fail "analyze of layer files failed"
grep -q 'fixed 64K chunks' "$T/an.txt" || fail "no chunk row: $(cat "$T/an.txt")"
grep -q '^2 images, 2 layers (2 distinct)' "$T/an.txt" || fail "layer files: $(head -1 "$T/an.txt")"

# the same layout as an oci-archive: read in place, the same figures
tar -C "$T/oci" -cf "$T/arch.tar" .
"$MKIMG" analyze --json oci-archive:"$T/arch.tar":one oci-archive:"$T/arch.tar":two >"$T/ar.json" ||
	fail "analyze of an oci-archive failed"
python3 - "$T/an.json" "$T/ar.json" <<'EOF' || fail "oci-archive figures differ from oci:"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("total_bytes", "layer_dedup_bytes", "file_dedup_bytes", "chunk_dedup_bytes", "store",
          "page_cache", "matrix", "distinct_layers"):
    assert a[k] == b[k], (k, a[k], b[k])
print("ok: oci-archive: the same figures")
EOF

# shifted bytes: fixed chunks find nothing, content-defined chunks most
mkdir -p "$T/shift/a" "$T/shift/b"
head -c 3000000 /dev/urandom >"$T/shift/a/f"
{ printf 'a few inserted bytes'; cat "$T/shift/a/f"; } >"$T/shift/b/f"
tar -C "$T/shift/a" -cf "$T/shift/a.tar" .
tar -C "$T/shift/b" -cf "$T/shift/b.tar" .
"$MKIMG" analyze --json --cdc "$T/shift/a.tar" "$T/shift/b.tar" >"$T/cdc.json" || fail "analyze --cdc"
"$MKIMG" analyze --json "$T/shift/a.tar" "$T/shift/b.tar" >"$T/nocdc.json" || fail "analyze"
python3 - "$T/cdc.json" "$T/nocdc.json" <<'EOF' || fail "--cdc figures"
import json, sys
c, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
tot = c["total_bytes"]
assert c["chunk_dedup_bytes"]["64K"] == tot, c["chunk_dedup_bytes"]
for k in ("16K", "64K"):
    b = c["cdc_dedup"][k]["bytes"]
    assert tot / 2 <= b < tot * 0.6, (k, b, tot)
assert "cdc_dedup" not in n
for k in ("total_bytes", "file_dedup_bytes", "chunk_dedup_bytes", "store", "matrix"):
    assert c[k] == n[k], k
print("ok: --cdc finds the shifted file again:", {k: v["bytes"] for k, v in c["cdc_dedup"].items()}, "of", tot)
EOF

# --lz4: random data stays plain, text shrinks; nothing else changes
mkdir -p "$T/lz/r" "$T/lz/t"
head -c 1000000 /dev/urandom >"$T/lz/r/f"
python3 -c 'import sys; sys.stdout.write("".join(f"line {i}: the quick brown fox\n" for i in range(40000)))' >"$T/lz/t/f"
tar -C "$T/lz/r" -cf "$T/lz/r.tar" .
tar -C "$T/lz/t" -cf "$T/lz/t.tar" .
"$MKIMG" analyze --json --lz4 "$T/lz/r.tar" >"$T/lzr.json" || fail "analyze --lz4"
"$MKIMG" analyze --json --lz4 "$T/lz/t.tar" >"$T/lzt.json" || fail "analyze --lz4"
"$MKIMG" analyze --json "$T/lz/t.tar" >"$T/lzn.json" || fail "analyze"
python3 - "$T/lzr.json" "$T/lzt.json" "$T/lzn.json" <<'EOF' || fail "--lz4 figures"
import json, sys
r, t, n = (json.load(open(f)) for f in sys.argv[1:])
assert r["store"]["lz4_bytes"] == r["store"]["blob_bytes"], r["store"]
assert t["store"]["lz4_bytes"] < t["store"]["blob_bytes"] / 4, t["store"]
assert "lz4_bytes" not in n["store"] and n["store"]["blob_bytes"] == t["store"]["blob_bytes"]
print("ok: --lz4: random", r["store"]["lz4_bytes"], "of", r["store"]["blob_bytes"],
      "text", t["store"]["lz4_bytes"], "of", t["store"]["blob_bytes"])
EOF

# an image whose files lie in more blobs than a store image may use: said
mkdir -p "$T/many/all"
for i in $(seq 1 33); do
	mkdir -p "$T/many/$i"
	printf 'file %s\n' "$i" >"$T/many/$i/f$i"
	cp "$T/many/$i/f$i" "$T/many/all/"
	tar -C "$T/many/$i" -cf "$T/many/l$i.tar" .
done
tar -C "$T/many/all" -cf "$T/many/all.tar" .
"$MKIMG" analyze "$T"/many/l{1..33}.tar "$T/many/all.tar" >"$T/many.txt" || fail "analyze of 34 images"
grep -q '^Image 34 would use 33 blobs, more than a store image may by default (32' "$T/many.txt" ||
	fail "no word on the blob limit: $(grep -n blobs "$T/many.txt" | head -3)"

# an estimate from one key in 4: files exact, chunks near
"$MKIMG" analyze --json --sample 4 oci:"$T/oci":one oci:"$T/oci":two >"$T/est.json" ||
	fail "analyze --sample failed"
python3 - "$T/an.json" "$T/est.json" <<'EOF' || fail "--sample"
import json, sys
a, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert e["sample"] == 4 and a["sample"] == 1, (e["sample"], a["sample"])
assert e["file_dedup_bytes"] == a["file_dedup_bytes"]
x, y = e["chunk_dedup_bytes"]["4K"], a["chunk_dedup_bytes"]["4K"]
assert abs(x - y) < y * 0.25, (x, y)
print("ok: --sample 4:", x, "for", y)
EOF

# progress on a terminal only, and not with -q
if command -v script >/dev/null; then
	script -qfec "$MKIMG analyze $T/layers-two/layer-000.tar.gz" /dev/null >"$T/tty.out" </dev/null
	grep -q $'\rlayer 1/1: ' "$T/tty.out" || fail "no progress line on a terminal: $(od -c "$T/tty.out" | head -3)"
	script -qfec "$MKIMG analyze -q $T/layers-two/layer-000.tar.gz" /dev/null >"$T/tty.out" </dev/null
	! grep -q $'\rlayer' "$T/tty.out" || fail "a progress line with -q"
	echo "ok: progress on a terminal, none with -q"
fi

# bad input: one line, exit 1; bad usage: exit 2
expect_one_line 1 "^mkimg: .*$T/nothere" analyze oci:"$T/nothere"
expect_one_line 1 "^mkimg: .*nofile.*No such file" analyze "$T/nofile"
expect_one_line 1 "^mkimg: .*is an OCI image layout: use oci:" analyze "$T/oci"
cat >"$T/bad.json" <<'EOF'
{"images": [{"tag": "x", "broken": {"layer_digest": true},
  "layers": [{"compression": "gzip", "entries": [{"path": "f", "type": "file", "content": "x"}]}]}]}
EOF
python3 "$TOOLS/mkoci.py" "$T/bad.json" "$T/bad" >/dev/null || fail "mkoci.py bad"
expect_one_line 1 '^mkimg: .*(digest|sha256)' analyze oci:"$T/bad"
printf 'not a tar at all, just some text\n' >"$T/notatar"
expect_one_line 1 "^mkimg: .*notatar.*tar" analyze "$T/notatar"
# a 10 KiB tar declaring a 1 TiB sparse file: holes are hashed, so bounded
mkdir -p "$T/sp"
truncate -s 1T "$T/sp/sparse" && echo hi >>"$T/sp/sparse"
tar --sparse -C "$T/sp" -cf "$T/sp.tar" . || fail "tar --sparse"
start=$SECONDS
expect_one_line 1 "^mkimg: .*sp.tar: tar: sparse: sparse files declare more than 1.0 GiB of holes" analyze "$T/sp.tar"
expect_one_line 1 "^mkimg: .*more than 2.0 GiB of holes" analyze --max-holes 2G "$T/sp.tar"
[ $((SECONDS - start)) -le 30 ] || fail "the sparse tar took $((SECONDS - start)) s"
expect_one_line 2 "^mkimg: analyze: .*see 'mkimg analyze --help'" analyze
expect_one_line 1 "^mkimg: image one: file [0-9]+: its data does not match its fingerprint" \
	analyze --store "$T/store-bad" store:one
expect_one_line 1 "^mkimg: .*nothere" analyze --store "$S" store:nothere
expect_one_line 2 "^mkimg: analyze: --sample" analyze --sample 0 "$T/notatar"
expect_one_line 2 "^mkimg: analyze: --matrix-chunk" analyze --matrix-chunk 8K "$T/notatar"
echo "ok: bad input is one line"
