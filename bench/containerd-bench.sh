#!/usr/bin/env bash
# bench/containerd-bench.sh: container start-up through containerd 2.1 with
# mkimg's snapshotter, containerd's overlayfs snapshotter and containerd's
# built-in erofs snapshotter (erofs differ, mkfs.erofs 1.9).
#
# The public corpus (10 OCI images: Debian bookworm minbase plus Debian and
# npm packages; each has /bin/sh, bash and glibc, so they run as they are,
# with a command per image that prints one line) is pushed once to a
# docker-registry on loopback. Then, per run and per snapshotter, on a fresh
# "node" (a private containerd with an empty root, content store included):
#   for each image in order: `ctr images pull --snapshotter S`, then
#   `ctr run --rm --snapshotter S IMAGE ID CMD...` until its first line of
#   output. Later images profit from what earlier ones brought.
# For mkimg, the build-time step comes first and is timed apart: every image is
# converted into a fresh store (`mkimg convert --store`); the node's
# mkimg-snapshotter serves that store.
# Measured per image: pull, run to first output, their sum, and the CPU time
# of everything on the node (containerd, snapshotter, mkimg, shims, runc, the
# container, ctr: one cgroup, cpuacct); after the 10 images: `du -skx` of the
# content store, the snapshots and the mkimg store. Median of the runs.
# Prints a markdown table and writes a JSON file.
#
# Usage: bench/containerd-bench.sh [--quick] [--runs N] [--snapshotters LIST]
#                                  [--keep] [--json FILE]
#   --quick        3 images (debian-base python python-v2), 1 run: a smoke test
#   --runs N       every snapshotter's sequence N times, medians (default 3)
#   --snapshotters LIST   comma-separated, of mkimg, mkimg-noverify (the same
#                  with `verify = false`: no hashing of a store image and its
#                  blobs at its first mount), mkimg-buffered (`directio = false`:
#                  blobs read through their page cache), overlayfs, erofs
#                  (default all but mkimg-buffered)
#   --keep         keep the nodes' directories under $BENCH_OUT/work
#   --json FILE    default $BENCH_OUT/containerd-bench.json
# Environment: CORPUS_OUT (default /var/tmp/mkimg-corpus), BENCH_OUT (default
# /var/tmp/mkimg-containerd-bench), MKIMG (default ./mkimg/mkimg),
# MKIMG_SNAPSHOTTER (default ./snapshotter/mkimg-snapshotter), MKFS_EROFS_DIR
# (default /opt/mkimg-oracle/bin), MKIMG_CONTAINERD_CACHE (default
# /var/tmp/mkimg-containerd-cache; containerd 2.1 fetched into it if empty).
# Needs root, runc, docker-registry, skopeo, python3 (scripts/install-deps.sh).
# Page cache warm (the registry's blobs are read before), `sync` before each
# image. Everything started is stopped at exit and nothing stays mounted.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
tool=(python3 "$here/benchtool.py")
# shellcheck source=tests/containerd/lib.sh
. "$top/tests/containerd/lib.sh"

quick=0 runs='' keep=0 json='' snaps=mkimg,mkimg-noverify,overlayfs,erofs
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--runs) runs=${2:?}; shift ;;
	--snapshotters) snaps=${2:?}; shift ;;
	--keep) keep=1 ;;
	--json) json=${2:?}; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "containerd-bench: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ $quick = 1 ] && runs=${runs:-1}
runs=${runs:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "containerd-bench: --runs needs a positive number" >&2; exit 2; }
IFS=, read -r -a snaplist <<< "$snaps"
for s in "${snaplist[@]}"; do
	case $s in mkimg|mkimg-noverify|mkimg-buffered|overlayfs|erofs) ;; *) echo "containerd-bench: no snapshotter $s" >&2; exit 2 ;; esac
done

oci=${CORPUS_OUT:-/var/tmp/mkimg-corpus}/oci
out=${BENCH_OUT:-/var/tmp/mkimg-containerd-bench}
mkimg=${MKIMG:-$top/mkimg/mkimg}
snapbin=${MKIMG_SNAPSHOTTER:-$top/snapshotter/mkimg-snapshotter}
erofsdir=${MKFS_EROFS_DIR:-/opt/mkimg-oracle/bin}
cache=${MKIMG_CONTAINERD_CACHE:-/var/tmp/mkimg-containerd-cache}
json=${json:-$out/containerd-bench.json}
images=(debian-base debian-base-rebuilt python python-v2 python-v2-rebuilt node node-v2
	nginx postgresql gcc)
