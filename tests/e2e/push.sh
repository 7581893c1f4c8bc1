#!/usr/bin/env bash
# mkimg push into an OCI image layout directory, and mkimg pull out of it:
#   * the artifact is plain OCI: every blob has its digest and size, the
#     metadata image with its blobs (taken from the layout, in the order of
#     the manifest's layers) passes fsck.erofs 1.9 and mounts equal to its
#     source; skopeo reads the manifest and copies the artifact;
#   * a second image that shares most data copies only its new blobs; a
#     push again copies nothing and gives the same manifest digest; a tag
#     moves, other entries of index.json stay as they were;
#   * four pushes at once into one layout: every tag is there; kill -9
#     during a push leaves only whole blobs, and the next push completes;
#   * pull into a fresh store: the images mount equal to their sources,
#     fsck --full passes, only missing blobs are copied, a later conversion
#     shares the pulled data; four pulls at once; kill -9 during a pull,
#     then pull again; a layout whose blob lies: nothing registered;
#   * bad input: one mkimg: line, exit 1, nothing written outside what the
#     push owns (a non-layout directory, a symlink, a bad tag, a garbage
#     index.json, a reference of no kind, a missing image, a store blob
#     whose bytes changed: refused, nothing tagged, no temporary file left).
. "$(dirname "$0")/lib.sh"
require_root
require_oracle

S=$T/store
L=$T/lay
# manifest_of LAYOUT TAG: the manifest's blob path
manifest_of() {
	local d
	d=$(python3 - "$1" "$2" <<'EOF'
import json, sys
idx = json.load(open(sys.argv[1] + "/index.json"))
m = [e for e in idx["manifests"]
     if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == sys.argv[2]]
assert len(m) == 1, m
print(m[0]["digest"].split(":")[1])
EOF
) || fail "tag $2 not once in $1/index.json"
	echo "$1/blobs/sha256/$d"
}
# check_artifact LAYOUT TAG REF: digests, sizes, then the image from the layout
check_artifact() {
	local man devs=()
	man=$(manifest_of "$1" "$2")
	python3 - "$1" "$man" >"$T/art" <<'EOF' || fail "artifact $2 in $1"
import hashlib, json, os, sys
lay, man = sys.argv[1], sys.argv[2]
m = json.load(open(man))
assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
assert m["artifactType"] == "application/vnd.mkimg.image.v1"
assert m["config"]["mediaType"] == "application/vnd.mkimg.image.config.v1+json"
descs = [m["config"]] + m["layers"]
for d in descs:
    p = lay + "/blobs/sha256/" + d["digest"].split(":")[1]
    b = open(p, "rb").read()
    assert len(b) == d["size"], (p, len(b), d["size"])
    assert "sha256:" + hashlib.sha256(b).hexdigest() == d["digest"], p
cfg = json.load(open(lay + "/blobs/sha256/" + m["config"]["digest"].split(":")[1]))
assert cfg["mkimgArtifact"] == 1 and cfg["blockSize"] == 512
assert cfg["image"] == m["layers"][0]["digest"]
assert m["layers"][0]["mediaType"] == "application/vnd.mkimg.erofs.metadata.v1"
blobs = [d for d in m["layers"][1:] if d["mediaType"] == "application/vnd.mkimg.erofs.blob.v1"]
recs = m["layers"][1 + len(blobs):]
assert [d["digest"] for d in cfg["devices"]] == [d["digest"] for d in blobs]
for i, d in enumerate(blobs):
    assert d["annotations"]["io.mkimg.device"] == str(i + 1)
# then one layer record per layer of the image, of that diff_id
assert [d["annotations"]["io.mkimg.diff-id"] for d in recs] == cfg["diffIds"], (recs, cfg)
for d in recs:
    assert d["mediaType"] == "application/vnd.mkimg.layer-record.v1+zstd"
for d in m["layers"][:1 + len(blobs)]:
    print(lay + "/blobs/sha256/" + d["digest"].split(":")[1])
EOF
	mapfile -t devs <"$T/art"
	check_image "${devs[0]}" "$3" "${devs[@]:1}"
}
no_tmp() {	# no_tmp LAYOUT WHAT
	if find "$1" -name '.mkimg-tmp-*' | grep -q .; then
		fail "$2: temporary files left in $1"
	fi
}

# --- fixtures: trees a and b, b shares most of a ---------------------------
ab_trees
for v in a b; do
	"$MKIMG" convert -q --no-fsync --store "$S" --name "$v" "$T/$v.tar"
