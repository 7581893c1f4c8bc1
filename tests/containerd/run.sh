#!/usr/bin/env bash
# containerd 2.1 (or 1.7) runs containers from the mkimg store through mkimg-snapshotter.
#
# Installs what it needs by package name (bookworm's Go and containerd Go
# sources, runc, umoci, busybox-static; containerd 2.1 from sid through a
# private apt configuration, tests/containerd/fetch-containerd.sh, cached in
# /var/tmp/mkimg-containerd-cache), builds the snapshotter offline unless make
# did, builds five runnable OCI images (busybox plus a few MiB of data):
#   a  base layer + data layer                          converted into the store
#   b  the same files, other mtimes (other digests)     converted into the store
#   c  a + a layer deleting /data/f1 and adding /new.txt (only a's chain stored)
#   d  the base layer alone (a prefix of a)
#   e  another base (not in the store)
# starts a private containerd (root, state, sockets under the test directory,
# CRI off) and the snapshotter, imports the images through the transfer
# service and checks placeholders, runs, mounts, files, restarts, gc and
# removal. Skips (77) only when not root. Never touches the host's containerd
# or /var/lib/containerd. Everything it starts is stopped at exit.
# Env: MKIMG_CONTAINERD=2.1 (default) or 1.7; MKIMG_CONTAINERD_CACHE;
#      MKIMG_CONTAINERD_KEEP=1 keeps the test directory (named at exit).
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
MKIMG=${MKIMG:-$top_builddir/mkimg/mkimg}
TOOLS=$top_srcdir/tests/tools
# shellcheck source=tests/containerd/lib.sh
. "$top_srcdir/tests/containerd/lib.sh"
cache=${MKIMG_CONTAINERD_CACHE:-/var/tmp/mkimg-containerd-cache}
gocache=$cache/gocache gopath=$cache/gopath
# MKIMG_CONTAINERD=1.7: containerd 1.7 from trixie instead (tests/containerd/run-1.7.sh)
case ${MKIMG_CONTAINERD:-2.1} in
2.1) suite=sid cfgversion=3 ;;
1.7) suite=trixie cfgversion=2 cache=$cache/1.7 ;;
*) echo "FAIL: MKIMG_CONTAINERD=$MKIMG_CONTAINERD: 2.1 or 1.7" >&2; exit 1 ;;
esac

[ "$(id -u)" = 0 ] || { echo "SKIP: tests/containerd/run.sh needs root (mounts, containers)"; exit 77; }

start=$SECONDS
say() { echo "containerd: [$((SECONDS - start)) s] $*"; }
fail() {
	echo "FAIL: $*" >&2
	for f in "$T/snapshotter.log" "$T/snapshotter-mm.log" "$T/snapshotter-node.log" "$T/containerd.log"; do
		[ -f "$f" ] && { echo "==== last lines of $f" >&2; tail -n 25 "$f" >&2; }
	done
	exit 1
}

