#!/usr/bin/env bash
# Install everything mkimg needs to build and test on Debian 12 (run as root).
# Also builds the erofs-utils 1.9 oracle (fsck.erofs, dump.erofs, mkfs.erofs)
# from Debian's source package into /opt/mkimg-oracle.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(build-essential autoconf automake libtool pkg-config
	liblz4-dev libxxhash-dev libcmocka-dev libarchive-dev libisal-dev libzstd-dev
	libssl-dev libsqlite3-dev libjson-c-dev libcurl4-openssl-dev
	python3 attr time bc umoci dpkg-dev uuid-dev zlib1g-dev liblzma-dev
	clang libclang-rt-14-dev
	qemu-system-x86 busybox-static cpio xz-utils zstd e2fsprogs
	golang-go golang-github-containerd-containerd-dev runc docker-registry skopeo openssl curl
	groff-base mandoc)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$(dirname "$0")/../tests/setup/erofs-utils.sh" /opt/mkimg-oracle
