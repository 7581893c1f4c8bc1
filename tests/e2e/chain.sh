#!/usr/bin/env bash
# mkimg lookup: which store image ends at a layer chain, and --build of an
# image for a chain prefix from layer records.
#
# An OCI image of 3 layers (whiteouts and an opaque directory in the middle
# one) is converted into a store. Chain IDs of its prefixes are computed here
# with sha256sum from the layer blobs (diff_id = sha256 of the uncompressed
# tar; chain(L1..Ln) = sha256 of "chain(L1..Ln-1) diff_id(Ln)"). lookup finds
# the whole chain (prefix false, the image and its name), the 1- and 2-layer
# prefixes (prefix true, no image) and nothing for others, and changes
# nothing in the store. --build with the OCI layout moved away (no tar can be
# read) gives chain-<hex> images that pass fsck.erofs, a kernel mount and a
# tree comparison with umoci's unpack of a layout holding only those layers,
# and equal (same image digest) what converting that layout into the store
# gives; ls lists them, fsck is clean, rm + gc removes one. A missing layer
# record makes --build fail with one line and publish nothing. Bad input (a
# malformed chain ID, a directory that is not a store, a chain no image
# holds): one mkimg: line, non-zero exit, nothing created.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle
command -v umoci >/dev/null || fail "umoci missing"

field() {	# field JSON KEY: the value (null: "null")
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"
}
keys() {	# keys JSON: its keys, sorted, space separated
	python3 -c 'import json,sys; print(" ".join(sorted(json.loads(sys.argv[1]))))' "$1"
}
state() {	# state DIR: every file with its digest
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0r sha256sum)
}
one_line() {	# one_line FILE WHAT: exactly one "mkimg: " line
	[ "$(wc -l <"$1")" = 1 ] && grep -q '^mkimg: ' "$1" ||
		{ cat "$1"; fail "$2: not one mkimg: line"; }
}

# --- three layers: a base, a middle with whiteouts, a top ----------------
python3 - "$T" <<'EOF'
import os, random, sys
t = sys.argv[1]
r = random.Random(10)
def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
b = t + "/l1"
for i in range(10):
    put(f"{b}/usr/lib/f{i:02d}", r.randbytes(r.choice([300, 5000, 70000, 300000])))
put(b + "/etc/conf", b"base conf\n")
put(b + "/etc/keep", b"kept\n")
put(b + "/opq/old1", b"old one\n")
put(b + "/opq/sub/old2", b"old two\n")
os.symlink("usr/lib/f00", b + "/link")
m = t + "/l2"
put(m + "/usr/lib/f03", r.randbytes(9000))		# replaced
put(m + "/etc/.wh.conf", b"")				# whiteout
put(m + "/opq/.wh..wh..opq", b"")			# opaque directory
put(m + "/opq/new", b"new in opq\n")
put(m + "/usr/bin/tool", r.randbytes(40000))
p = t + "/l3"
put(p + "/usr/share/doc/readme", b"top layer\n" * 50)
put(p + "/usr/lib/.wh.f05", b"")
EOF
for l in l1 l2 l3; do find "$T/$l" -exec touch -h -d @1700000000 {} +; done
sample=$top_srcdir/scripts/sample-oci.py
python3 "$sample" "$T/oci3" three "$T/l1=r" "$T/l2=r" "$T/l3=r"
python3 "$sample" "$T/oci1" one "$T/l1=r"
python3 "$sample" "$T/oci2" two "$T/l1=r" "$T/l2=r"

# diff_ids and chains, from the blobs themselves
man=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' "$T/oci3/index.json")
mapfile -t blobs < <(python3 -c 'import json,sys; [print(l["digest"][7:]) for l in json.load(open(sys.argv[1]))["layers"]]' "$T/oci3/blobs/sha256/$man")
[ "${#blobs[@]}" = 3 ] || fail "the layout has ${#blobs[@]} layers"
chain=()
prev=
for b in "${blobs[@]}"; do
	d=sha256:$(zcat "$T/oci3/blobs/sha256/$b" | sha256sum | cut -d' ' -f1)
	if [ -z "$prev" ]; then
		prev=$d
	else
		prev=sha256:$(printf '%s %s' "$prev" "$d" | sha256sum | cut -d' ' -f1)
	fi
	chain+=("$prev")
done
echo "chains: ${chain[*]}"

S=$T/store
"$MKIMG" convert -q --store "$S" --name three "oci:$T/oci3:three"
img3=$("$MKIMG" inspect --store "$S" --json three | python3 -c 'import json,sys; print(json.load(sys.stdin)["image_sha256"])')

