#!/usr/bin/env bash
# bench/registry-bench.sh: moving the public corpus through an OCI registry
# (Debian's docker-registry on loopback, a fresh storage per run), image by
# image, three ways:
#   mkimg       `mkimg push` of each store image (a store the corpus was
#               converted into) into one repository, then `mkimg pull` of
#               each into an empty store (only the blobs it lacks)
#   oci-gzip    `skopeo copy` of the ordinary gzip OCI images into one
#               repository and back into one OCI layout
#   erofs-layer containerd's EROFS way: every layer as its own EROFS blob
#               (`mkfs.erofs --tar=f --aufs -Enoinline_data`, as containerd's
#               erofs differ makes them, uncompressed), pushed and pulled as
#               OCI images with skopeo
# Per way: wall time and CPU (user+sys of the client) of the 10 pushes and of
# the 10 pulls, bytes the registry stored after the pushes (its blobs) and
# bytes the pulls brought (mkimg: bytes_fetched; skopeo: the layout's blobs).
# Prints a markdown table.
#
# Usage: bench/registry-bench.sh
# Environment: CORPUS_OUT (default /var/tmp/mkimg-corpus), BENCH_OUT (default
# /var/tmp/mkimg-registry-bench), MKIMG (default ./mkimg/mkimg), MKFS_EROFS_DIR
# (default /opt/mkimg-oracle/bin). Needs docker-registry, skopeo, python3.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
oci=${CORPUS_OUT:-/var/tmp/mkimg-corpus}/oci
out=${BENCH_OUT:-/var/tmp/mkimg-registry-bench}
mkimg=${MKIMG:-$top/mkimg/mkimg}
mkfs=${MKFS_EROFS_DIR:-/opt/mkimg-oracle/bin}/mkfs.erofs
images=(debian-base debian-base-rebuilt python python-v2 python-v2-rebuilt node node-v2
	nginx postgresql gcc)
for i in "${images[@]}"; do
	[ -d "$oci/$i" ] || { echo "registry-bench: no $oci/$i (run ../shared/corpus/make-corpus.sh)" >&2; exit 1; }
done
rm -rf "$out/reg" "$out/pull-store" "$out/pull-oci" "$out/pull-erofs"
mkdir -p "$out"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

port=$(python3 "$top/tests/tools/regtool.py" port)
cat >"$out/reg.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $out/reg}}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$out/reg.yml" >"$out/reg.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
R=127.0.0.1:$port

# the inputs: the store (converted once, kept) and the EROFS layer layouts
if [ ! -e "$out/store/registry.db" ]; then
	echo "registry-bench: converting the corpus into $out/store" >&2
	for i in "${images[@]}"; do
		"$mkimg" convert -q --no-fsync --store "$out/store" --name "$i" "oci:$oci/$i"
	done
fi
if [ ! -e "$out/erofs/index.json" ]; then
	echo "registry-bench: every layer through mkfs.erofs into $out/erofs" >&2
	python3 - "$oci" "$out/erofs" "$mkfs" "${images[@]}" <<'EOF'
import gzip, hashlib, json, os, shutil, subprocess, sys, tempfile
oci, dst, mkfs, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
os.makedirs(dst + "/blobs/sha256", exist_ok=True)
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{dst}/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
done = {}
idx = {"schemaVersion": 2, "manifests": []}
for n in names:
    root = f"{oci}/{n}"
    blob = lambda d: f"{root}/blobs/" + d.replace(":", "/")
    desc = json.load(open(root + "/index.json"))["manifests"][0]
    m = json.load(open(blob(desc["digest"])))
    while "manifests" in m:
        desc = m["manifests"][0]
        m = json.load(open(blob(desc["digest"])))
    layers = []
    for l in m["layers"]:
        if l["digest"] not in done:
            with tempfile.TemporaryDirectory(dir=dst) as t:
                tar = t + "/l.tar"
                with open(blob(l["digest"]), "rb") as f, open(tar, "wb") as o:
                    src = gzip.GzipFile(fileobj=f) if "gzip" in l["mediaType"] else f
                    shutil.copyfileobj(src, o, 1 << 20)
                subprocess.run([mkfs, "--quiet", "--tar=f", "--aufs", "-Enoinline_data",
                                t + "/l.erofs", tar], check=True)
                d = put(open(t + "/l.erofs", "rb").read())
            done[l["digest"]] = dict(d, mediaType="application/vnd.erofs.layer.v1")
        layers.append(done[l["digest"]])
    cfg = put(open(blob(m["config"]["digest"]), "rb").read())
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": dict(cfg, mediaType=m["config"]["mediaType"]), "layers": layers}
    md = put(json.dumps(man).encode())
    idx["manifests"].append(dict(md, mediaType=man["mediaType"],
                                 annotations={"org.opencontainers.image.ref.name": n}))
