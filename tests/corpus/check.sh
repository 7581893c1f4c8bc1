#!/usr/bin/env bash
# Converts every image of the public corpus (../shared/corpus/make-corpus.sh,
# $CORPUS_OUT/oci/<image>) and checks it against `umoci unpack`: the
# flattened image passes fsck.erofs 1.9 and, mounted, equals umoci's rootfs;
# the per-layer images stacked with overlayfs equal it too. Not part of
# `make check` (the corpus takes minutes to build); run by hand or from
# bench/. Usage: tests/corpus/check.sh [--store [--repair]] [IMAGE...]
# --store: all images into one store (at most 1060 MiB for all 10), then
# each image (mounted by name, with its blobs for fsck.erofs) against umoci.
# --repair: after the conversions the registry is deleted and rebuilt with
# `mkimg fsck --repair` (timed): every name must come back, the checks above
# run on the repaired store, and one more image (the first image's rootfs
# with one file changed, as a plain layer tar) must dedup against it.
. "$(dirname "$0")/../e2e/lib.sh"
require_root
require_oracle
corpus=${CORPUS_OUT:-/var/tmp/mkimg-corpus}/oci
[ -d "$corpus" ] || { echo "SKIP: no corpus at $corpus (run shared/corpus/make-corpus.sh)"; exit 77; }
store="" repair=0
if [ "${1:-}" = --store ]; then
	# all images into one store: its size, then each image as below
	store=$T/store
	shift
	if [ "${1:-}" = --repair ]; then
		repair=1
		shift
	fi
fi
images=("$@")
[ ${#images[@]} -gt 0 ] || images=($(ls "$corpus"))
src_of() {
	local layout=$corpus/$1 tag
	tag=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["manifests"][0]; print(m.get("annotations",{}).get("org.opencontainers.image.ref.name",""))' "$layout/index.json")
	echo "oci:$layout${tag:+:$tag}"
}
if [ -n "$store" ]; then
	for name in "${images[@]}"; do
		/usr/bin/time -f "  %e s wall, %U+%S s CPU, %M KiB peak RSS" \
			"$MKIMG" convert --store "$store" --name "$name" "$(src_of "$name")"
	done
	"$MKIMG" stats --store "$store"
	bytes=$(du -sb "$store" | cut -f1)
	echo "store on disk: $((bytes / 1048576)) MiB (du -sb)"
	[ ${#images[@]} -lt 10 ] || [ "$bytes" -le $((1060 * 1048576)) ] ||
		fail "the store takes more than 1060 MiB"
	"$MKIMG" fsck --store "$store" --full | tail -1
	if [ $repair = 1 ]; then
		"$MKIMG" ls --store "$store" >"$T/names.before"
		rm -f "$store"/registry.db "$store"/registry.db-wal "$store"/registry.db-shm
		"$MKIMG" gc --store "$store" >/dev/null 2>&1 && fail "gc ran without a registry"
		/usr/bin/time -f "  repair: %e s wall, %U+%S s CPU, %M KiB peak RSS" \
			"$MKIMG" fsck --store "$store" --repair || fail "repair failed"
		"$MKIMG" ls --store "$store" >"$T/names.after"
		diff "$T/names.before" "$T/names.after" || fail "names differ after the repair"
		"$MKIMG" fsck --store "$store" --full | tail -1
	fi
	for name in "${images[@]}"; do
		layout=$corpus/$name
		src=$(src_of "$name")
		echo "== $name (store)"
		rm -rf "$T/bundle"
		umoci unpack --image "${src#oci:}" "$T/bundle" >/dev/null
		j=$("$MKIMG" inspect --store "$store" --json "$name")
		img=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["image"])' "$j")
		devs=$(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["devices"]))' "$j")
		mkdir -p "$T/m"
		"$MKIMG" mount --store "$store" "$name" "$T/m"
		touch -h -d "@$(stat -c %Y "$T/m")" "$T/bundle/rootfs"
		"$MKIMG" umount "$T/m"
		# shellcheck disable=SC2086
		check_image "$img" "$T/bundle/rootfs" $devs
		rm -rf "$T/bundle"
	done
	# two images mounted at once
	a=${images[0]} b=${images[${#images[@]} - 1]}
	mkdir -p "$T/ma" "$T/mb"
	"$MKIMG" mount --store "$store" "$a" "$T/ma"
	"$MKIMG" mount --store "$store" "$b" "$T/mb"
	for n in "$a:$T/ma" "$b:$T/mb"; do
		rm -rf "$T/bundle"
		umoci unpack --image "$(src_of "${n%%:*}" | sed 's/^oci://')" "$T/bundle" >/dev/null
		python3 "$TOOLS/treecmp.py" --ignore-root-mtime "$T/bundle/rootfs" "${n#*:}" ||
			fail "${n%%:*} differs while mounted next to another image"
	done
	"$MKIMG" umount "$T/ma"
	"$MKIMG" umount "$T/mb"
	if [ $repair = 1 ]; then
		# one more image after the repair: a's rootfs with one file changed
		rm -rf "$T/bundle"
		umoci unpack --image "$(src_of "$a" | sed 's/^oci://')" "$T/bundle" >/dev/null
		echo "changed after the repair" >"$T/bundle/rootfs/etc/motd"
		tar --xattrs --xattrs-include='*' --numeric-owner --sort=name \
			-C "$T/bundle/rootfs" -cf "$T/extra.tar" .
		j=$("$MKIMG" convert --store "$store" --name extra --json "$T/extra.tar")
		new=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["new_bytes"])' "$j")
		echo "extra image after the repair: $new bytes of new data"
		[ "$new" -le 65536 ] || fail "the image after the repair stored $new new bytes"
		j=$("$MKIMG" inspect --store "$store" --json extra)
		img=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["image"])' "$j")
		devs=$(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["devices"]))' "$j")
		rm -rf "$T/ref" && mkdir "$T/ref"
		tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$T/extra.tar" -C "$T/ref"
		# shellcheck disable=SC2086
		check_image "$img" "$T/ref" $devs
	fi
	echo "PASS: corpus store"
	exit 0
fi
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
