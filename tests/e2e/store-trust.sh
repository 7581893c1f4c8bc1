#!/usr/bin/env bash
# Bytes checked over the registry's word.
#
# case 8: a blob with one flipped byte is named by `fsck --full` with every
# image that uses it, and quarantined: the next conversion of that content
# writes fresh bytes (the new image passes check_image and does not use the
# quarantined blob), `fsck` keeps naming the affected images, `fsck --rehome`
# says which need a fresh conversion. A deleted blob: the next conversion of
# content that dedups against it warns once, writes the data fresh and gives
# an image that passes check_image; `fsck` names the images that used it;
# put back, `fsck --full` lets it out of the quarantine.
#
# case 9: a layer the store has converted before is replayed from its record,
# but its blob is still verified: a second OCI layout sharing the base layer
# whose base blob is missing, truncated, a symlink to /dev/zero, or named by a
# fake digest in the manifest is refused with one `mkimg:` line and nothing
# registered; with --trust-store-layers the replay goes ahead.
# Needs no root.
. "$(dirname "$0")/lib.sh"
require_oracle
: "${TOOLS:=$(cd "$(dirname "$0")/../tools" && pwd)}"

field() {	# field JSON KEY
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(" ".join(v) if isinstance(v, list) else v)' "$1" "$2"
}
check_named() {	# check_named STORE NAME REF
	local j
	j=$("$MKIMG" inspect --store "$1" --json "$2")
	# shellcheck disable=SC2046
	check_image "$(field "$j" image)" "$3" $(field "$j" devices)
}
devices_of() {	# devices_of STORE NAME: blob digests, one a line
	local j
	j=$("$MKIMG" inspect --store "$1" --json "$2")
	for d in $(field "$j" devices); do basename "$d"; done
}
store_state() {	# what a refused conversion must leave alone
	"$MKIMG" ls --store "$1" --json
	ls "$1/images" "$1/blobs/sha256" "$1/layers" "$1/tmp"
}

# --- fixtures: trees a, a+ (one more file), a~ (big changed), as layer tars
python3 - "$T" <<'EOF'
import os, random, sys
t = sys.argv[1]
def mk(root, seed, extra, bigflip=False):
    r = random.Random(seed)
    os.makedirs(root + "/usr/lib", exist_ok=True)
    for i in range(12):
        with open(f"{root}/usr/lib/f{i:02d}", "wb") as f:
            f.write(r.randbytes(r.choice([700, 5000, 70000, 200000])))
    big = bytearray(r.randbytes(1 << 20))
    if bigflip:
        big[300000] ^= 1	# one chunk differs: the others dedup by chunk
    with open(root + "/usr/lib/big", "wb") as f:
        f.write(big)
    if extra:
        with open(root + "/usr/lib/extra", "wb") as f:
            f.write(b"one more file\n" * 100)
for v, seed in (("a", 1), ("b", 2)):
    mk(f"{t}/{v}", seed, False)
    mk(f"{t}/{v}+", seed, True)
mk(f"{t}/a~", 1, False, True)
EOF
for v in a a+ a~ b b+; do
	find "$T/$v" -exec touch -h -d '2024-05-06 07:08:09' {} +
	tar --numeric-owner --sort=name -C "$T/$v" -cf "$T/$v.tar" .
done

# --- case 8: a blob with one flipped byte -----------------------------------
echo "case 8: a corrupt blob is quarantined, its images named, its content written anew"
S=$T/s8a
"$MKIMG" convert --store "$S" --name a -q "$T/a.tar"
check_named "$S" a "$T/a"
bad=$(devices_of "$S" a)
[ "$(echo "$bad" | wc -l)" -eq 1 ] || fail "case 8: a should use one blob"
# one byte inside the data of the first file
printf '\x5a' | dd of="$S/blobs/sha256/$bad" bs=1 seek=600 conv=notrunc status=none
rc=0
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" 2>&1 || rc=$?
cat "$T/fsck.out"
[ "$rc" -ne 0 ] || fail "case 8: fsck --full passed a corrupt blob"
grep -q "^error: blob $bad: .*corrupt" "$T/fsck.out" || fail "case 8: fsck --full does not name the blob"
grep -q "^error: image a: uses blob $bad" "$T/fsck.out" ||
	fail "case 8: fsck --full does not name the image that uses the corrupt blob"