done

# --- the artifact ------------------------------------------------------------
"$MKIMG" push --json --store "$S" a "oci:$L" >"$T/p1.json" || fail "push a"
[ "$(json "$T/p1.json" 'j["tag"]')" = a ] || fail "push a: the tag is not the name"
[ "$(json "$T/p1.json" 'j["copied"] == j["blobs"] and j["bytes_copied"] == j["bytes"]')" = True ] ||
	fail "push a into a new layout: not everything copied: $(cat "$T/p1.json")"
[ "$(json "$L/oci-layout" 'j["imageLayoutVersion"]')" = 1.0.0 ] || fail "no oci-layout"
check_artifact "$L" a "$T/ref-a"
echo "ok: pushed a: $(cat "$T/p1.json")"

# b shares a's files but one: only its new blob, its image and config move
"$MKIMG" push --json --store "$S" b "oci:$L:b-1" >"$T/p2.json" || fail "push b"
python3 - "$T/p2.json" "$S" "$MKIMG" <<'EOF' || fail "push b copied more than b's own blobs"
import json, subprocess, sys, os
j = json.load(open(sys.argv[1]))
def devices(name):
    return json.loads(subprocess.check_output([sys.argv[3], "inspect", "--json",
                                               "--store", sys.argv[2], name]))["devices"]
b, a = devices("b"), devices("a")
assert len(b) == 2 and len(set(a) & set(b)) == 1, (a, b)
assert j["blobs"] == 3 and j["copied"] == 2, j        # a's blob is there already
shared = sum(os.path.getsize(d) for d in set(a) & set(b))
assert j["bytes"] - j["bytes_copied"] == shared, (j, shared)
EOF
check_artifact "$L" b-1 "$T/ref-b"
echo "ok: pushed b: $(cat "$T/p2.json")"

# again: nothing copied, the same manifest; the layout's files unchanged
(cd "$L" && find . -type f -not -name index.json -printf '%p %s %T@\n' | sort) >"$T/before"
"$MKIMG" push --json --store "$S" a "oci:$L" >"$T/p3.json" || fail "push a again"
[ "$(json "$T/p3.json" 'j["copied"]')" = 0 ] || fail "push a again copied: $(cat "$T/p3.json")"
[ "$(json "$T/p3.json" 'j["manifest"]')" = "$(json "$T/p1.json" 'j["manifest"]')" ] ||
	fail "push a again: another manifest digest"
(cd "$L" && find . -type f -not -name index.json -printf '%p %s %T@\n' | sort) >"$T/after"
diff "$T/before" "$T/after" ||
	fail "push a again changed blobs of the layout"

# skopeo (containers/image) reads and copies the artifact
skopeo inspect --raw "oci:$L:b-1" >"$T/raw" || fail "skopeo inspect --raw"
cmp "$T/raw" "$(manifest_of "$L" b-1)" || fail "skopeo reads another manifest"
skopeo copy -q "oci:$L:b-1" "oci:$T/lay2:copy" || fail "skopeo copy of the artifact"
check_artifact "$T/lay2" copy "$T/ref-b"
echo "ok: skopeo inspects and copies the artifact"

# a tag moves; entries mkimg did not write stay
python3 - "$L/index.json" <<'EOF'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": "sha256:" + "0" * 64, "size": 1,
                       "annotations": {"org.opencontainers.image.ref.name": "foreign"},
                       "platform": {"architecture": "arm64", "os": "linux"}})
