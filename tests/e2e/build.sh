#!/usr/bin/env bash
# mkimg build end to end: seeded random trees with every file type, built
# self-contained and with a blob, at 4096 and 512-byte blocks; every image
# goes through fsck.erofs 1.9 (plus --extract), a kernel mount (as root) and
# a tree comparison with its source; building twice gives identical bytes.
# Needs no root (the trees then hold what a user can create, see gentree.py).
. "$(dirname "$0")/lib.sh"
require_oracle

for seed in 1 2 3; do
	src=$T/src$seed
	python3 "$TOOLS/gentree.py" --seed "$seed" "$src"

	echo "seed $seed: self-contained, 4096-byte blocks"
	"$MKIMG" build -q "$src" "$T/a.erofs"
	check_image "$T/a.erofs" "$src"
	"$MKIMG" build -q "$src" "$T/a2.erofs"
	cmp "$T/a.erofs" "$T/a2.erofs" || fail "seed $seed: rebuild is not byte-identical"

	echo "seed $seed: data in a blob, fingerprints"
	"$MKIMG" build -q --blob "$T/b.blob" "$src" "$T/b.erofs"
	check_image "$T/b.erofs" "$src" "$T/b.blob"
	tag=$(dd if="$T/b.erofs" bs=1 skip=1152 count=64 status=none)
	[ "$tag" = "$(sha256sum < "$T/b.blob" | cut -c1-64)" ] ||
		fail "seed $seed: device tag $tag is not the blob's sha256"
	"$ORACLE/dump.erofs" -s "$T/b.erofs" | grep -q ishare_xattrs ||
		fail "seed $seed: ishare_xattrs feature missing"
	"$MKIMG" build -q --blob "$T/b2.blob" "$src" "$T/b2.erofs"
	cmp "$T/b.erofs" "$T/b2.erofs" && cmp "$T/b.blob" "$T/b2.blob" ||
		fail "seed $seed: blob rebuild is not byte-identical"

	echo "seed $seed: 512-byte blocks, no inline tails"
	"$MKIMG" build -q -b 512 --no-inline "$src" "$T/c.erofs"
	check_image "$T/c.erofs" "$src"
	rm -f "$T"/*.erofs "$T"/*.blob
	rm -rf "$src"
done

# A regular file's fingerprint equals erofs-utils': sha256 of the content.
src=$T/fp
mkdir -p "$src"
head -c 300000 /dev/urandom > "$src/f"
"$MKIMG" build -q --blob "$T/fp.blob" "$src" "$T/fp.erofs"
"$ORACLE/mkfs.erofs" --quiet --xattr-inode-digest --blobdev="$T/mk.blob" --chunksize=4096 \
	"$T/mk.erofs" "$src"
ours=$(python3 "$TOOLS/erofs_xattrs.py" "$T/fp.erofs" f)
theirs=$(python3 "$TOOLS/erofs_xattrs.py" "$T/mk.erofs" f)
want="erofs.fingerprint.v1 $(printf sha256: | od -An -tx1 | tr -d ' \n')$(sha256sum "$src/f" | cut -c1-64)"
[ -n "$ours" ] && [ "$ours" = "$theirs" ] && [ "$ours" = "$want" ] ||
	fail "fingerprint mismatch: mkimg=$ours mkfs.erofs=$theirs sha256=$want"
echo "fingerprint equals mkfs.erofs --xattr-inode-digest and sha256sum"

# SOURCE_DATE_EPOCH clamps newer mtimes; -T fixes all of them.
src=$T/sde
mkdir -p "$src/d"
echo x > "$src/d/new"
touch -d @2000000000 "$src/d/new"
touch -d @100 "$src/d"
SOURCE_DATE_EPOCH=1000000000 "$MKIMG" build -q "$src" "$T/sde.erofs"
mtimes() {	# IMAGE PATH...: the mtimes in the image, as fsck.erofs extracts them
	local img=$1 p out=""
	shift
	rm -rf "$T/x"
	"$ORACLE/fsck.erofs" --extract="$T/x" "$img" >/dev/null || fail "fsck.erofs --extract $img"
	for p in "$@"; do out="$out $(stat -c %Y "$T/x/$p")"; done
	echo "${out# }"
}
[ "$(mtimes "$T/sde.erofs" d/new d)" = "1000000000 100" ] ||
	fail "SOURCE_DATE_EPOCH did not clamp, or changed an older mtime: $(mtimes "$T/sde.erofs" d/new d)"
"$MKIMG" build -q -T 12345 "$src" "$T/t.erofs"
[ "$(mtimes "$T/t.erofs" d/new d)" = "12345 12345" ] || fail "-T not applied"
echo "PASS: build"