[ $quick = 1 ] && images=(debian-base python python-v2)
# what each image runs (/bin/sh -c SCRIPT): its own program, printing one
# line (stderr counts)
declare -A cmd=(
	[debian-base]='exec bash -c "echo debian \$(cat /etc/debian_version)"'
	[debian-base-rebuilt]='exec bash -c "echo debian \$(cat /etc/debian_version)"'
	[python]='exec python3 -c "import sys; print(\"python\", sys.version.split()[0])"'
	[python-v2]='exec python3 -c "import numpy, requests; print(\"numpy\", numpy.__version__, \"requests\", requests.__version__)"'
	[python-v2-rebuilt]='exec python3 -c "import numpy, requests; print(\"numpy\", numpy.__version__, \"requests\", requests.__version__)"'
	[node]='exec node -e "require(\"express\"); require(\"react-dom/server\"); console.log(\"node\", process.version)"'
	[node-v2]='exec node -e "require(\"express\"); require(\"react-dom/server\"); console.log(\"node\", process.version)"'
	[nginx]='exec nginx -v'
	[postgresql]='exec postgres --version'
	[gcc]='echo "int main(void){puts(\"hello from gcc\");return 0;}" | gcc -include stdio.h -x c -o /tmp/hello - && exec /tmp/hello'
)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
t_start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------ prerequisites
[ "$(id -u)" = 0 ] || die "needs root (containerd, mounts, containers)"
for i in "${images[@]}"; do
	[ -f "$oci/$i/index.json" ] || die "corpus image $oci/$i missing (/work/shared/corpus/make-corpus.sh builds it)"
done
for c in runc docker-registry skopeo python3; do
	command -v "$c" >/dev/null || die "$c not found (scripts/install-deps.sh installs it)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (package time) is needed"
[ -x "$mkimg" ] || die "$mkimg is not built (make)"
[ -x "$snapbin" ] || die "$snapbin is not built (make, with Go)"
"$erofsdir/mkfs.erofs" -V 2>&1 | grep -q ' 1\.9' || die "$erofsdir/mkfs.erofs is not erofs-utils 1.9"
cbin=$(ctd_fetch "$cache" sid 2.1) || die "cannot fetch containerd 2.1"
export PATH=$erofsdir:$cbin:/usr/sbin:/usr/bin:/sbin:/bin

# cgroup for the CPU of the node: cpuacct (cgroup v1) or cgroup v2's cpu.stat.
# The script's shell joins CG/node (containerd and the snapshotter inherit it),
# the containers go to CG/ctr/ID (ctr run --cgroup).
cgname=mkimg-containerd-bench-$$
if [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
	cgroot=/sys/fs/cgroup/cpuacct cgkind=v1
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cgroot=/sys/fs/cgroup cgkind=v2
else
	cgroot= cgkind=none
fi
cg=${cgroot:+$cgroot/$cgname}
cpu_ns() { # CPU time of the node's cgroup so far, ns (-1 without one)
	local k v
	case $cgkind in
	v1) read -r v < "$cg/cpuacct.usage"; echo "$v" ;;
	v2) while read -r k v; do [ "$k" = usage_usec ] && { echo "${v}000"; return; }; done < "$cg/cpu.stat" ;;
	*) echo -1 ;;
	esac
}

