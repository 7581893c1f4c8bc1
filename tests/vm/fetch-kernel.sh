#!/usr/bin/env bash
# Fetch a Linux 7.x amd64 kernel with EROFS page-cache sharing
# (CONFIG_EROFS_FS_PAGE_CACHE_SHARE=y) from Debian sid, plus the modules the
# test VM needs and a static busybox. Everything lands in CACHEDIR; a rerun with
# a complete cache downloads nothing.
# The system's apt configuration is not touched: a private source list and a
# private lists directory are used for the sid lookups.
#
# Usage: tests/vm/fetch-kernel.sh [CACHEDIR]    (default /var/cache/mkimg-vm)
# Exit: 0 ok, 1 failure (e.g. no network to the archive, no suitable kernel).
# Result in CACHEDIR: vmlinuz, config, kernel-release, kernel-package,
#   modules/*.ko (uncompressed), modules/load-order (dependency order),
#   modules/wanted (the modules asked for), busybox.
set -euo pipefail

cache=${1:-/var/cache/mkimg-vm}
# modules the VM needs (dependencies are added automatically); a cache made
# for another list is fetched again
want_modules=(virtio_blk erofs overlay)
mirror=${MKIMG_VM_MIRROR:-http://deb.debian.org/debian}
suite=${MKIMG_VM_SUITE:-sid}

say() { echo "fetch-kernel: $*" >&2; }
die() { say "$*"; exit 1; }

report() {
	echo "kernel package: $(cat "$cache/kernel-package")"
	echo "kernel release: $(cat "$cache/kernel-release")"
	echo "vmlinuz:        $cache/vmlinuz ($(stat -c %s "$cache/vmlinuz") bytes)"
	echo "config:         $(grep -E '^CONFIG_EROFS_FS_PAGE_CACHE_SHARE=' "$cache/config")"
	echo "modules:        $(tr '\n' ' ' < "$cache/modules/load-order")"
	echo "busybox:        $cache/busybox ($(cat "$cache/busybox.source"))"
}

complete() {
	local m
	[ -s "$cache/vmlinuz" ] && [ -s "$cache/config" ] && [ -s "$cache/kernel-release" ] &&
		[ -s "$cache/kernel-package" ] && [ -s "$cache/modules/load-order" ] &&
		[ -x "$cache/busybox" ] || return 1
	[ "$(cat "$cache/modules/wanted" 2>/dev/null)" = "${want_modules[*]}" ] || return 1
	while read -r m; do [ -s "$cache/modules/$m" ] || return 1; done < "$cache/modules/load-order"
}

if complete; then
	report
	exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found"
mkdir -p "$cache"
work=$(mktemp -d /var/tmp/mkimg-vm-fetch.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ---- busybox (static) -------------------------------------------------------
if [ ! -x "$cache/busybox" ]; then
	bb=
	for p in /bin/busybox /usr/bin/busybox; do
		[ -x "$p" ] || continue
		if dpkg -S "$p" 2>/dev/null | grep -q '^busybox-static:' ||
			file -L "$p" 2>/dev/null | grep -q 'statically linked'; then
			bb=$p
			break
		fi
	done
	if [ -n "$bb" ]; then
		cp "$bb" "$cache/busybox.tmp"
		echo "host $bb ($(dpkg-query -W -f='${Package} ${Version}' busybox-static 2>/dev/null || echo static))" \
			> "$cache/busybox.source"
	else
		mkdir -p "$work/bb"
		(cd "$work/bb" && apt-get -qq download busybox-static) || die "cannot download busybox-static"
		dpkg-deb -x "$work"/bb/busybox-static_*.deb "$work/bb/x"
		cp "$work/bb/x/bin/busybox" "$cache/busybox.tmp"
		basename "$work"/bb/busybox-static_*.deb > "$cache/busybox.source"
	fi
	chmod 755 "$cache/busybox.tmp"
	mv "$cache/busybox.tmp" "$cache/busybox"
fi

# ---- kernel from sid ----------------------------------------------------------
mkdir -p "$work/lists/partial" "$work/deb"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
	> "$work/sources.list"
aptopts=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=-
	-o Dir::State::Lists="$work/lists" -o APT::Get::List-Cleanup=0
	-o Debug::NoLocking=1 -o APT::Sandbox::User=root)
say "updating private $suite package lists"
apt-get "${aptopts[@]}" -qq update || die "apt-get update for $suite failed (no network?)"

# candidate kernels: linux-image-<release>-amd64 with a 7.x or newer release,
# newest first (the metapackage's choice is tried first)
cands=()
meta=$(apt-cache "${aptopts[@]}" depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
[ -n "$meta" ] && cands+=("$meta")
while read -r p; do
	[ "$p" = "$meta" ] || cands+=("$p")
done < <(apt-cache "${aptopts[@]}" pkgnames linux-image- |
	grep -E '^linux-image-[0-9]+\.[0-9]+[^ ]*-amd64$' | grep -vE -- '-(cloud|rt)-amd64$' |
	sed 's/^linux-image-//' | sort -rV | sed 's/^/linux-image-/')
[ ${#cands[@]} -gt 0 ] || die "no linux-image-*-amd64 package in $suite"

found=
for pkg in "${cands[@]}"; do
	rel=${pkg#linux-image-}
	major=${rel%%.*}
	[ "$major" -ge 7 ] 2>/dev/null || { say "skip $pkg (< 7.0)"; continue; }
	ver=$(apt-cache "${aptopts[@]}" show "$pkg" | sed -n 's/^Version: //p' | head -n1)
	# the image package itself plus its same-version linux-* parts
	# (linux-base-*: config; linux-binary-*: vmlinuz; linux-modules-*: modules)
	parts=("$pkg")
	while read -r d; do
		parts+=("$d")
	done < <(apt-cache "${aptopts[@]}" depends "$pkg" |
		sed -n "s/^ *Depends: \(linux-[a-z]*-$rel\)\$/\1/p" | grep -v -- '-unsigned-' | sort -u)
	say "trying $pkg $ver: ${parts[*]}"
	rm -rf "$work/deb" "$work/x"
	mkdir -p "$work/deb" "$work/x"
	(cd "$work/deb" && apt-get "${aptopts[@]}" -qq download "${parts[@]}") ||
		die "download of ${parts[*]} failed"
	for d in "$work"/deb/*.deb; do dpkg-deb -x "$d" "$work/x"; done
	cfg=
	for c in "$work/x/usr/lib/modules/$rel/config" "$work/x/lib/modules/$rel/config" \
		"$work/x/boot/config-$rel"; do
		[ -s "$c" ] && { cfg=$c; break; }
	done
	[ -n "$cfg" ] || { say "$pkg: no kernel config in the packages"; continue; }
	if ! grep -q '^CONFIG_EROFS_FS_PAGE_CACHE_SHARE=y' "$cfg"; then
		say "$pkg: CONFIG_EROFS_FS_PAGE_CACHE_SHARE not set"
		continue
	fi
	found=$pkg
	break
done
[ -n "$found" ] || die "no $suite 7.x kernel with CONFIG_EROFS_FS_PAGE_CACHE_SHARE=y"

vml=
for c in "$work/x/usr/lib/modules/$rel/vmlinuz" "$work/x/lib/modules/$rel/vmlinuz" \
	"$work/x/boot/vmlinuz-$rel"; do
	[ -s "$c" ] && { vml=$c; break; }
done
[ -n "$vml" ] || die "$found: no vmlinuz"
moddir=
for c in "$work/x/usr/lib/modules/$rel" "$work/x/lib/modules/$rel"; do
	[ -d "$c/kernel" ] && { moddir=$c; break; }
done
[ -n "$moddir" ] || die "$found: no modules directory"

# ---- modules, dependency order --------------------------------------------------
# The package ships no modules.dep (depmod runs at install time), so read each
# module's own "depends=" modinfo field.
find_mod() { # NAME -> path (module names treat - and _ alike)
	local n=${1//-/_} f b
	while read -r f; do
		b=$(basename "$f")
		b=${b%%.ko*}
		[ "${b//-/_}" = "$n" ] && { echo "$f"; return 0; }
	done < <(find "$moddir/kernel" -name "*.ko*")
	return 1
}
mod_cat() { # PATH -> uncompressed module on stdout
	case $1 in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -dcq "$1" ;;
	*.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}
rm -rf "$cache/modules.tmp"
mkdir -p "$cache/modules.tmp"
order=()
declare -A seen=()
add_mod() { # depth-first: dependencies before the module itself
	local n=${1//-/_} f deps d
	[ -n "${seen[$n]:-}" ] && return 0
	seen[$n]=1
	if ! f=$(find_mod "$n"); then
		say "module $n: no .ko (built in?)"
		return 0
	fi
	deps=$(mod_cat "$f" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1)
	for d in ${deps//,/ }; do add_mod "$d"; done
	mod_cat "$f" > "$cache/modules.tmp/$n.ko"
	order+=("$n.ko")
}
for m in "${want_modules[@]}"; do add_mod "$m"; done
printf '%s\n' "${order[@]}" > "$cache/modules.tmp/load-order"
echo "${want_modules[*]}" > "$cache/modules.tmp/wanted"
rm -rf "$cache/modules"
mv "$cache/modules.tmp" "$cache/modules"

cp "$cfg" "$cache/config"
cp "$vml" "$cache/vmlinuz.tmp" && mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
echo "$rel" > "$cache/kernel-release"
echo "$found $ver" > "$cache/kernel-package"
complete || die "cache incomplete after download"
report
