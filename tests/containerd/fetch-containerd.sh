#!/usr/bin/env bash
# Fetch containerd from Debian sid by package name (a private apt
# configuration: its own source list, lists and cache; the system's apt
# configuration is not touched) and unpack it into CACHEDIR/containerd.
# A rerun with a complete cache downloads nothing.
#
# Usage: tests/containerd/fetch-containerd.sh [CACHEDIR]
#        (default /var/tmp/mkimg-containerd-cache)
# Exit: 0 ok (prints the bin directory), 1 failure (no archive, no package).
# Result: CACHEDIR/containerd/usr/bin/{containerd,ctr,containerd-shim-runc-v2},
#   CACHEDIR/containerd.version.
set -euo pipefail

cache=${1:-/var/tmp/mkimg-containerd-cache}
mirror=${MKIMG_CONTAINERD_MIRROR:-http://deb.debian.org/debian}
suite=${MKIMG_CONTAINERD_SUITE:-sid}
want=${MKIMG_CONTAINERD_VERSION:-2.1.}

say() { echo "fetch-containerd: $*" >&2; }
die() { say "$*"; exit 1; }

bin=$cache/containerd/usr/bin
complete() {
	[ -x "$bin/containerd" ] && [ -x "$bin/ctr" ] && [ -x "$bin/containerd-shim-runc-v2" ] &&
		[ -s "$cache/containerd.version" ]
}
if complete; then
	echo "$bin"
	exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found"
mkdir -p "$cache"
work=$(mktemp -d /var/tmp/mkimg-containerd-fetch.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/deb"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
	> "$work/sources.list"
aptopts=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=-
	-o Dir::State::Lists="$work/lists" -o Dir::Cache="$work" -o Dir::Cache::archives="$work/archives"
	-o APT::Get::List-Cleanup=0 -o Acquire::Check-Valid-Until=false
	-o Debug::NoLocking=1 -o APT::Sandbox::User=root)
say "updating private $suite package lists"
apt-get "${aptopts[@]}" -qq update || die "apt-get update for $suite failed (no network?)"
ver=$(apt-cache "${aptopts[@]}" show containerd 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
[ -n "$ver" ] || die "no containerd package in $suite"
case $ver in
$want*) ;;
*) die "containerd in $suite is $ver, not $want*" ;;
esac
say "downloading containerd $ver"
(cd "$work/deb" && apt-get "${aptopts[@]}" -qq download "containerd=$ver") ||
	die "download of containerd $ver failed"
rm -rf "$cache/containerd.tmp"
dpkg-deb -x "$work"/deb/containerd_*.deb "$cache/containerd.tmp"
rm -rf "$cache/containerd"
mv "$cache/containerd.tmp" "$cache/containerd"
echo "containerd $ver ($suite)" > "$cache/containerd.version"
complete || die "containerd package lacks containerd, ctr or containerd-shim-runc-v2"
echo "$bin"