j["annotations"] = {"kept": "yes"}
json.dump(j, open(p, "w"))
EOF
"$MKIMG" push -q --store "$S" b "oci:$L:a" >"$T/q.out" || fail "push b as a"
[ ! -s "$T/q.out" ] || fail "push -q printed: $(cat "$T/q.out")"
python3 - "$L/index.json" "$(json "$T/p2.json" 'j["manifest"]')" <<'EOF' || fail "index.json after the tag moved"
import json, sys
j = json.load(open(sys.argv[1]))
tags = [e.get("annotations", {}).get("org.opencontainers.image.ref.name") for e in j["manifests"]]
assert sorted(tags) == ["a", "b-1", "foreign"], tags
a = [e for e in j["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == "a"][0]
assert a["digest"] == sys.argv[2], a
f = [e for e in j["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == "foreign"][0]
assert f["platform"] == {"architecture": "arm64", "os": "linux"} and j["annotations"] == {"kept": "yes"}
EOF
no_tmp "$L" "pushes"
echo "ok: tags move, foreign entries stay"

# ls --remote reads the artifacts in place (the foreign entry is not one)
"$MKIMG" ls --remote "oci:$L" --json >"$T/ls.json" || fail "ls --remote"
"$MKIMG" inspect --json --store "$S" b >"$T/ib0.json"
python3 - "$T/ls.json" "$T/ib0.json" "$(json "$T/p2.json" 'j["manifest"]')" <<'EOF' || fail "ls --remote"
import json, os, sys
ls, ib, man = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
assert sorted(e["tag"] for e in ls) == ["a", "b-1"], ls
for e in ls:
    assert e["manifest"] == man, e            # a moved to b's manifest
    assert [d["digest"][7:] for d in e["devices"]] == [os.path.basename(p) for p in ib["devices"]]
    assert [d["size"] for d in e["devices"]] == [os.path.getsize(p) for p in ib["devices"]]
    assert e["image"][7:] == os.path.basename(ib["image"]) and e["files"] == ib["files"], e
    assert e["block_size"] == 512 and e["layout"] == "erofs-chunked", e
EOF
"$MKIMG" ls --remote "oci:$L:b-1" >"$T/ls.txt" || fail "ls --remote TAG"
[ "$(wc -l <"$T/ls.txt")" = 2 ] && grep -q '^b-1 ' "$T/ls.txt" || { cat "$T/ls.txt"; fail "ls --remote TAG"; }
"$MKIMG" ls --remote "oci:$T/lay2" >/dev/null || fail "ls --remote of skopeo's copy"
expect_one_line 1 'foreign' ls --remote "oci:$L:foreign"
expect_one_line 1 'no tag nope' ls --remote "oci:$L:nope"
expect_one_line 2 'does not apply' ls --remote "oci:$L" --full
cp -a "$T/lay2" "$T/lay2-bad"
cfg=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["config"]["digest"][7:])' "$(manifest_of "$T/lay2-bad" copy)")
chmod u+w "$T/lay2-bad/blobs/sha256/$cfg"
sed -i 's/"files":/"files" :/' "$T/lay2-bad/blobs/sha256/$cfg"
expect_one_line 1 'do not have that digest|not a regular file of the' ls --remote "oci:$T/lay2-bad:copy"
echo "ok: ls --remote lists the artifacts and refuses a changed config"

# --- four at once ------------------------------------------------------------
pids=()
for i in 1 2 3 4; do
	v=a
	[ $((i % 2)) = 0 ] && v=b
	"$MKIMG" push --no-fsync --store "$S" "$v" "oci:$T/lay3:t$i" >"$T/c$i.log" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || { cat "$T"/c*.log; fail "a concurrent push failed"; }
done
for i in 1 2 3 4; do
	manifest_of "$T/lay3" "t$i" >/dev/null
done
check_artifact "$T/lay3" t4 "$T/ref-b"
no_tmp "$T/lay3" "concurrent pushes"
echo "ok: four concurrent pushes, four tags"

# --- kill -9 while pushing ----------------------------------------------------
# a big file, so that the copy takes a while; after each kill the layout holds
# only whole blobs under their digests, no temporary file and no tag
mkdir -p "$T/big"
head -c $((96 << 20)) /dev/urandom >"$T/big/data"
echo small >"$T/big/small"
tar --numeric-owner --sort=name -C "$T/big" -cf "$T/big.tar" .
mkdir "$T/ref-big"
tar --numeric-owner -xpf "$T/big.tar" -C "$T/ref-big"
"$MKIMG" convert -q --no-fsync --store "$S" --name big "$T/big.tar"
for delay in 0.05 0.2 0.3 0.4 0.6 1; do
	"$MKIMG" push -q --store "$S" big "oci:$T/lay5" &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	no_tmp "$T/lay5" "push killed after ${delay}s"
	python3 - "$T/lay5" <<'EOF' || fail "push killed after ${delay}s: a partial blob"
import hashlib, os, sys
d = sys.argv[1] + "/blobs/sha256"
for n in os.listdir(d) if os.path.isdir(d) else []:
    h = hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
    assert h == n, n
EOF
	if [ -e "$T/lay5/index.json" ]; then
		manifest_of "$T/lay5" big >/dev/null
	fi
	echo "killed after ${delay}s: $(find "$T/lay5" -type f 2>/dev/null | wc -l) files in the layout"
done
"$MKIMG" push --json --store "$S" big "oci:$T/lay5" >"$T/p5.json" || fail "push after kills"
check_artifact "$T/lay5" big "$T/ref-big"
no_tmp "$T/lay5" "push after kills"
echo "ok: kill -9 during push leaves whole blobs only; the next push completes: $(cat "$T/p5.json")"

# --- pull ------------------------------------------------------------------------
# into a fresh store ("another host"): equal to the sources, fsck --full passes,
# only missing blobs move, later conversions share the pulled data
S2=$T/store2
"$MKIMG" pull --json --store "$S2" --name a "oci:$T/lay3:t1" >"$T/q1.json" || fail "pull t1"
[ "$(json "$T/q1.json" 'j["copied"] == j["blobs"] and j["bytes_copied"] == j["bytes"]')" = True ] ||
	fail "pull into a fresh store: $(cat "$T/q1.json")"
"$MKIMG" pull --json --store "$S2" --name b "oci:$T/lay3:t2" >"$T/q2.json" || fail "pull t2"
[ "$(json "$T/q2.json" 'j["copied"]')" = 2 ] || fail "pull b copied a's blob again: $(cat "$T/q2.json")"
pulled "$S2" a "$T/ref-a"
pulled "$S2" b "$T/ref-b"
"$MKIMG" pull --json --store "$S2" --name a2 "oci:$T/lay3:t3" >"$T/q3.json" || fail "pull t3"
[ "$(json "$T/q3.json" 'j["bytes_copied"]')" = 0 ] || fail "pull again copied: $(cat "$T/q3.json")"
expect_one_line 1 'exists|taken|already' pull --store "$S2" --name a "oci:$T/lay3:t2"
"$MKIMG" pull -q --store "$S2" --name a --replace "oci:$T/lay3:t2" || fail "pull --replace"
pulled "$S2" a "$T/ref-b"
"$MKIMG" fsck --full --store "$S2" >"$T/fsck2.log" 2>&1 || { cat "$T/fsck2.log"; fail "fsck --full after pulls"; }
"$MKIMG" convert -q --no-fsync --store "$S2" --name a-conv "$T/a.tar"
[ "$("$MKIMG" inspect --json --store "$S2" a-conv | python3 -c 'import json,sys; print(json.load(sys.stdin)["new_data_bytes"])')" = 0 ] ||
	fail "a conversion after the pull stored data again"
echo "ok: pulled into a fresh store, only missing blobs copied, shared by later conversions"

# four pulls at once into one store
S3=$T/store3
pids=()
for i in 1 2 3 4; do
	"$MKIMG" pull -q --no-fsync --store "$S3" --name "n$i" "oci:$T/lay3:t$i" >"$T/r$i.log" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || { cat "$T"/r*.log; fail "a concurrent pull failed"; }
done
"$MKIMG" fsck --full --store "$S3" >"$T/fsck3.log" 2>&1 || { cat "$T/fsck3.log"; fail "fsck after concurrent pulls"; }
pulled "$S3" n4 "$T/ref-b"
echo "ok: four concurrent pulls into one store"

# kill -9 while pulling, then pull again: it completes and fsck --full passes
S4=$T/store4
for delay in 0.05 0.2 0.3 0.5; do
	"$MKIMG" pull -q --store "$S4" "oci:$T/lay5:big" &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [ -e "$S4/registry.db" ]; then
		"$MKIMG" fsck --store "$S4" >"$T/fsck4.log" 2>&1 ||
			{ cat "$T/fsck4.log"; fail "fsck after a pull killed after ${delay}s"; }
	fi
done
"$MKIMG" pull --json --replace --store "$S4" "oci:$T/lay5:big" >"$T/q5.json" || fail "pull after kills"
"$MKIMG" fsck --full --store "$S4" >"$T/fsck4.log" 2>&1 || { cat "$T/fsck4.log"; fail "fsck --full after kills"; }
NO_EXTRACT=1 pulled "$S4" big "$T/ref-big"
echo "ok: kill -9 during pull; the next pull completes: $(cat "$T/q5.json")"

# a layout that lies: nothing registered, nothing left in the store
cp -a "$T/lay3" "$T/lay6"
dev=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][1]["digest"][7:])' "$(manifest_of "$T/lay6" t1)")
chmod u+w "$T/lay6/blobs/sha256/$dev"
python3 - "$T/lay6/blobs/sha256/$dev" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4096)
    b = f.read(1)
    f.seek(4096)
    f.write(bytes([b[0] ^ 0x40]))