mkdir -p "$out"
work=$out/work
res=$out/results
rm -rf "$work" "$res"
mkdir -p "$work" "$res"
node= # the node's directory while one runs
sn_pid= # its snapshotter (ctd_stop kills it)
cleanup() {
	local d m left
	set +e
	[ -n "$node" ] && ctd_stop "$node" "$node/containerd.sock"
	ctd_stop_registry
	if [ -n "$cg" ] && [ -d "$cg" ]; then
		echo $$ > "$cgroot/cgroup.procs"
		# runc makes CGNAME/ctr/ID in every hierarchy; ctr run --rm removes ID
		for d in /sys/fs/cgroup/*/"$cgname" /sys/fs/cgroup/"$cgname"; do
			[ -d "$d" ] || continue
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	fi
	for m in $(awk -v t="$work/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	[ $keep = 1 ] || rm -rf "$work"
	left=$(awk -v t="$out/" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)
	if [ "$left" != 0 ]; then
		log "ERROR: $left mounts left under $out"
		exit 1
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ the registry
log "corpus: ${images[*]}"
"${tool[@]}" layers "$oci" "${images[@]}" > "$res/image-layers"
log "docker-registry on loopback, pushing ${#images[@]} images with skopeo"
ctd_start_registry "$work/registry" "$work/registry.log" || die "no registry"
reg=127.0.0.1:$ctd_reg_port
for i in "${images[@]}"; do
	skopeo copy -q --dest-tls-verify=false "oci:$oci/$i:latest" "docker://$reg/corpus/$i:latest" \
		>"$work/skopeo.log" 2>&1 || die "skopeo copy $i: $(tail -n 3 "$work/skopeo.log")"
done
cat "$work"/registry/data/docker/registry/v2/blobs/sha256/*/*/data > /dev/null
if [ -n "$cg" ]; then
	mkdir -p "$cg/node" "$cg/ctr"
	[ $cgkind = v1 ] || echo +cpu > "$cg/cgroup.subtree_control" 2>/dev/null || true
	echo $$ > "$cg/node/cgroup.procs"
fi
: > "$res/runs.tsv"
: > "$res/disk.tsv"
: > "$res/convert.tsv"

# ------------------------------------------------------------ one node
first_line() { # OUTFILE: the first line of stdin, its time and the CPU so far; the rest after it
	local line
	IFS= read -r line || return 0
	echo "$EPOCHREALTIME $(cpu_ns)" > "$1.t"
	printf '%s\n' "$line" > "$1"
	cat >> "$1"
}
node_sequence() { # RUN SNAPSHOTTER
	local r=$1 sn=$2 i n t0 t1 t2 c0 c2 rc id o nl fetched
	node=$work/$sn.$r
	rm -rf "$node"
	mkdir -p "$node/fifo" "$node/runc"
	local snapsock= csn=$sn
	if [[ $sn == mkimg* ]]; then
		# a copy of the run's store, so each node starts from the build's
		csn=mkimg
		cp -a "$store" "$node/store"
		snapsock=$node/snapshotter.sock
		ctd_snapshotter_config "$node/snapshotter.toml" "$snapsock" "$node/snap" "$node/store" "$mkimg"
		case $sn in
		mkimg-noverify) echo "verify = false" >> "$node/snapshotter.toml" ;;
		mkimg-buffered) echo "directio = false" >> "$node/snapshotter.toml" ;;
		esac
		ctd_start_snapshotter sn_pid "$snapbin" "$node/snapshotter.toml" "$node/snapshotter.log" ||
			die "mkimg-snapshotter"
	fi
	# the transfer service fails to start when an unpack_config names a
	# snapshotter that is not there: only this node's
	local unpack=$csn
	[ "$csn" = erofs ] && unpack=erofs:erofs
	ctd_config "$node/containerd.toml" "$node" 3 ${snapsock:+"mkimg=$snapsock"} "$unpack"
	ctd_start_containerd "$node/containerd.toml" "$node/containerd.log" || die "containerd"
	n=0
	for i in "${images[@]}"; do
		n=$((n + 1))
		id=bench-$r-$n o=$res/out.$r.$sn.$i
		ctd_ctr content ls -q > "$node/content.before"
		sync
		c0=$(cpu_ns) t0=$EPOCHREALTIME
		ctd_ctr images pull --local=false --plain-http --snapshotter "$csn" "$reg/corpus/$i:latest" \
			>"$node/pull.log" 2>&1 || die "$sn: pull $i: $(tail -n 5 "$node/pull.log")"
		t1=$EPOCHREALTIME
		rm -f "$o" "$o.t"
		set +e
		ctd_ctr run --rm --snapshotter "$csn" --runc-root "$node/runc" --fifo-dir "$node/fifo" \
			${cg:+--cgroup "/$cgname/ctr/$id"} "$reg/corpus/$i:latest" "$id" /bin/sh -c "${cmd[$i]}" \
			2>&1 | first_line "$o"
		rc=${PIPESTATUS[0]}
		set -e
		[ "$rc" = 0 ] && [ -s "$o.t" ] || die "$sn: run $i (exit $rc): $(cat "$o" 2>/dev/null; tail -n 5 "$node/containerd.log")"
		read -r t2 c2 < "$o.t"
		# layer blobs of this image the pull brought into the node's content store
		fetched=0 nl=0
		ctd_ctr content ls -q > "$node/content"
		while read -r img digest _; do
			[ "$img" = "$i" ] || continue
			nl=$((nl + 1))
			if grep -qx "$digest" "$node/content" && ! grep -qx "$digest" "$node/content.before"; then
				fetched=$((fetched + 1))
			fi
		done < "$res/image-layers"
		# fetched/layers: the image's layer blobs this pull put in the content store
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$sn" "$i" \
			"$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t2 - $t0" | bc)" \
			"$([ "$c0" = -1 ] && echo -1 || echo "scale=3; ($c2 - $c0) / 1000000000" | bc)" \
			"$fetched/$nl" >> "$res/runs.tsv"
		log "  $sn $i: pull $(echo "$t1 - $t0" | bc | cut -c1-5) s, first output after $(echo "$t2 - $t0" | bc | cut -c1-5) s: $(head -n 1 "$o")"
	done
	# the node's disk after all images
	local root=$node/root snaps
	case $sn in
	mkimg*) snaps=$node/snap ;;
	*) snaps=$root/io.containerd.snapshotter.v1.$sn ;;
	esac
	disk() { printf '%s\t%s\t%s\t%s\n' "$r" "$sn" "$1" "$(du -skx "$2" | cut -f1)" >> "$res/disk.tsv"; }
	disk content "$root/io.containerd.content.v1.content"
	disk snapshots "$snaps"
	disk metadata "$root/io.containerd.metadata.v1.bolt"
	disk containerd_root "$root"
	if [ "$csn" = mkimg ]; then disk store "$node/store"; fi
	printf '%s\t%s\tmounts\t%s\n' "$r" "$sn" \
		"$(awk -v t="$node/" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)" >> "$res/disk.tsv"
	ctd_stop "$node" "$node/containerd.sock"
	[ "$(awk -v t="$node/" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)" = 0 ] ||
		die "mounts left under $node"
	[ $keep = 1 ] || rm -rf "$node"
	node=
}