# a~: big differs in one 64 KiB chunk; its other chunks and the other files
# match rows in the quarantined blob: chunk dedup must not use them either
"$MKIMG" convert --store "$S" --name a~ -q "$T/a~.tar"
devices_of "$S" a~ | grep -qx "$bad" && fail "case 8: a~ uses the quarantined blob through chunks"
check_named "$S" a~ "$T/a~"
# the same content again (and one more file): fresh bytes, not the bad ones
"$MKIMG" convert --store "$S" --name a+ -q "$T/a+.tar"
devices_of "$S" a+ | grep -qx "$bad" && fail "case 8: a+ uses the quarantined blob $bad"
check_named "$S" a+ "$T/a+"
"$MKIMG" convert --store "$S" --name a-again -q "$T/a.tar"
devices_of "$S" a-again | grep -qx "$bad" && fail "case 8: a-again uses the quarantined blob"
check_named "$S" a-again "$T/a"
echo "ok: case 8: after fsck --full, the content of the corrupt blob is written anew"
# plain fsck (read-only) still names the blob and exactly the image a
rc=0
"$MKIMG" fsck --store "$S" >"$T/fsck.out" 2>&1 || rc=$?
cat "$T/fsck.out"
[ "$rc" -ne 0 ] || fail "case 8: fsck passes with a quarantined blob in use"
grep -q "^error: blob $bad: quarantined" "$T/fsck.out" || fail "case 8: fsck does not name the quarantined blob"
[ "$(grep -c '^error: image ' "$T/fsck.out")" -eq 1 ] && grep -q "^error: image a: uses blob $bad" "$T/fsck.out" ||
	fail "case 8: fsck should name image a (and only a) as using the blob"
# --rehome: drops what names the blob, names what needs a fresh conversion
rc=0
"$MKIMG" fsck --store "$S" --rehome >"$T/rehome.out" 2>&1 || rc=$?
cat "$T/rehome.out"
[ "$rc" -eq 1 ] || fail "case 8: fsck --rehome should fail while image a needs a fresh conversion (rc $rc)"
grep -q "^error: image a: needs a fresh conversion from its source ($T/a.tar)" "$T/rehome.out" ||
	fail "case 8: fsck --rehome does not name image a and its source"
grep -q "^error: image a[+~-]" "$T/rehome.out" && fail "case 8: rehome names good images"
"$MKIMG" rm --store "$S" a
"$MKIMG" gc --store "$S" >/dev/null
[ -z "$(sqlite3 "$S/registry.db" 'SELECT digest FROM quarantine')" ] ||
	fail "case 8: gc removed the quarantined blob but kept its quarantine row"
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "case 8: fsck fails after rm and gc of the damaged image"; }
check_named "$S" a+ "$T/a+"
echo "ok: case 8: fsck names the images of a corrupt blob; --rehome names the one to convert again"

echo "case 8: a deleted blob is not referenced; the data is written fresh"
S=$T/s8b
"$MKIMG" convert --store "$S" --name b -q "$T/b.tar"
gone=$(devices_of "$S" b)
mv "$S/blobs/sha256/$gone" "$T/saved-blob"
"$MKIMG" convert --store "$S" --name b+ -q "$T/b+.tar" 2>"$T/conv.err" || { cat "$T/conv.err"; fail "case 8: convert failed"; }
cat "$T/conv.err"
[ "$(grep -c "^mkimg: warning: .*$gone.*missing" "$T/conv.err")" -eq 1 ] ||
	fail "case 8: convert should warn once about the missing blob"
devices_of "$S" b+ | grep -qx "$gone" && fail "case 8: b+ references the deleted blob"
check_named "$S" b+ "$T/b+"
rc=0
"$MKIMG" fsck --store "$S" >"$T/fsck.out" 2>&1 || rc=$?
cat "$T/fsck.out"
[ "$rc" -ne 0 ] || fail "case 8: fsck passes with a missing blob"
grep -q "^error: image b: uses blob $gone" "$T/fsck.out" || fail "case 8: fsck does not name image b"
grep -q "^error: image b+:" "$T/fsck.out" && fail "case 8: fsck names b+, which does not use the blob"
# later conversions of that content find the fresh copy
"$MKIMG" convert --store "$S" --name b-again -q "$T/b.tar" 2>"$T/conv.err"
[ -s "$T/conv.err" ] && { cat "$T/conv.err"; fail "case 8: the quarantined blob is tried again"; }
devices_of "$S" b-again | grep -qx "$gone" && fail "case 8: b-again references the deleted blob"
check_named "$S" b-again "$T/b"
# the blob back whole: fsck --full lets it out of the quarantine
mv "$T/saved-blob" "$S/blobs/sha256/$gone"
"$MKIMG" fsck --store "$S" --full >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "case 8: fsck --full fails with the blob back"; }
grep -q "^note: blob $gone: verifies again" "$T/fsck.out" || fail "case 8: the restored blob stays quarantined"
check_named "$S" b "$T/b"
echo "ok: case 8: a deleted blob: warned once, data written fresh, fsck names image b"

