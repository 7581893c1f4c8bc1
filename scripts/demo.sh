#!/usr/bin/env bash
# The main job on a sample: installs what is needed, builds mkimg, makes two
# small OCI images that share a base layer and differ in their top layer
# (from directories of this machine), converts both into one store with its
# embedded registry, checks each with fsck.erofs 1.9 and its blobs, mounts
# both by name and compares them with `umoci unpack`, and prints what was
# stored and what was shared.
# Usage: scripts/demo.sh     (as root; DEMO_OUT, default /var/tmp/mkimg-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -x configure ] || [ configure.ac -nt configure ]; then autoreconf -fi >/dev/null; fi
[ -f Makefile ] || ./configure -q
make -s -j"$(nproc)" mkimg/mkimg
out=${DEMO_OUT:-/var/tmp/mkimg-demo}
for m in "$out"/mnt-*; do mountpoint -q "$m" 2>/dev/null && ./mkimg/mkimg umount "$m"; done
rm -rf "$out"
mkdir -p "$out"
store=$out/store

base=/usr/lib/python3.11	# Debian 12's python3-minimal
echo "== two OCI images: base layer $base, top layers /usr/share/perl5 and /etc"
python3 scripts/sample-oci.py "$out/app-perl" app-perl "$base" /usr/share/perl5
python3 scripts/sample-oci.py "$out/app-etc" app-etc "$base" /etc
for img in app-perl app-etc; do
	echo "== mkimg convert --store $store oci:$out/$img"
	./mkimg/mkimg convert --store "$store" --name "$img" "oci:$out/$img"
done
for img in app-perl app-etc; do
	j=$(./mkimg/mkimg inspect --store "$store" --json "$img")
	image=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["image"])' "$j")
	devs=$(python3 -c 'import json,sys; print(" ".join("--device=" + d for d in json.loads(sys.argv[1])["devices"]))' "$j")
	echo "== fsck.erofs 1.9 $img (fingerprints recomputed) with its blobs"
	# shellcheck disable=SC2086
	/opt/mkimg-oracle/bin/fsck.erofs $devs --xattr-inode-digest "$image"
	echo "== mkimg mount --store $store $img $out/mnt-$img; compare with umoci unpack"
	mkdir -p "$out/mnt-$img"
	./mkimg/mkimg mount --store "$store" "$img" "$out/mnt-$img"
	umoci unpack --image "$out/$img:$img" "$out/bundle-$img" >/dev/null
	python3 tests/tools/treecmp.py --ignore-root-mtime "$out/bundle-$img/rootfs" "$out/mnt-$img"
done
echo "== mount options for fstab / systemd / containerd"
./mkimg/mkimg mount --print --store "$store" app-etc /mnt/app-etc | sed -n '1,3p'
echo "== what was stored and shared"
./mkimg/mkimg ls --store "$store"
./mkimg/mkimg stats --store "$store"
for img in app-perl app-etc; do ./mkimg/mkimg umount "$out/mnt-$img"; done