EOF
S5=$T/store5
expect_one_line 1 'do not have that digest' pull --store "$S5" "oci:$T/lay6:t1"
[ -z "$("$MKIMG" ls --store "$S5")" ] || fail "a lying layout's image was registered"
[ ! -e "$S5/blobs/sha256/$dev" ] || fail "a blob with wrong bytes was published"
left=$(ls -A "$S5/tmp" | grep -vx '.mkimg-store-id' || true)
[ -z "$left" ] || fail "temporary files left in the store: $left"
expect_one_line 1 'give a tag' pull --store "$S5" "oci:$T/lay3"
expect_one_line 1 'no tag nope' pull --store "$S5" "oci:$T/lay3:nope"
expect_one_line 2 'needed' pull --store "$S5"
echo "ok: pull refuses a layout that lies"

# --- layers that replace files: the records travel with what they name ---------
# l2's upper layer replaces /etc/conf: the lower layer's record names a file
# the image does not hold, whose bytes the artifact carries as an extra file
# (config extraFiles); the pulled image registers both records and its layers
python3 "$TOOLS/mkoci.py" <(echo '{"images": [{"tag": "l2", "layers": [
	{"compression": "gzip", "entries": [{"path": "etc", "type": "dir"},
	 {"path": "etc/conf", "type": "file", "size": 70000, "fill": "random", "seed": 11},
	 {"path": "bin", "type": "dir"},
	 {"path": "bin/tool", "type": "file", "size": 300000, "fill": "random", "seed": 12}]},
	{"compression": "gzip", "entries": [{"path": "etc/conf", "type": "file", "content": "two\n"},
	 {"path": "etc/more", "type": "file", "size": 5000, "fill": "random", "seed": 13}]}]}]}') \
	"$T/l2-oci" || fail "mkoci l2"