# --- lookup: read-only, exact / prefix / absent ----------------------------
before=$(state "$S")
j=$("$MKIMG" lookup --store "$S" --chain "${chain[2]}" --json)
[ "$(keys "$j")" = "chain found image layers name prefix" ] || fail "keys: $j"
[ "$(field "$j" chain)" = "${chain[2]}" ] && [ "$(field "$j" found)" = true ] &&
[ "$(field "$j" prefix)" = false ] && [ "$(field "$j" layers)" = 3 ] &&
[ "$(field "$j" image)" = "sha256:$img3" ] && [ "$(field "$j" name)" = three ] ||
	fail "the whole chain: $j"
for i in 0 1; do
	j=$(MKIMG_STORE=$S "$MKIMG" lookup --chain "${chain[$i]}" --json)
	[ "$(field "$j" found)" = true ] && [ "$(field "$j" prefix)" = true ] &&
	[ "$(field "$j" layers)" = $((i + 1)) ] && [ "$(field "$j" image)" = null ] &&
	[ "$(field "$j" name)" = null ] || fail "prefix of $((i + 1)) layers: $j"
done
# the top layer's diff_id alone, and the middle chain's digest of other text
absent=sha256:$(printf '%s %s' "${chain[1]}" "${chain[0]}" | sha256sum | cut -d' ' -f1)
for c in "$absent" "sha256:$(zcat "$T/oci3/blobs/sha256/${blobs[2]}" | sha256sum | cut -d' ' -f1)"; do
	j=$("$MKIMG" lookup --store "$S" --chain "$c" --json)
	[ "$j" = "{\"chain\":\"$c\",\"found\":false}" ] || fail "absent chain: $j"
done
"$MKIMG" lookup --store "$S" --chain "${chain[1]}" | grep -q "2 layers, a prefix" ||
	fail "lookup without --json"
[ "$(state "$S")" = "$before" ] || fail "lookup without --build changed the store"
echo "ok: lookup finds the whole chain and both prefixes, nothing else, and writes nothing"

# --- --build: a missing record publishes nothing -------------------------
d2=$(zcat "$T/oci3/blobs/sha256/${blobs[1]}" | sha256sum | cut -d' ' -f1)
mv "$S/layers/$d2" "$T/record"
"$MKIMG" lookup --store "$S" --chain "${chain[1]}" --build --json >"$T/out" 2>"$T/err" &&
	fail "--build with a missing record succeeded"
one_line "$T/err" "missing record"
grep -q "layer sha256:$d2" "$T/err" || fail "the error does not name the layer: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "output after a failed build: $(cat "$T/out")"
[ "$(ls "$S/images" | wc -l)" = 1 ] || fail "a failed build left an image"
left=$(ls -A "$S/tmp" | grep -vx .mkimg-store-id || true)
[ -z "$left" ] || fail "a failed build left $left"
mv "$T/record" "$S/layers/$d2"
echo "ok: --build with a missing layer record fails with one line, nothing published"

# --- --build from records only (the layout is gone) ---------------------
mv "$T/oci3" "$T/oci3.away"
declare -A built
for i in 1 0; do
	t0=$(date +%s%N)
	j=$("$MKIMG" lookup --store "$S" --chain "${chain[$i]}" --build --json)
	t1=$(date +%s%N)
	echo "build of $((i + 1)) layers: $(((t1 - t0) / 1000000)) ms"
	name=chain-${chain[$i]#sha256:}
	[ "$(field "$j" found)" = true ] && [ "$(field "$j" prefix)" = true ] &&
	[ "$(field "$j" layers)" = $((i + 1)) ] && [ "$(field "$j" name)" = "$name" ] ||
		fail "--build of $((i + 1)) layers: $j"
	img=$("$MKIMG" inspect --store "$S" --json "$name" |
	      python3 -c 'import json,sys; print(json.load(sys.stdin)["image_sha256"])')
	[ "$(field "$j" image)" = "sha256:$img" ] || fail "--build: image $(field "$j" image) is not $img"
	# again: the image is there, nothing is built
	n=$(ls "$S/images" | wc -l)
	[ "$("$MKIMG" lookup --store "$S" --chain "${chain[$i]}" --build --json)" = "$j" ] ||
		fail "a second --build answered differently"
	[ "$(ls "$S/images" | wc -l)" = "$n" ] || fail "a second --build made another image"
	[ "$("$MKIMG" lookup --store "$S" --chain "${chain[$i]}" --json)" = "$j" ] ||
		fail "lookup after --build differs from its answer"
	built[$i]=$img
done
mv "$T/oci3.away" "$T/oci3"
"$MKIMG" ls --store "$S" | grep -q "^chain-${chain[0]#sha256:}" || fail "ls does not list the prefix image"
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after --build"; }
echo "ok: --build makes chain-<hex> images from the records alone"

# --- the prefix images against umoci and against converted layouts -----
check_named() {	# check_named STORE NAME BUNDLE
	local j img devs
	j=$("$MKIMG" inspect --store "$1" --json "$2")
	img=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["image"])' "$j")
	mapfile -t devs < <(python3 -c 'import json,sys; [print(d) for d in json.loads(sys.argv[1])["devices"]]' "$j")
	mkdir -p "$T/m"
	# umoci gives the (implicit) root the time of the unpack
	"$MKIMG" mount --store "$1" "$2" "$T/m"
	touch -h -d "@$(stat -c %Y "$T/m")" "$3/rootfs"
	"$MKIMG" umount "$T/m"
	check_image "$img" "$3/rootfs" "${devs[@]}"
}
umoci unpack --image "$T/oci1:one" "$T/bundle1" >/dev/null
umoci unpack --image "$T/oci2:two" "$T/bundle2" >/dev/null
[ -e "$T/bundle2/rootfs/r/opq/new" ] && [ ! -e "$T/bundle2/rootfs/r/opq/old1" ] &&
[ ! -e "$T/bundle2/rootfs/r/etc/conf" ] || fail "umoci's unpack lacks the whiteouts"
check_named "$S" "chain-${chain[0]#sha256:}" "$T/bundle1"
check_named "$S" "chain-${chain[1]#sha256:}" "$T/bundle2"
# the same layouts converted from their tars, in a fresh store
F=$T/fresh
"$MKIMG" convert -q --store "$F" --name one "oci:$T/oci1:one"
"$MKIMG" convert -q --store "$F" --name two "oci:$T/oci2:two"
check_named "$F" one "$T/bundle1"
check_named "$F" two "$T/bundle2"
# and into this store: the image a prefix build gave
for i in 0 1; do
	n=$([ "$i" = 0 ] && echo one || echo two)
	"$MKIMG" convert -q --store "$S" --name "$n" "oci:$T/oci$((i + 1)):$n"
	j=$("$MKIMG" inspect --store "$S" --json "$n")
	[ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["image_sha256"])' "$j")" = \
	  "${built[$i]}" ] || fail "converting $n into the store gave another image than --build"
	# a conversion ends at the chain now
	j=$("$MKIMG" lookup --store "$S" --chain "${chain[$i]}" --json)
	[ "$(field "$j" prefix)" = false ] && [ "$(field "$j" name)" = "$n" ] ||
		fail "lookup after converting $n: $j"