json.dump(idx, open(dst + "/index.json", "w"))
open(dst + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
EOF
fi

# run WAY PHASE CMD...: the command timed (wall, user+sys) into $out/times
: >"$out/times"
run() {
	local way=$1 phase=$2 t0 t1
	shift 2
	t0=$(date +%s.%N)
	/usr/bin/time -f "%U %S" -o "$out/cpu" "$@" >/dev/null
	t1=$(date +%s.%N)
	echo "$way $phase $(echo "$t1 - $t0" | bc) $(cat "$out/cpu")" >>"$out/times"
}
regbytes() {
	find "$out/reg/docker/registry/v2/blobs" -name data -type f -printf '%s\n' 2>/dev/null |
		awk '{s += $1} END {printf "%.0f\n", s}'
}
sync
for i in "${images[@]}"; do
	run mkimg push "$mkimg" push -q --no-fsync --tls-verify=false --store "$out/store" "$i" "docker://$R/mk:$i"
done
mk_reg=$(regbytes)
for i in "${images[@]}"; do
	run mkimg pull "$mkimg" pull -q --no-fsync --tls-verify=false --store "$out/pull-store" "docker://$R/mk:$i"
done
# bytes the pulls brought: the blobs and images the new store holds
mk_pull=$(du -sb --apparent-size "$out/pull-store/blobs" "$out/pull-store/images" | awk '{s += $1} END {printf "%.0f\n", s}')
for i in "${images[@]}"; do
	run oci-gzip push skopeo copy -q --dest-tls-verify=false "oci:$oci/$i" "docker://$R/ord:$i"
done
ord_reg=$(($(regbytes) - mk_reg))
for i in "${images[@]}"; do
	run oci-gzip pull skopeo copy -q --src-tls-verify=false "docker://$R/ord:$i" "oci:$out/pull-oci:$i"
done
ord_pull=$(du -sb --apparent-size "$out/pull-oci/blobs" | cut -f1)
for i in "${images[@]}"; do
	run erofs-layer push skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$out/erofs:$i" "docker://$R/ero:$i"
done
ero_reg=$(($(regbytes) - mk_reg - ord_reg))
for i in "${images[@]}"; do
	run erofs-layer pull skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$R/ero:$i" "oci:$out/pull-erofs:$i"
done
ero_pull=$(du -sb --apparent-size "$out/pull-erofs/blobs" | cut -f1)

python3 - "$out/times" "$mk_reg" "$mk_pull" "$ord_reg" "$ord_pull" "$ero_reg" "$ero_pull" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
b = dict(zip(["mkimg", "oci-gzip", "erofs-layer"],
             [(int(sys.argv[2]), int(sys.argv[3])), (int(sys.argv[4]), int(sys.argv[5])),
              (int(sys.argv[6]), int(sys.argv[7]))]))
print("| way | push wall s | push CPU s | registry MiB | pull wall s | pull CPU s | pulled MiB |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for way in ("mkimg", "oci-gzip", "erofs-layer"):
    s = {}
    for ph in ("push", "pull"):
        r = [x for x in rows if x[0] == way and x[1] == ph]
        s[ph] = (sum(float(x[2]) for x in r), sum(float(x[3]) + float(x[4]) for x in r))
    print(f"| {way} | {s['push'][0]:.2f} | {s['push'][1]:.2f} | {b[way][0] / 2**20:.1f} | "
          f"{s['pull'][0]:.2f} | {s['pull'][1]:.2f} | {b[way][1] / 2**20:.1f} |")
EOF