"$MKIMG" convert -q --no-fsync --store "$S" --name l2 "oci:$T/l2-oci:l2" || fail "convert l2"
"$MKIMG" push --json --store "$S" l2 "oci:$T/lay-l2:l2" >"$T/pl2.json" || fail "push l2"
[ "$(json "$T/pl2.json" 'j["records"]')" = 2 ] || fail "push l2: not 2 records: $(cat "$T/pl2.json")"
python3 -c '
import json, sys
lay = sys.argv[1]
b = lambda d: lay + "/blobs/sha256/" + d[7:]
m = json.load(open(b(json.load(open(lay + "/index.json"))["manifests"][0]["digest"])))
x = json.load(open(b(m["config"]["digest"]))).get("extraFiles", [])
assert len(x) == 1 and x[0]["size"] == 70000, x
' "$T/lay-l2" || fail "l2's config carries no extra file for the replaced /etc/conf"
S7=$T/store7
"$MKIMG" pull --json --store "$S7" "oci:$T/lay-l2:l2" >"$T/ql2.json" || fail "pull l2"
[ "$(json "$T/ql2.json" 'j["layers"] and j["records"] == 2')" = True ] ||
	fail "pull l2: its layers are not registered: $(cat "$T/ql2.json")"
chain=$(python3 -c '
import hashlib, json, sys
o = sys.argv[1]
blob = lambda d: json.load(open(o + "/blobs/sha256/" + d[7:]))
m = blob(json.load(open(o + "/index.json"))["manifests"][0]["digest"])
ids = blob(m["config"]["digest"])["rootfs"]["diff_ids"]
c = ids[0]
for d in ids[1:]:
    c = "sha256:" + hashlib.sha256((c + " " + d).encode()).hexdigest()
print(c)' "$T/l2-oci")
"$MKIMG" lookup --json --store "$S7" --chain "$chain" >"$T/lk2.json" || fail "lookup l2"
[ "$(json "$T/lk2.json" 'j["found"] and j["name"] == "l2"')" = True ] ||
	fail "lookup does not find the pulled l2 by its layers: $(cat "$T/lk2.json")"
"$MKIMG" fsck --full --store "$S7" >"$T/fsck7.log" 2>&1 || { cat "$T/fsck7.log"; fail "fsck --full after pull l2"; }
umoci unpack --image "$T/l2-oci:l2" "$T/l2-ref" >/dev/null 2>"$T/umoci.err" || fail "umoci unpack: $(cat "$T/umoci.err")"
mkdir "$T/m-l2"
"$MKIMG" mount --store "$S7" l2 "$T/m-l2" || fail "mount l2"
touch -h -d "@$(stat -c %Y "$T/m-l2")" "$T/l2-ref/rootfs"	# umoci's root: the unpack's time
"$MKIMG" umount "$T/m-l2"
pulled "$S7" l2 "$T/l2-ref/rootfs"
"$MKIMG" convert --json --no-fsync --store "$S7" --name l2-conv "oci:$T/l2-oci:l2" >"$T/cl2.json"
[ "$(json "$T/cl2.json" 'j["layers_reused"] == 2 and j["new_bytes"] == 0')" = True ] ||
	fail "converting l2 after its pull did not reuse both records: $(cat "$T/cl2.json")"
# a config whose extra file points at other bytes: refused, nothing registered
cp -a "$T/lay-l2" "$T/lay-lie"
python3 -c '
import hashlib, json, sys
lay = sys.argv[1]
b = lambda d: lay + "/blobs/sha256/" + d[7:]
def put(o):
    raw = json.dumps(o).encode()
    d = "sha256:" + hashlib.sha256(raw).hexdigest()
    open(b(d), "wb").write(raw)
    return d, len(raw)
idx = json.load(open(lay + "/index.json"))
m = json.load(open(b(idx["manifests"][0]["digest"])))
c = json.load(open(b(m["config"]["digest"])))
c["extraFiles"][0]["extents"][0][2] += 1     # another block of the blob
m["config"]["digest"], m["config"]["size"] = put(c)
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(m)
json.dump(idx, open(lay + "/index.json", "w"))
' "$T/lay-lie"
expect_one_line 1 'extra file sha256:[0-9a-f]+: its bytes in the blobs do not have that digest' \
	pull --store "$T/store8" "oci:$T/lay-lie:l2"
[ "$("$MKIMG" ls --json --store "$T/store8")" = "[]" ] || fail "a lying extra file registered an image"
echo "ok: l2 (an upper layer replaces a file): records, extra file, layers and chain pulled; a lie refused"

# --- bad input ---------------------------------------------------------------
mkdir "$T/notlay"
echo keep >"$T/notlay/file"
expect_one_line 1 'not an OCI image layout' push --store "$S" a "oci:$T/notlay"
[ "$(ls -A "$T/notlay")" = file ] || fail "push wrote into a directory that is not a layout"
ln -s "$L" "$T/lnk"
expect_one_line 1 'symbolic link' push --store "$S" a "oci:$T/lnk:x"
expect_one_line 1 'not a valid OCI tag' push --store "$S" a "oci:$L:-bad"
expect_one_line 1 'not a valid OCI tag' push --store "$S" a "oci:$L:a b"
expect_one_line 1 'not a reference mkimg reads' push --store "$S" a docker:localhost/x:1
expect_one_line 1 'not a reference mkimg reads' push --store "$S" a "$L"
expect_one_line 1 'nope' push --store "$S" nope "oci:$L"
expect_one_line 2 'NAME and a destination' push --store "$S" a
cp "$L/index.json" "$T/index.good"
printf '{"manifests": [' >"$L/index.json"
expect_one_line 1 'index.json: not JSON' push --store "$S" a "oci:$L:new"
printf '{"manifests": 3}' >"$L/index.json"
expect_one_line 1 'index.json: no manifests array' push --store "$S" a "oci:$L:new"
[ "$(cat "$L/index.json")" = '{"manifests": 3}' ] || fail "a bad index.json was replaced"
cp "$T/index.good" "$L/index.json"
# a store blob whose bytes changed (same size): refused, not copied
"$MKIMG" inspect --json --store "$S" a >"$T/ia.json"
"$MKIMG" inspect --json --store "$S" b >"$T/ib.json"
blob=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["devices"]; print([d for d in json.load(open(sys.argv[2]))["devices"] if d not in a][0])' "$T/ia.json" "$T/ib.json")
python3 - "$blob" <<'EOF'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(100)
    b = f.read(1)
    f.seek(100)
    f.write(bytes([b[0] ^ 1]))
EOF
expect_one_line 1 'does not have that digest' push --store "$S" b "oci:$T/lay4"
[ ! -e "$T/lay4/blobs/sha256/$(basename "$blob")" ] || fail "a changed blob was published"
[ ! -e "$T/lay4/index.json" ] || fail "an artifact with a changed blob was tagged"
no_tmp "$T/lay4" "a refused push"
echo "ok: bad input refused"
echo "PASS"