done
echo "ok: the prefix images equal umoci's unpack and the conversions of those layers"

# --- rm + gc ---------------------------------------------------------------
"$MKIMG" rm --store "$S" "chain-${chain[0]#sha256:}" one
"$MKIMG" gc --store "$S" >/dev/null
j=$("$MKIMG" lookup --store "$S" --chain "${chain[0]}" --json)
[ "$(field "$j" found)" = true ] && [ "$(field "$j" prefix)" = true ] &&
[ "$(field "$j" image)" = null ] || fail "lookup after rm + gc: $j"
[ ! -e "$S/images/${built[0]}" ] || fail "gc left the removed prefix image"
"$MKIMG" fsck --store "$S" >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after gc"; }
echo "ok: rm + gc removes a prefix image; the chain is a prefix again"

# --- bad input ---------------------------------------------------------------
before=$(state "$S")
for c in "" bad "sha256:${chain[0]#sha256:}0" "sha256:$(echo "${chain[0]#sha256:}" | tr a-f A-F)" \
	 "sha512:${chain[0]#sha256:}"; do
	for b in "" --build; do
		"$MKIMG" lookup --store "$S" --chain "$c" $b --json >"$T/out" 2>"$T/err" &&
			fail "chain '$c' $b was accepted"
		one_line "$T/err" "chain '$c' $b"
		grep -q "not a chain ID" "$T/err" || fail "chain '$c': $(cat "$T/err")"
		[ ! -s "$T/out" ] || fail "output for a bad chain"
	done
done
"$MKIMG" lookup --store "$S" --chain "$absent" --build --json >"$T/out" 2>"$T/err" &&
	fail "--build of a chain no image holds succeeded"
one_line "$T/err" "--build of an absent chain"
[ "$(state "$S")" = "$before" ] || fail "bad input changed the store"
mkdir "$T/nostore"
echo x >"$T/nostore/file"
for b in "" --build; do
	"$MKIMG" lookup --store "$T/nostore" --chain "${chain[0]}" $b --json >"$T/out" 2>"$T/err" &&
		fail "lookup $b in a directory that is not a store succeeded"
	one_line "$T/err" "not a store"
	[ "$(ls -A "$T/nostore")" = file ] || fail "lookup $b created files in a non-store"
	"$MKIMG" lookup --store "$T/missing" --chain "${chain[0]}" $b >"$T/out" 2>"$T/err" &&
		fail "lookup $b in a missing directory succeeded"
	one_line "$T/err" "missing store"
	[ ! -e "$T/missing" ] || fail "lookup $b created the store"
done
"$MKIMG" lookup --store "$S" --json >"$T/out" 2>"$T/err" && fail "lookup without --chain"
"$MKIMG" lookup --help | grep -q -- "--build" || fail "lookup --help"
echo "ok: bad chain IDs, absent chains and non-stores give one mkimg: line"