# --- case 9: replayed layers' blobs are verified ----------------------------
MKOCI="python3 $TOOLS/mkoci.py"
python3 - "$T" <<'EOF'
import json, sys
T = sys.argv[1]
M = 1700000000
def layer(files, comp="gzip"):
    es = [{"path": ".", "type": "dir", "mode": "0755", "mtime": M}]
    dirs = sorted({p.rsplit("/", k)[0] for p in files for k in range(1, p.count("/") + 1)})
    es += [{"path": d, "type": "dir", "mode": "0755", "mtime": M} for d in dirs]
    es += [{"path": p, "type": "file", "mtime": M, "size": n, "fill": "random", "seed": s}
           for p, (n, s) in sorted(files.items())]
    return {"compression": comp, "entries": es}
base = layer({"usr/lib/base%d" % i: (3000 + 70000 * i, i) for i in range(6)})
one = {"tag": "one", "layers": [base, layer({"etc/one": (100, 50)})]}
two = {"tag": "two", "layers": [base, layer({"etc/two": (200, 60)}, "zstd")]}
fake = dict(two, broken={"layer_digest": True})
for name, img in (("one", one), ("two", two), ("fake", fake)):
    json.dump({"images": [img]}, open(f"{T}/spec-{name}.json", "w"))
EOF
$MKOCI "$T/spec-one.json" "$T/oci-one"
$MKOCI "$T/spec-two.json" "$T/oci-two"
# the reference of "two": its layers extracted in order (no whiteouts)
$MKOCI --export-layers "$T/spec-two.json" two "$T/layers-two" >/dev/null
mkdir "$T/ref-two"
for l in "$T"/layers-two/layer-*; do
	case $l in
	*.zst) zstd -dc "$l" | tar --numeric-owner -xpf - -C "$T/ref-two" ;;
	*) tar --numeric-owner -xpf "$l" -C "$T/ref-two" ;;
	esac
done
base_digest() {	# the manifest's digest of layer 0 of a layout
	python3 - "$1" <<'EOF'
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = idx["manifests"][0]["digest"].split(":")[1]
man = json.load(open(f"{d}/blobs/sha256/{m}"))
print(man["layers"][0]["digest"].split(":")[1])
EOF
}

echo "case 9: a layer replayed from the store still has its blob verified"
S=$T/s9
"$MKIMG" convert --store "$S" --name one -q "oci:$T/oci-one:one"
# the good layout replays the base layer and converts
j=$("$MKIMG" convert --store "$S" --name two-good --json "oci:$T/oci-two:two")
[ "$(field "$j" layers_reused)" -eq 1 ] || fail "case 9: the base layer was not replayed"
check_named "$S" two-good "$T/ref-two"
"$MKIMG" rm --store "$S" two-good
"$MKIMG" gc --store "$S" >/dev/null
store_state "$S" >"$T/state.before"

for fault in missing truncated dev-zero fake-digest; do
	L=$T/oci-$fault
	if [ "$fault" = fake-digest ]; then
		$MKOCI "$T/spec-fake.json" "$L"
	else
		cp -a "$T/oci-two" "$L"
	fi
	blob=$L/blobs/sha256/$(base_digest "$L")
	case $fault in
	missing) rm "$blob" ;;
	truncated) truncate -s 1000 "$blob" ;;
	dev-zero) rm "$blob"; ln -s /dev/zero "$blob" ;;
	esac
	rc=0
	"$MKIMG" convert --store "$S" --name "two-$fault" -q "oci:$L:two" 2>"$T/conv.err" || rc=$?
	cat "$T/conv.err"
	[ "$rc" -ne 0 ] || fail "case 9: $fault base blob: a replayed layer converted"
	[ "$(wc -l <"$T/conv.err")" -eq 1 ] && grep -q '^mkimg: ' "$T/conv.err" ||
		fail "case 9: $fault base blob: expected one mkimg: line"
	store_state "$S" >"$T/state.after"
	cmp -s "$T/state.before" "$T/state.after" ||
		{ diff "$T/state.before" "$T/state.after"; fail "case 9: $fault: the refused conversion left something"; }
	# the user's explicit word: the record is replayed without the blob
	j=$("$MKIMG" convert --store "$S" --name "two-$fault" --trust-store-layers --json "oci:$L:two")
	[ "$(field "$j" layers_reused)" -eq 1 ] || fail "case 9: $fault: --trust-store-layers did not replay"
	check_named "$S" "two-$fault" "$T/ref-two"
	"$MKIMG" rm --store "$S" "two-$fault"
	"$MKIMG" gc --store "$S" >/dev/null
	echo "ok: case 9: $fault base blob refused; with --trust-store-layers replayed"
done
"$MKIMG" convert --help | grep -q -- --trust-store-layers || fail "case 9: --help does not name --trust-store-layers"
"$MKIMG" fsck --store "$S" --full >/dev/null || fail "case 9: fsck --full fails at the end"
echo "ok: store-trust"