for r in $(seq 1 "$runs"); do
	store=$work/store.$r
	if [[ " ${snaplist[*]}" == *" mkimg"* ]]; then
		rm -rf "$store"
		log "run $r/$runs: build time, mkimg convert --store (${#images[@]} images)"
		for i in "${images[@]}"; do
			sync
			/usr/bin/time -f "%e %U %S %M" -o "$res/time" \
				"$mkimg" convert --json --store "$store" --name "$i" "oci:$oci/$i:latest" \
				>"$res/convert.$r.$i.json" 2>"$res/err" || die "mkimg convert $i: $(cat "$res/err")"
			read -r w u s m < <(tail -n 1 "$res/time")
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$i" "$w" "$u" "$s" "$m" \
				"$res/convert.$r.$i.json" >> "$res/convert.tsv"
		done
	fi
	for sn in "${snaplist[@]}"; do
		log "run $r/$runs: $sn node"
		node_sequence "$r" "$sn"
	done
	[ $keep = 1 ] || rm -rf "$store"
done

# ------------------------------------------------------------ report
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
# shellcheck disable=SC1091
os=$(. /etc/os-release && echo "${PRETTY_NAME:-$ID}")
rev=$("$mkimg" --version 2>/dev/null | head -n 1 || true)
rev="${rev:-mkimg} (git $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown))"
cmds=$(for i in "${images[@]}"; do printf '%s\t%s\n' "$i" "${cmd[$i]}"; done)
export BR_CPU="$cpu" BR_OS="$os" BR_REV="$rev" BR_RES="$res" BR_QUICK=$quick BR_RUNS=$runs \
	BR_T0=$t_start BR_LOAD="$load0, $(cut -d' ' -f1-3 /proc/loadavg)" BR_CMDS="$cmds" \
	BR_CTD="$(cat "$cache/containerd.version")" BR_RUNC="$(runc --version | head -n 1)" \
	BR_MKFS="$("$erofsdir/mkfs.erofs" -V 2>&1 | head -n 1)" BR_CG=$cgkind BR_SNAPS="$snaps" \
	BR_IMAGES="${images[*]}"
python3 - <<'EOF'
import json, os, platform, time
e = os.environ
mem = int(open("/proc/meminfo").read().split()[1])
meta = {
    "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    "machine": {"cpu": e["BR_CPU"], "cores": os.cpu_count(), "kernel": platform.release(),
                "os": e["BR_OS"], "mem_gib": round(mem / 1048576, 1), "loadavg": e["BR_LOAD"]},
    "versions": {"mkimg": e["BR_REV"], "containerd": e["BR_CTD"], "runc": e["BR_RUNC"],
                 "mkfs.erofs": e["BR_MKFS"]},
    "conditions": {"quick": e["BR_QUICK"] == "1", "runs": int(e["BR_RUNS"]),
                   "page_cache": "warm", "sync_before_each_image": True,
                   "cpu_accounting": e["BR_CG"]},
    "snapshotters": e["BR_SNAPS"].split(","),
    "images": e["BR_IMAGES"].split(),
    "commands": dict(l.split("\t", 1) for l in e["BR_CMDS"].splitlines()),
    "bench_seconds": int(time.time()) - int(e["BR_T0"]),
}
json.dump(meta, open(os.path.join(e["BR_RES"], "meta.json"), "w"), indent=1)
EOF
echo
"${tool[@]}" containerd-report "$res" "$json"
log "done in $(($(date +%s) - t_start)) s"
