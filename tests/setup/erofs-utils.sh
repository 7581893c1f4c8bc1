#!/usr/bin/env bash
# Build erofs-utils 1.9.x (fsck.erofs, dump.erofs, mkfs.erofs) from Debian's
# source package into a private prefix. Debian 12 ships 1.5, which is too old
# to read long xattr prefixes. The system's apt configuration is not touched:
# a private source list for sid is used for this one download.
# Usage: tests/setup/erofs-utils.sh [PREFIX]   (default /opt/mkimg-oracle)
set -euo pipefail
prefix=${1:-/opt/mkimg-oracle}
if [ -x "$prefix/bin/fsck.erofs" ] && "$prefix/bin/fsck.erofs" -V 2>&1 | grep -q ' 1\.9'; then
	exit 0
fi
work=$(mktemp -d /var/tmp/erofs-utils-src.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" \
	> "$work/sources.list"
aptopts=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=-
	-o Dir::State::Lists="$work/lists" -o APT::Get::List-Cleanup=0)
apt-get "${aptopts[@]}" -qq update
cd "$work/src"
apt-get "${aptopts[@]}" -qq source --download-only erofs-utils
dpkg-source -x ./*.dsc tree >/dev/null
cd tree
[ -x configure ] || ./autogen.sh >/dev/null
./configure -q --prefix="$prefix" --disable-fuse --without-selinux --without-libzstd \
	--without-qpl --without-xxhash --disable-multithreading >/dev/null
make -s -j"$(nproc)" >/dev/null
make -s install >/dev/null
"$prefix/bin/fsck.erofs" -V