T=$(mktemp -d /var/tmp/mkimg-containerd.XXXXXX)
S=$T/store            # the mkimg store
R=$T/snap             # the snapshotter's root
SOCK=$T/containerd.sock
SNAPSOCK=$T/snapshotter.sock
MMSOCK=$T/snapshotter-mm.sock  # the same in mount-manager mode
NODESOCK=$T/snapshotter-node.sock  # a node's: its own empty store, pulling artifacts
sn_pid= mm_pid= node_pid= # the snapshotters (lib.sh's ctd_stop kills them)
cleanup() {
	set +e
	ctd_stop "$T" "$SOCK"
	ctd_stop_registry
	if [ "${MKIMG_CONTAINERD_KEEP:-0}" = 1 ]; then echo "kept: $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

# ---- what it needs ----------------------------------------------------------
pkgs=(golang-go golang-github-containerd-containerd-dev runc umoci busybox-static python3
	docker-registry skopeo openssl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'ok installed' >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		>"$T/apt.log" 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$T/apt.log" 2>&1; } ||
		fail "apt-get install ${missing[*]}: $(tail -n 3 "$T/apt.log")"
fi
cbin=$(ctd_fetch "$cache" "$suite" "${MKIMG_CONTAINERD:-2.1}") || fail "cannot fetch containerd"
export PATH=$cbin:/usr/sbin:/usr/bin:/sbin:/bin
say "$(cat "$cache/containerd.version"), $(runc --version | head -n1), $(umoci --version)"
"$MKIMG" lookup --help >/dev/null 2>&1 || fail "$MKIMG has no lookup command"

# the snapshotter: make's build, else built here, offline
SNAP=$top_builddir/snapshotter/mkimg-snapshotter
newest=$(ls -t "$top_srcdir"/snapshotter/*.go | grep -v _test.go | head -n1)
if [ ! -x "$SNAP" ] || [ "$newest" -nt "$SNAP" ]; then
	say "building the snapshotter offline"
	mkdir -p "$gopath" "$T/bin"
	(cd "$top_srcdir/snapshotter" && GO111MODULE=off GOPROXY=off GOFLAGS=-mod=mod \
		GOPATH=$gopath:/usr/share/gocode GOCACHE=$gocache \
		go build -o "$T/bin/mkimg-snapshotter" .) >"$T/go.log" 2>&1 ||
		fail "go build: $(tail -n 5 "$T/go.log")"
	SNAP=$T/bin/mkimg-snapshotter
fi

# containerd's snapshotter conformance suite (snapshots/testsuite), with an
# mkimg that finds no chain: plain overlay behaviour
say "containerd's snapshotter test suite"
(cd "$top_srcdir/snapshotter" && GO111MODULE=off GOPROXY=off GOFLAGS=-mod=mod \
	GOPATH=$gopath:/usr/share/gocode GOCACHE=$gocache TMPDIR=$T \
	go test -count=1 . -args -test.root) >"$T/gotest.log" 2>&1 ||
	fail "go test: $(tail -n 20 "$T/gotest.log")"

# ---- images -------------------------------------------------------------------
say "building OCI images"
O=$T/oci
umoci init --layout "$O"
bb=$(command -v busybox)
base_rootfs() { # DIR: busybox and the directories runc mounts on
	mkdir -p "$1/bin" "$1/proc" "$1/dev" "$1/sys" "$1/run" "$1/tmp" "$1/etc"
	cp "$bb" "$1/bin/busybox"
	for a in sh cat echo ls test md5sum sleep stat head; do ln -s busybox "$1/bin/$a"; done
}
umoci new --image "$O:base"
umoci unpack --image "$O:base" "$T/b/base" >/dev/null
base_rootfs "$T/b/base/rootfs"
echo "image d: the base alone" > "$T/b/base/rootfs/msg"
umoci repack --image "$O:base" "$T/b/base"
umoci config --image "$O:base" --config.cmd /bin/sh --config.cmd -c --config.cmd 'cat /msg'

umoci unpack --image "$O:base" "$T/b/a" >/dev/null
mkdir "$T/b/a/rootfs/data"
for i in 1 2 3; do head -c $((1024 * 1024 + i * 4097)) /dev/urandom > "$T/b/a/rootfs/data/f$i"; done
echo "image a" > "$T/b/a/rootfs/msg"
umoci repack --image "$O:a" "$T/b/a"
umoci config --image "$O:a" --config.cmd /bin/sh --config.cmd -c --config.cmd 'cat /msg'

umoci new --image "$O:b0"
umoci unpack --image "$O:b0" "$T/b/b" >/dev/null
cp -a "$T/b/a/rootfs/." "$T/b/b/rootfs/"
find "$T/b/b/rootfs" -exec touch -h -d '2001-02-03 04:05:06' {} +
umoci repack --image "$O:b" "$T/b/b"
umoci config --image "$O:b" --config.cmd /bin/sh --config.cmd -c --config.cmd 'echo image b; cat /msg'
umoci rm --image "$O:b0"

umoci unpack --image "$O:a" "$T/b/c" >/dev/null
rm "$T/b/c/rootfs/data/f1"
echo "new in c" > "$T/b/c/rootfs/new.txt"
umoci repack --image "$O:c" "$T/b/c"
umoci config --image "$O:c" --config.cmd /bin/sh --config.cmd -c \
	--config.cmd 'cat /new.txt; test -e /data/f1 || echo f1 gone; cat /data/f2 | md5sum'

umoci new --image "$O:e"
umoci unpack --image "$O:e" "$T/b/e" >/dev/null
base_rootfs "$T/b/e/rootfs"
echo "image e, not in the store" > "$T/b/e/rootfs/msg"
umoci repack --image "$O:e" "$T/b/e"
umoci config --image "$O:e" --config.cmd /bin/sh --config.cmd -c --config.cmd 'cat /msg'

umoci unpack --image "$O:base" "$T/b/p" >/dev/null
head -c $((512 * 1024)) /dev/urandom > "$T/b/p/rootfs/pdata"
echo "image p, pulled" > "$T/b/p/rootfs/msg"
umoci repack --image "$O:p" "$T/b/p"
umoci config --image "$O:p" --config.cmd /bin/sh --config.cmd -c --config.cmd 'cat /msg'
# containerd imports all but p, which comes from the registry
cp -a "$O" "$T/oci-import"
umoci rm --image "$T/oci-import:p"

for t in a b c d e; do # references: what each image's rootfs must be
	[ "$t" = d ] && src=base || src=$t
	umoci unpack --image "$O:$src" "$T/ref/$t" >/dev/null
done
[ "$(cat "$T/ref/a/rootfs/msg")" = "image a" ] || fail "reference a"
f2sum=$(md5sum < "$T/b/a/rootfs/data/f2")
(cd "$T/oci-import" && tar -cf "$T/images.tar" .)

devs() { "$MKIMG" inspect --store "$S" --json "$1" | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["devices"])))'; }
imghex() { "$MKIMG" inspect --store "$S" --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["image_sha256"])'; }

# ---- containerd and the snapshotter ----------------------------------------------
# the node's snapshotter (2.x only, below) starts after containerd: containerd
# 1.7 dials a proxy plugin once at its start, blocking until a timeout when
# the socket is missing, so 1.7's configuration does not name it at all
node_plugin=("mkimg-node=$NODESOCK") node_unpack=(mkimg-node)
[ "${MKIMG_CONTAINERD:-2.1}" != 1.7 ] || node_plugin=() node_unpack=()
ctd_config "$T/containerd.toml" "$T" "$cfgversion" "mkimg=$SNAPSOCK" "mkimg-mm=$MMSOCK" \
	"${node_plugin[@]}" mkimg-mm mkimg "${node_unpack[@]}" overlayfs
ctd_snapshotter_config "$T/snapshotter.toml" "$SNAPSOCK" "$R" "$S" "$MKIMG"
ctr() { ctd_ctr "$@"; }
start_snapshotter() {
	ctd_start_snapshotter sn_pid "$SNAP" "$T/snapshotter.toml" "$T/snapshotter.log" ||
		fail "the snapshotter did not start"
}
start_snapshotter_mm() {
	ctd_start_snapshotter mm_pid "$SNAP" "$T/snapshotter.toml" "$T/snapshotter-mm.log" \
		--address "$MMSOCK" --root "$T/mm" --mount-manager ||
		fail "the snapshotter (mount-manager mode) did not start"
}
# the loopback registry speaks TLS with a certificate made here: containerd
# 1.7's transfer service pulls over https only, and containerd trusts the
# certificate through SSL_CERT_FILE (the system's trust store is not touched)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/registry.key" -out "$T/registry.crt" \
	>"$T/openssl.log" 2>&1 || fail "openssl req: $(tail -n 3 "$T/openssl.log")"
start_containerd() {
	ctd_start_containerd "$T/containerd.toml" "$T/containerd.log" "$T/registry.crt" ||
		fail "containerd did not start"
}
# the store does not exist yet: the snapshotter starts, says so, and serves
# it once mkimg has made it
[ ! -e "$S" ] || fail "the store exists before the first conversion"
start_snapshotter
start_snapshotter_mm
grep -q "store $S does not exist yet" "$T/snapshotter.log" ||
	fail "no word of the absent store: $(cat "$T/snapshotter.log")"
start_containerd

say "converting a, b and p into the store (made by the first conversion)"
"$MKIMG" convert --quiet --store "$S" --name a "oci:$O:a" || fail "convert a"
"$MKIMG" convert --quiet --store "$S" --name b "oci:$O:b" || fail "convert b"
"$MKIMG" convert --quiet --store "$S" --name p "oci:$O:p" || fail "convert p"
[ "$(devs a)" = "$(devs b)" ] || fail "a and b do not use the same blobs: $(devs a) / $(devs b)"
hex_a=$(imghex a) hex_b=$(imghex b)

# the socket of a running snapshotter is refused to a second one
if "$SNAP" --config "$T/snapshotter.toml" >"$T/second.log" 2>&1; then fail "a second snapshotter started"; fi
grep -q "in use" "$T/second.log" || fail "second snapshotter: $(cat "$T/second.log")"
# so is a directory that is not a store
mkdir "$T/notastore"
if "$SNAP" --address "$T/x.sock" --root "$T/x" --store "$T/notastore" --mkimg "$MKIMG" \
	>"$T/nostore.log" 2>&1; then fail "the snapshotter started on a non-store"; fi
grep -q "mkimg" "$T/nostore.log" || fail "non-store: $(cat "$T/nostore.log")"

say "importing through the transfer service"
t0=$(date +%s%N)
ctr images import --local=false --base-name mkimg.test/img --snapshotter mkimg "$T/images.tar" >"$T/import.log" 2>&1 ||
	fail "ctr images import: $(tail -n 5 "$T/import.log")"
import_mkimg=$((($(date +%s%N) - t0) / 1000000))
for t in a b c base e; do
	ctr images ls -q | grep -x "mkimg.test/img:$t" >/dev/null || fail "image $t not imported: $(ctr images ls -q)"
done

# placeholders: no layer of a, b or d was applied; the only non-empty
# snapshot directories are c's top layer and e's layer
nonempty=()
for d in "$R"/snapshots/*/fs; do
	[ -z "$(ls -A "$d")" ] || nonempty+=("$d")
done
[ ${#nonempty[@]} = 2 ] || fail "expected 2 applied layers, found ${#nonempty[@]}: ${nonempty[*]}"
c_up= e_up=
for d in "${nonempty[@]}"; do
	if [ -f "$d/msg" ]; then e_up=$d; else c_up=$d; fi
done
[ -n "$c_up" ] && [ -n "$e_up" ] || fail "applied layers: ${nonempty[*]}"
got=$(cd "$c_up" && find . -mindepth 1 | sort | tr '\n' ' ')
[ "$got" = "./data ./data/f1 ./new.txt " ] || fail "c's layer holds: $got"
[ "$(stat -c '%F %t:%T' "$c_up/data/f1")" = "character special file 0:0" ] ||
	fail "c's /data/f1 is no whiteout: $(stat -c '%F %t:%T' "$c_up/data/f1")"
nph=$(ctr snapshots --snapshotter mkimg ls | grep -c . || true)
say "import: ${#nonempty[@]} layers applied, placeholders for the rest ($((nph - 1)) snapshots)"

# ---- a pull from a registry on loopback: no layer blob of p is fetched ------------
{
	ctd_start_registry "$T/registry" "$T/registry.log" "$T/registry.crt" "$T/registry.key" ||
		fail "docker-registry did not start"
	port=$ctd_reg_port
	skopeo copy -q --dest-tls-verify=false "oci:$O:p" "docker://127.0.0.1:$port/mkimg/p:latest" \
		>"$T/skopeo.log" 2>&1 || fail "skopeo copy: $(cat "$T/skopeo.log")"
	: > "$T/registry.log"
	# (the explicit platform: without it containerd 1.7's transfer service
	# does not unpack, and ctr run then applies every layer itself)
	ctr images pull --local=false --platform linux/amd64 --snapshotter mkimg "127.0.0.1:$port/mkimg/p:latest" >"$T/pull.log" 2>&1 ||
		fail "ctr images pull: $(tail -n 5 "$T/pull.log")"
	layers_p=$(python3 -c '
import json, sys
o = sys.argv[1]
blob = lambda d: json.load(open(o + "/blobs/sha256/" + d.split(":")[1]))
m = [x for x in json.load(open(o + "/index.json"))["manifests"]
     if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == "p"][0]
print(" ".join(l["digest"] for l in blob(m["digest"])["layers"]))' "$O")
	grep "/v2/mkimg/p/manifests/" "$T/registry.log" >/dev/null || fail "the pull fetched no manifest"
	for l in $layers_p; do
		h=${l#sha256:}
		[ -f "$T/registry/data/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data" ] || fail "layer $l is not in the registry"
	done
	for l in $layers_p; do
		! grep "blobs/$l" "$T/registry.log" >/dev/null || fail "the pull fetched layer $l"
	done
	ctr content ls -q > "$T/content"
	! grep -x "${layers_p##* }" "$T/content" >/dev/null ||
		fail "p's own layer is in containerd's content store (registry: $(grep -a -o 'uri="[^"]*"' "$T/registry.log" | tr '\n' ' '); snapshotter: $(grep prepare "$T/snapshotter.log" | tail -n 3))"
	ctr run --rm --snapshotter mkimg --runc-root "$T/runc" --fifo-dir "$T/fifo" "127.0.0.1:$port/mkimg/p:latest" p1 >"$T/out.p1" 2>&1 ||
		fail "ctr run p: $(cat "$T/out.p1")"
	[ "$(cat "$T/out.p1")" = "image p, pulled" ] || fail "p printed $(cat "$T/out.p1")"
	# no layer of p was applied, by the pull or by the run: no snapshot
	# directory holds p's file
	for d in "$R"/snapshots/*/fs; do
		[ ! -e "$d/pdata" ] || fail "p's layer was applied in $d"
	done
	say "pull from a loopback registry: manifest and config fetched, no layer blob; p runs"
	# p1's snapshot is removed by containerd's garbage collector, after
	# ctr run returns: wait until the snapshotter unmounted p's image, so
	# that the next run mounts (and verifies) it afresh
	pimg=$("$MKIMG" inspect --store "$S" --json p | python3 -c 'import json,sys; print(json.load(sys.stdin)["image"].rsplit("/", 1)[1])')
	for _ in $(seq 60); do
		awk '{print $5}' /proc/self/mountinfo | grep -q "/$pimg\$" || break
		sleep 0.5
	done
	! awk '{print $5}' /proc/self/mountinfo | grep -q "/$pimg\$" ||
		fail "p's image is still mounted 30 s after its container ended"
	# a blob of p missing: the run is refused, naming it; none of its files is served
	own=$(comm -13 <(devs a | tr ' ' '\n') <(devs p | tr ' ' '\n'))
	[ -n "$own" ] && [ -f "$own" ] || fail "p has no blob of its own: $(devs p)"
	mv "$own" "$T/blob.away"
	if ctr run --rm --snapshotter mkimg --runc-root "$T/runc" --fifo-dir "$T/fifo" "127.0.0.1:$port/mkimg/p:latest" p2 \
		>"$T/out.p2" 2>&1; then fail "p ran without its blob: $(cat "$T/out.p2")"; fi
	grep "mkimg: .*${own##*/}" "$T/out.p2" >/dev/null || fail "p without its blob: $(cat "$T/out.p2")"
	grep "mkimg: .*${own##*/}" "$T/snapshotter.log" >/dev/null || fail "the snapshotter logged no cause"
	mv "$T/blob.away" "$own"
	# the blob with one byte changed (its size and name as before): refused
	# by the hash, naming it
	cp "$own" "$T/blob.saved"
	python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(4096); b = f.read(1); f.seek(4096); f.write(bytes([b[0] ^ 0x55]))' "$own"
	if ctr run --rm --snapshotter mkimg --runc-root "$T/runc" --fifo-dir "$T/fifo" "127.0.0.1:$port/mkimg/p:latest" p3 \
		>"$T/out.p3" 2>&1; then fail "p ran with a changed blob: $(cat "$T/out.p3")"; fi
	grep "mkimg: .*${own##*/}): sha256 [0-9a-f]*, the image's device table says ${own##*/}" "$T/out.p3" >/dev/null ||
		fail "p with a changed blob: $(cat "$T/out.p3")"
	grep "mkimg: .*${own##*/}): sha256" "$T/snapshotter.log" >/dev/null || fail "the snapshotter logged no hash mismatch"
	cp "$T/blob.saved" "$own"
	ctr container rm p3 >/dev/null 2>&1 || true
	ctr container rm p2 >/dev/null 2>&1 || true
	ctr images rm --sync "127.0.0.1:$port/mkimg/p:latest" >/dev/null || fail "images rm p"
	say "a missing blob, a blob with other bytes: the run is refused with mkimg's message naming it"

	# (containerd 2.x only: containerd 1.7 dials a proxy plugin whose socket
	# appeared after its start with a timeout that a pull can still meet;
	# run-1.7.sh failed so twice, after a wait for the connection too)
	if [ "${MKIMG_CONTAINERD:-2.1}" != 1.7 ]; then
		# a node that never converted anything: its snapshotter (an empty store
		# that does not exist yet, --pull-from the repository of mkimg
		# artifacts) pulls b's artifact when containerd prepares b's layer, then
		# p's (two layers, the upper one replacing /msg of the lower: the
		# artifact carries the replaced file for the lower layer's record), and
		# no layer is applied
		"$MKIMG" push -q --ca-file "$T/registry.crt" --store "$S" b "docker://127.0.0.1:$port/mkimg/artifacts:b" ||
			fail "mkimg push b"
		"$MKIMG" push -q --ca-file "$T/registry.crt" --store "$S" p "docker://127.0.0.1:$port/mkimg/artifacts:p" ||
			fail "mkimg push p"
		skopeo copy -q --dest-tls-verify=false "oci:$O:b" "docker://127.0.0.1:$port/mkimg/b:latest" \
			>"$T/skopeo.log" 2>&1 || fail "skopeo copy b: $(cat "$T/skopeo.log")"
		ctd_start_snapshotter node_pid "$SNAP" "$T/snapshotter.toml" "$T/snapshotter-node.log" \
			--address "$NODESOCK" --root "$T/node" --store "$T/node-store" \
			--pull-from "docker://127.0.0.1:$port/mkimg/artifacts" \
			--pull-option="--ca-file=$T/registry.crt" || fail "the node's snapshotter did not start"
		# containerd dialled this proxy plugin at its start, when the socket was
		# not there: wait until its connection (retried with a backoff) is up
		for _ in $(seq 60); do
			ctr snapshots --snapshotter mkimg-node ls >/dev/null 2>&1 && break
			sleep 0.5
		done
		ctr snapshots --snapshotter mkimg-node ls >/dev/null ||
			fail "containerd does not reach the node's snapshotter"
		ctr images pull --local=false --platform linux/amd64 --snapshotter mkimg-node "127.0.0.1:$port/mkimg/b:latest" >"$T/pull-node.log" 2>&1 ||
			fail "ctr images pull b (node): $(tail -n 5 "$T/pull-node.log")"
		grep -q "pulled from docker://127.0.0.1:$port/mkimg/artifacts" "$T/snapshotter-node.log" ||
			fail "the node's snapshotter pulled nothing: $(tail -n 5 "$T/snapshotter-node.log")"
		grep -q "is in the store, placeholder committed" "$T/snapshotter-node.log" ||
			fail "the node's snapshotter made no placeholder: $(tail -n 5 "$T/snapshotter-node.log")"
		ctr run --rm --snapshotter mkimg-node --runc-root "$T/runc" --fifo-dir "$T/fifo" "127.0.0.1:$port/mkimg/b:latest" bn >"$T/out.bn" 2>&1 ||
			fail "ctr run b on the node: $(cat "$T/out.bn")"
		[ "$(cat "$T/out.bn")" = "$(printf 'image b\nimage a')" ] || fail "b on the node printed $(cat "$T/out.bn")"
		for d in "$T"/node/snapshots/*/fs; do
			[ ! -e "$d/data/f2" ] || fail "b's layer was applied on the node in $d"
		done
		# p
		ctr images pull --local=false --platform linux/amd64 --snapshotter mkimg-node "127.0.0.1:$port/mkimg/p:latest" >"$T/pull-node.log" 2>&1 ||
			fail "ctr images pull p (node): $(tail -n 5 "$T/pull-node.log")"
		ctr run --rm --snapshotter mkimg-node --runc-root "$T/runc" --fifo-dir "$T/fifo" "127.0.0.1:$port/mkimg/p:latest" pn >"$T/out.pn" 2>&1 ||
			fail "ctr run p on the node: $(cat "$T/out.pn")"
		[ "$(cat "$T/out.pn")" = "image p, pulled" ] || fail "p on the node printed $(cat "$T/out.pn")"
		[ "$(grep -c "pulled from docker://127.0.0.1:$port/mkimg/artifacts" "$T/snapshotter-node.log")" -ge 2 ] ||
			fail "the node's snapshotter did not pull p: $(tail -n 5 "$T/snapshotter-node.log")"
		for d in "$T"/node/snapshots/*/fs; do
			[ ! -e "$d/pdata" ] || fail "p's layer was applied on the node in $d"
		done
		ctr images rm --sync "127.0.0.1:$port/mkimg/b:latest" "127.0.0.1:$port/mkimg/p:latest" >/dev/null ||
			fail "images rm (node)"
		"$MKIMG" fsck --full --store "$T/node-store" >"$T/fsck-node.log" 2>&1 ||
			fail "fsck of the node's store: $(cat "$T/fsck-node.log")"
		say "a node with an empty store: the snapshotter pulled b's and p's mkimg artifacts on Prepare; they run, no layer applied"
	fi
}

# ---- runs -----------------------------------------------------------------------
run() { # TAG ID: ctr run --rm, output in $T/out.ID
	ctr run --rm --snapshotter mkimg --runc-root "$T/runc" --fifo-dir "$T/fifo" "mkimg.test/img:$1" "$2" >"$T/out.$2" 2>&1 ||
		fail "ctr run $1: $(cat "$T/out.$2")"
}
expect() { # ID TEXT
	[ "$(cat "$T/out.$1")" = "$2" ] || fail "$1 printed '$(cat "$T/out.$1")', not '$2'"
}
# The store images mounted under the snapshotter's root, sorted, one line.
store_mounts() { awk -v t="$R/mnt/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort | tr '\n' ' '; }
# ctr run --rm returns before containerd's garbage collector removes the
# container's snapshot, and only then does the snapshotter unmount: waits
# up to 30 s for the store mounts to be WANT (store_mounts' form).
wait_store_mounts() { # WANT
	local _
	for _ in $(seq 60); do
		[ "$(store_mounts)" != "$1" ] || return 0
		sleep 0.5
	done
	return 1
}

run_all() { # SUFFIX
	run a "a$1"; expect "a$1" "image a"
	run b "b$1"; expect "b$1" "image b
image a"
	run c "c$1"; expect "c$1" "new in c
f1 gone
$f2sum"
	run base "d$1"; expect "d$1" "image d: the base alone"
	run e "e$1"; expect "e$1" "image e, not in the store"
}
run_all 1
diff_id0() { # TAG: the diff_id of the first layer (its chain ID)
	python3 - "$O" "$1" <<'PY'
import json, sys
o = sys.argv[1]
blob = lambda d: json.load(open(o + "/blobs/sha256/" + d.split(":")[1]))
m = [x for x in json.load(open(o + "/index.json"))["manifests"]
     if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == sys.argv[2]][0]
print(blob(blob(m["digest"])["config"]["digest"])["rootfs"]["diff_ids"][0])
PY
}
chain_d=$(diff_id0 base)
"$MKIMG" ls --store "$S" --json | grep "\"chain-${chain_d#sha256:}\"" >/dev/null ||
	fail "no prefix image chain-${chain_d#sha256:} in the store"
say "runs: a, b, c (whiteout on top), d (prefix, built by mkimg lookup --build), e (not in the store)"

# no run left a mount: every store image was unmounted with its last
# snapshot
wait_store_mounts "" || fail "store mounts left after the runs: $(store_mounts)"

# ---- long-running containers: mounts, files, writes ---------------------------------
task_col() { ctr task ls | awk -v id="$1" -v col="$2" '$1 == id {print $col}'; } # ID COLUMN
task_pid() { task_col "$1" 2; }
# (the waits below poll these: a $(...) in ctd_wait_for's arguments would be
# evaluated once, before the first try)
task_running() { [ -n "$(task_pid "$1")" ]; }
task_stopped() { [ "$(task_col "$1" 3)" = STOPPED ]; }
long() { # TAG ID
	ctr run -d --snapshotter mkimg --runc-root "$T/runc" --fifo-dir "$T/fifo" "mkimg.test/img:$1" "$2" sleep 100000 \
		>"$T/out.$2" 2>&1 || fail "ctr run -d $1: $(cat "$T/out.$2")"
	ctd_wait_for 10 task_running "$2" || fail "task $2 not running"
}
long a la
long a la2
long b lb
long c lc
pid=$(task_pid la)
rootline=$(awk '$5 == "/"' "/proc/$pid/mountinfo")
case $rootline in
*" - overlay overlay "*"lowerdir=$R/mnt/$hex_a"*) ;;
*) fail "la's root is not an overlay over the store mount of a: $rootline" ;;
esac
mnt_a=$(awk -v m="$R/mnt/$hex_a" '$5 == m' /proc/self/mountinfo)
case $mnt_a in *" - erofs "*) ;; *) fail "$R/mnt/$hex_a is not an erofs mount: $mnt_a" ;; esac
[ "$(awk -v m="$R/mnt/$hex_a" '$5 == m' /proc/self/mountinfo | wc -l)" = 1 ] ||
	fail "a is mounted more than once for two containers"
"$MKIMG" pins --store "$S" --json | grep "$hex_a" >/dev/null || fail "the mount of a is not pinned"
# c: its own layer over the store image of a's chain
rootline=$(awk '$5 == "/"' "/proc/$(task_pid lc)/mountinfo")
case $rootline in
*"lowerdir=$c_up:$R/mnt/$hex_a"*) ;;
*) fail "lc's root is not c's layer over the store mount of a: $rootline" ;;
esac
rootfs() { echo "$T/state/io.containerd.runtime.v2.task/default/$1/rootfs"; }
# c on containerd's own overlayfs snapshotter: the same tree
t0=$(date +%s%N)
ctr images import --local=false --base-name mkimg.test/img --snapshotter overlayfs "$T/images.tar" >"$T/import2.log" 2>&1 ||
	fail "ctr images import --snapshotter overlayfs: $(tail -n 5 "$T/import2.log")"
import_ovl=$((($(date +%s%N) - t0) / 1000000))
say "import of the 5 images (content already in containerd for overlayfs): mkimg $import_mkimg ms," \
	"$(du -sk "$R/snapshots" | cut -f1) KiB of snapshot directories (+ $(du -sk "$S" | cut -f1) KiB store);" \
	"overlayfs $import_ovl ms, $(du -sk "$T/root/io.containerd.snapshotter.v1.overlayfs" | cut -f1) KiB"
ctr run -d --snapshotter overlayfs --runc-root "$T/runc" --fifo-dir "$T/fifo" mkimg.test/img:c lco sleep 100000 >/dev/null ||
	fail "ctr run --snapshotter overlayfs c"
ctd_wait_for 10 task_running lco || fail "task lco not running"
# treecmp A B: equal trees, roots' mtimes aside. containerd's applier leaves a
# directory in which it makes a whiteout (c's /data) with an mtime of its own,
# on its overlayfs snapshotter too (it differs between two imports), so that
# one is compared apart: its entries, not its mtime.
treecmp() {
	python3 "$TOOLS/treecmp.py" --overlay --ignore-root-mtime --skip-names data "$1" "$2" &&
		python3 "$TOOLS/treecmp.py" --overlay --ignore-root-mtime "$1/data" "$2/data"
}
treecmp "$(rootfs lco)" "$(rootfs lc)" >"$T/cmp.co" 2>&1 ||
	fail "c: rootfs differs from containerd's overlayfs snapshotter's: $(head -n 5 "$T/cmp.co")"
for x in "a la" "b lb" "c lc"; do
	set -- $x
	treecmp "$T/ref/$1/rootfs" "$(rootfs "$2")" >"$T/cmp.$1" 2>&1 ||
		fail "$1: rootfs differs from umoci unpack: $(head -n 5 "$T/cmp.$1")"
done
say "rootfs: an overlay over the erofs store mount, equal to umoci unpack (a, b, c); one mount for two containers"

ctr task exec --fifo-dir "$T/fifo" --exec-id w1 la sh -c 'echo written > /written.txt' || fail "write in la"
up=$(grep -l '^written$' "$R"/snapshots/*/fs/written.txt 2>/dev/null | wc -l)
[ "$up" = 1 ] || fail "the write is in $up upper dirs"
[ ! -e "$R/mnt/$hex_a/written.txt" ] || fail "the write reached the store image"
[ ! -e "$(dirname "$(rootfs la2)")/rootfs/written.txt" ] || fail "la2 sees la's write"

# ---- kill -9 and restart ------------------------------------------------------------------
mounts_before=$(store_mounts)
kill -9 "$sn_pid"; wait "$sn_pid" 2>/dev/null || true
kill -9 "$ctd_pid"; wait "$ctd_pid" 2>/dev/null || true
ctr task exec --fifo-dir "$T/fifo" --exec-id r0 la true 2>/dev/null && fail "containerd still answers"
# the containers run on
[ -d "/proc/$pid" ] || fail "la died with containerd"
[ "$(cat "/proc/$pid/root/data/f2" | md5sum)" = "$f2sum" ] || fail "la cannot read its files"
start_snapshotter
start_containerd
mounts_after=$(store_mounts)
[ "$mounts_after" = "$mounts_before" ] || fail "mounts before the restart: $mounts_before; after: $mounts_after"
[ "$(ctr task exec --fifo-dir "$T/fifo" --exec-id r1 la cat /written.txt)" = written ] || fail "la after the restart"
[ "$(ctr task exec --fifo-dir "$T/fifo" --exec-id r2 lb sh -c 'cat /data/f2 | md5sum')" = "$f2sum" ] || fail "lb after the restart"
run_all 2
wait_store_mounts "$mounts_before" || fail "mounts after the restart and runs: $(store_mounts)"
say "kill -9 of snapshotter and containerd: containers ran on, restart, runs work, the same $(echo $mounts_after | wc -w) store mounts"

# ---- gc during a run keeps pinned data ------------------------------------------------
"$MKIMG" rm --store "$S" b >/dev/null || fail "mkimg rm b"
"$MKIMG" gc --store "$S" >"$T/gc.log" 2>&1 || fail "mkimg gc: $(cat "$T/gc.log")"
[ -f "$S/images/$hex_b" ] || fail "gc removed b's image while lb runs"
[ "$(ctr task exec --fifo-dir "$T/fifo" --exec-id g1 lb sh -c 'cat /data/f3 | md5sum')" = "$(md5sum < "$T/b/a/rootfs/data/f3")" ] ||
	fail "lb cannot read its files after gc"
say "gc with b removed from the store while lb runs: b's image kept"

# ---- mount-manager mode (containerd 2.2+) ---------------------------------------------
# containerd 2.1 has no mount manager: the test performs the mounts the
# snapshotter answers as the manager would (the erofs mount through mkimg
# mount, every option accounted for; {{ mount 0 }} filled in; the overlay)
# and checks that the snapshotter itself mounted nothing and pinned the image
chain_of() { # TAG: the chain ID of the image's layers
	python3 - "$O" "$1" <<'EOF'
import hashlib, json, sys
o, tag = sys.argv[1:3]
blob = lambda d: json.load(open(o + "/blobs/sha256/" + d.split(":")[1]))
m = [x for x in json.load(open(o + "/index.json"))["manifests"]
     if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
chain = None
for d in blob(blob(m["digest"])["config"]["digest"])["rootfs"]["diff_ids"]:
    chain = d if chain is None else "sha256:" + hashlib.sha256((chain + " " + d).encode()).hexdigest()
print(chain)
EOF
}
mm_pins() { "$MKIMG" pins --store "$S" --json | python3 -c '
import json, sys
print(sum(1 for p in json.load(sys.stdin) if p["state"] == "live" and "mount manager" in p["what"]))'; }
ctr images import --local=false --base-name mkimg.test/mm --snapshotter mkimg-mm "$T/images.tar" >"$T/import-mm.log" 2>&1 ||
	fail "ctr images import (mount-manager mode): $(tail -n 5 "$T/import-mm.log")"
ctr snapshots --snapshotter mkimg-mm prepare --mounts mm-c "$(chain_of c)" >"$T/mm.json" 2>&1 ||
	fail "prepare in mount-manager mode: $(cat "$T/mm.json")"
[ "$(mm_pins)" = 1 ] || fail "mount-manager mode: $(mm_pins) live pins of the snapshotter, not 1"
! awk -v t="$T/mm/" 'index($5, t) == 1' /proc/self/mountinfo | grep . >/dev/null ||
	fail "the snapshotter in mount-manager mode mounted something itself"
mkdir -p "$T/mmroot/erofs" "$T/mmroot/rootfs"
python3 - "$T/mm.json" "$T/mmroot" "$S" "$hex_a" > "$T/mm.sh" <<'EOF' || fail "mount-manager answer: $(cat "$T/mm.json")"
import json, os, shlex, sys
mounts, root, store, hex_a = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
assert len(mounts) == 2, mounts
# ctr prints containerd's Mount struct: Type, Source, Target, Options
e, ov = [{k.lower(): v for k, v in m.items()} for m in mounts]
assert e["type"] == "erofs" and e["source"] == os.path.realpath(store) + "/images/" + hex_a, e
args = ["mount", e["source"], root + "/erofs"]
assert e["options"][0] == "ro", e
for o in e["options"][1:]:
    k, _, v = o.partition("=")
    if k == "device": args += ["--device", v]
    elif k == "domain_id": args += ["--domain", v]
    elif o == "directio": args += ["--directio"]
    else: assert o == "inode_share", "unknown erofs option " + o
assert ov["type"] == "format/overlay" and ov["source"] == "overlay", ov
opts = [o.replace("{{ mount 0 }}", root + "/erofs") for o in ov["options"]]
low = [o for o in opts if o.startswith("lowerdir=")]
assert len(low) == 1 and low[0].endswith(":" + root + "/erofs"), opts
assert any(o.startswith("upperdir=") for o in opts) and any(o.startswith("workdir=") for o in opts), opts
print('"$MKIMG" ' + " ".join(map(shlex.quote, args)))
print("mount -t overlay overlay -o " + shlex.quote(",".join(opts)) + " " + shlex.quote(root + "/rootfs"))
EOF
MKIMG=$MKIMG bash -e "$T/mm.sh" >"$T/mm.log" 2>&1 || fail "performing the mount-manager answer: $(cat "$T/mm.log")"
treecmp "$T/ref/c/rootfs" "$T/mmroot/rootfs" >"$T/cmp.mm" 2>&1 ||
	fail "c in mount-manager mode: rootfs differs from umoci unpack: $(head -n 5 "$T/cmp.mm")"
echo mm > "$T/mmroot/rootfs/mm.txt"
[ "$(cat "$T"/mm/snapshots/*/fs/mm.txt 2>/dev/null)" = mm ] || fail "the write is not in mm-c's upper dir"
# a restart of the snapshotter takes its pin again (the old one's holder is gone)
kill -9 "$mm_pid"; wait "$mm_pid" 2>/dev/null || true
[ "$(mm_pins)" = 0 ] || fail "the pin outlived the snapshotter"
start_snapshotter_mm
[ "$(mm_pins)" = 1 ] || fail "mount-manager mode: no pin after the restart"
umount "$T/mmroot/rootfs" "$T/mmroot/erofs" || fail "umount of the mount-manager mounts"
ctr snapshots --snapshotter mkimg-mm rm mm-c || fail "snapshots rm mm-c"
# (containerd removes the snapshot in its garbage collection, soon after)
mm_unpinned() { [ "$(mm_pins)" = 0 ]; }
ctd_wait_for 10 mm_unpinned || fail "mount-manager mode: the pin outlived the snapshot"
for t in a b c base e; do
	ctr images rm --sync "mkimg.test/mm:$t" >/dev/null || fail "images rm mm:$t"
done
say "mount-manager mode: erofs + format/overlay answered, nothing mounted by the snapshotter, image pinned; performed, equal to umoci unpack"

# ---- removal: no snapshot, no mount left ------------------------------------------------
for id in la la2 lb lc lco; do
	ctr task kill -s KILL "$id" >/dev/null 2>&1 || true
	ctd_wait_for 10 task_stopped "$id" || fail "task $id still runs"
	ctr task rm "$id" >/dev/null || fail "task rm $id"
	ctr container rm "$id" >/dev/null || fail "container rm $id"
done
# b is no longer in the store: running it is refused, naming the cause
if ctr run --rm --snapshotter mkimg --runc-root "$T/runc" --fifo-dir "$T/fifo" mkimg.test/img:b bx >"$T/out.bx" 2>&1; then
	fail "b ran with its image removed from the store: $(cat "$T/out.bx")"
fi
chain_b=$(diff_id0 b) # b has one layer
grep "layer chain $chain_b.*mkimg: .*$chain_b" "$T/out.bx" >/dev/null || fail "b without its image: $(cat "$T/out.bx")"
ctr container rm bx >/dev/null 2>&1 || true
# (containerd removes lb's snapshot, and with it the pin on b's image, in
# its garbage collection, soon after the container is gone)
b_gone() {
	"$MKIMG" gc --store "$S" >"$T/gc.log" 2>&1 || fail "mkimg gc: $(cat "$T/gc.log")"
	[ ! -f "$S/images/$hex_b" ]
}
ctd_wait_for 10 b_gone || fail "b's image is still there with no container using it: $(cat "$T/gc.log")"
for t in a b c base e; do
	ctr images rm --sync "mkimg.test/img:$t" >/dev/null || fail "images rm $t"
done
left=$(ctr snapshots --snapshotter mkimg ls | tail -n +2 | wc -l)
[ "$left" = 0 ] || fail "$left snapshots left after images rm: $(ctr snapshots --snapshotter mkimg ls)"
left=$(ctr snapshots --snapshotter mkimg-mm ls | tail -n +2 | wc -l)
[ "$left" = 0 ] || fail "$left snapshots left in mount-manager mode: $(ctr snapshots --snapshotter mkimg-mm ls)"
[ -z "$(ls -A "$T/mm/snapshots")" ] || fail "snapshot directories left in mount-manager mode: $(ls "$T/mm/snapshots")"
leftover=$(awk -v t="$R/mnt/" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)
[ "$leftover" = 0 ] || fail "$leftover store mounts left after images rm"
[ -z "$(ls -A "$R/snapshots")" ] || fail "snapshot directories left: $(ls "$R/snapshots")"
"$MKIMG" pins --store "$S" --json | grep '"live"' >/dev/null && fail "live pins left: $("$MKIMG" pins --store "$S")"
say "images rm --sync: no snapshot, no mount, no live pin left"
say "passed in $((SECONDS - start)) s"
