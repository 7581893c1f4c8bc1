#!/usr/bin/env bash
# Converts every image of the public corpus (../shared/corpus/make-corpus.sh,
# $CORPUS_OUT/oci/<image>) and checks it against `umoci unpack`: the
# flattened image passes fsck.erofs 1.9 and, mounted, equals umoci's rootfs;
# the per-layer images stacked with overlayfs equal it too. Not part of
# `make check` (the corpus takes minutes to build); run by hand or from
# bench/. Usage: tests/corpus/check.sh [IMAGE...]
. "$(dirname "$0")/../e2e/lib.sh"
require_root
require_oracle
corpus=${CORPUS_OUT:-/var/tmp/mkimg-corpus}/oci
[ -d "$corpus" ] || { echo "SKIP: no corpus at $corpus (run shared/corpus/make-corpus.sh)"; exit 77; }
images=("$@")
[ ${#images[@]} -gt 0 ] || images=($(ls "$corpus"))
for name in "${images[@]}"; do
	layout=$corpus/$name
	tag=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["manifests"][0]; print(m.get("annotations",{}).get("org.opencontainers.image.ref.name",""))' "$layout/index.json")
	src="oci:$layout${tag:+:$tag}"
	echo "== $name ($src)"
	rm -rf "$T/bundle"
	umoci unpack --image "$layout${tag:+:$tag}" "$T/bundle" >/dev/null
	"$MKIMG" convert -q -o "$T/$name.erofs" "$src"
	# umoci gives the root the time of the unpack
	touch -h -d "@$(stat -c %Y "$T/bundle/rootfs")" "$T/bundle/rootfs"
	mkdir -p "$T/m"
	"$MKIMG" mount "$T/$name.erofs" "$T/m"
	touch -d "@$(stat -c %Y "$T/m")" "$T/bundle/rootfs"
	"$MKIMG" umount "$T/m"
	check_image "$T/$name.erofs" "$T/bundle/rootfs"
	# per layer, stacked with overlayfs
	"$MKIMG" convert -q --per-layer -o "$T/$name.layers" "$src"
	lower=""
	for l in $(ls "$T/$name.layers" | sort); do
		mkdir -p "$T/L/$l"
		"$MKIMG" mount "$T/$name.layers/$l" "$T/L/$l"
		lower="$T/L/$l${lower:+:$lower}"
	done
	mkdir -p "$T/ovl"
	if [ "${lower#*:}" = "$lower" ]; then
		# one layer: overlayfs wants two lowers without an upper
		mount --bind "$lower" "$T/ovl"
	else
		mount -t overlay overlay -o "ro,lowerdir=$lower" "$T/ovl"
	fi
	python3 "$TOOLS/treecmp.py" --ignore-root-mtime --overlay \
		"$T/bundle/rootfs" "$T/ovl" || fail "$name: per-layer overlay differs from umoci's rootfs"
	umount "$T/ovl"
	for l in $(ls "$T/$name.layers"); do "$MKIMG" umount "$T/L/$l"; done
	rm -rf "$T/$name.erofs" "$T/$name.layers" "$T/bundle" "$T/L"
done
echo "PASS: corpus"
