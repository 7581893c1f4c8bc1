#!/usr/bin/env bash
# A store's alternates: read-only OCI layouts (a cache shared by hosts)
# whose blobs pulls use where they lie:
#   * mkimg alternate add/ls/rm; a directory that is no layout, one inside
#     the store, an unknown one to remove: one mkimg: line each;
#   * pull oci:ALT:TAG into a store naming ALT: no blob copied, each a link
#     into ALT; the image passes fsck.erofs 1.9 with its devices (the paths
#     inspect gives), mounts equal to its source (mkimg mount --verify
#     by name too); fsck --full passes;
#   * pull of an artifact from another layout: blobs ALT has are linked,
#     the rest copied (and blobs the store has are used as they are);
#   * a conversion afterwards shares the linked data (a file and chunks
#     read back through the links);
#   * rm of the alternate is refused while blobs are used from it; rm + gc
#     remove the links only: every file of ALT is as before (bytes, times);
#   * the registry lost: fsck --repair registers the linked blobs again;
#   * a blob of ALT whose bytes changed: pull refuses it, registers nothing;
#     fsck --full names a linked blob that changed later, and quarantines
#     the link, not ALT's file;
#   * a symbolic link in blobs/sha256 that points anywhere else is not
#     followed: fsck reports it, mount refuses the image.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle

S=$T/store
A=$T/alt
snapshot() {	# snapshot DIR: every file with size, mtime, sha256
	(cd "$1" && find . -type f -printf '%p %s %T@\n' | sort && find . -type f -exec sha256sum {} + | sort)
}

ab_trees
for v in a b; do
	"$MKIMG" convert -q --no-fsync --store "$S" --name "$v" "$T/$v.tar"
done
"$MKIMG" push -q --store "$S" a "oci:$A:a" || fail "push a"
"$MKIMG" push -q --store "$S" b "oci:$T/other:b" || fail "push b"

# --- the list ------------------------------------------------------------------
S2=$T/store2
"$MKIMG" alternate --store "$S2" add "$A" || fail "alternate add (a new store)"
expect_one_line 1 'not an OCI image layout' alternate --store "$S2" add "$T"
expect_one_line 1 'inside the store' alternate --store "$S2" add "$S2"
expect_one_line 1 'not an alternate' alternate --store "$S2" rm "$T/other"
expect_one_line 2 'usage' alternate --store "$S2" frob "$A"
"$MKIMG" alternate --store "$S2" add "$A/." || fail "alternate add again"
[ "$("$MKIMG" alternate --store "$S2" ls)" = "$(realpath "$A")" ] ||
	fail "alternate ls: $("$MKIMG" alternate --store "$S2" ls)"
[ "$("$MKIMG" alternate --store "$S2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin))')" = "['$(realpath "$A")']" ] ||
	fail "alternate --json: $("$MKIMG" alternate --store "$S2" --json)"
echo "ok: alternate add, ls, and bad input"

# --- pull from the alternate: linked, not copied -------------------------------
snapshot "$A" >"$T/alt.before"
"$MKIMG" pull --json --store "$S2" "oci:$A:a" >"$T/q1.json" || fail "pull a"
python3 - "$T/q1.json" "$S2" "$MKIMG" "$(realpath "$A")" <<'EOF' || fail "pull a from the alternate: $(cat "$T/q1.json")"
import json, os, subprocess, sys
j = json.load(open(sys.argv[1]))
ins = json.loads(subprocess.check_output([sys.argv[3], "inspect", "--json", "--store", sys.argv[2], "a"]))
mine = ins["devices"]
assert mine, ins
# every blob: a link into the alternate
for d in mine:
    t = os.readlink(d)
    assert t == sys.argv[4] + "/blobs/sha256/" + os.path.basename(d), (d, t)
assert j["linked"] == len(mine) and j["bytes_linked"] == sum(os.path.getsize(d) for d in mine), j
assert j["copied"] == 1, j     # the metadata image
EOF
pulled "$S2" a "$T/ref-a"
mkdir "$T/m2"
"$MKIMG" mount --store "$S2" --verify a "$T/m2" || fail "mount --verify of a store image with linked blobs"
python3 "$TOOLS/treecmp.py" "$T/ref-a" "$T/m2" || fail "mounted a differs"
"$MKIMG" umount "$T/m2"
"$MKIMG" fsck --full --store "$S2" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; fail "fsck --full with linked blobs"; }
"$MKIMG" pull -q --store "$S2" --name a-again "oci:$A:a" || fail "pull a again"
# b from a layout that is no alternate: the blob a shares is there already
"$MKIMG" pull --json --store "$S2" --name b "oci:$T/other:b" >"$T/q2.json" || fail "pull b"
[ "$(json "$T/q2.json" 'j["linked"] == 0 and j["copied"] == 2 and j["blobs"] == 3')" = True ] ||
	fail "pull b: $(cat "$T/q2.json")"
pulled "$S2" b "$T/ref-b"
echo "ok: pulled from the alternate: $(cat "$T/q1.json")"

# --- a conversion shares the linked data ------------------------------------------
"$MKIMG" convert --json --no-fsync --store "$S2" --name a-conv "$T/a.tar" >"$T/c.json" ||
	fail "convert a in the store with linked blobs"
[ "$(json "$T/c.json" 'j["new_bytes"]')" = 0 ] || fail "convert a again wrote data: $(cat "$T/c.json")"
pulled "$S2" a-conv "$T/ref-a"
echo "ok: a conversion shares what the links reach"

# --- rm, gc: the links go, the alternate stays --------------------------------------
expect_one_line 1 'used from it' alternate --store "$S2" rm "$A"
"$MKIMG" rm --store "$S2" a a-again a-conv b || fail "rm"
"$MKIMG" gc --json --store "$S2" >"$T/gc.json" || fail "gc"
[ "$(json "$T/gc.json" 'j["blobs"] >= 1')" = True ] || fail "gc removed no links: $(cat "$T/gc.json")"
snapshot "$A" >"$T/alt.after"
diff "$T/alt.before" "$T/alt.after" || fail "gc changed the alternate"
[ -z "$(find "$S2/blobs/sha256" -type l)" ] || fail "links left after gc"
"$MKIMG" alternate --store "$S2" rm "$A" || fail "alternate rm after gc"
[ -z "$("$MKIMG" alternate --store "$S2" ls)" ] || fail "alternate still listed"
"$MKIMG" alternate --store "$S2" add "$A" || fail "alternate add again"
echo "ok: gc removes links only; rm refused while in use, then done"

# --- another layout's artifact: what the alternate has is linked ------------------
S3=$T/store3
"$MKIMG" alternate --store "$S3" add "$A" || fail "alternate add S3"
"$MKIMG" pull --json --store "$S3" --name b "oci:$T/other:b" >"$T/q3.json" || fail "pull b from other"
[ "$(json "$T/q3.json" 'j["linked"] == 1 and j["copied"] == 2')" = True ] ||
	fail "pull b from other: not a's blob linked, the rest copied: $(cat "$T/q3.json")"
pulled "$S3" b "$T/ref-b"
echo "ok: another layout's artifact: the alternate's blob linked, the rest copied"

# --- the registry lost: repair registers the links ----------------------------------
rm -f "$S3/registry.db" "$S3/registry.db-wal" "$S3/registry.db-shm"
"$MKIMG" fsck --repair --store "$S3" >"$T/repair.log" 2>&1 || { cat "$T/repair.log"; fail "fsck --repair"; }
"$MKIMG" fsck --full --store "$S3" >"$T/fsck3.log" 2>&1 || { cat "$T/fsck3.log"; fail "fsck --full after repair"; }
pulled "$S3" b "$T/ref-b"
echo "ok: a lost registry is rebuilt with the linked blobs"

# --- bytes that changed -----------------------------------------------------------
own=$("$MKIMG" inspect --json --store "$S3" b | python3 -c '
import json, os, sys
for d in json.load(sys.stdin)["devices"]:
    if os.path.islink(d):
        print(os.readlink(d)); break')
[ -n "$own" ] || fail "no linked blob in S3"
S4=$T/store4
"$MKIMG" alternate --store "$S4" add "$A" || fail "alternate add S4"
cp -a "$own" "$T/own.keep"
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); b = f.read(1); f.seek(0); f.write(bytes([b[0] ^ 1]))' "$own"
expect_one_line 1 'digest' pull --store "$S4" --name a "oci:$A:a"
"$MKIMG" inspect --store "$S4" a >/dev/null 2>&1 && fail "a registered from a changed blob"
[ -z "$(find "$S4/blobs/sha256" -type l)" ] || fail "a link left for a changed blob"
# S3 uses that blob: fsck --full names it, quarantines the link, not the file
"$MKIMG" fsck --full --store "$S3" >"$T/fsck-bad.log" 2>&1 && fail "fsck --full passed a changed linked blob"
grep -q "$(basename "$own")" "$T/fsck-bad.log" || { cat "$T/fsck-bad.log"; fail "fsck did not name the blob"; }
[ -f "$own" ] || fail "fsck moved the alternate's file"
cp -a "$T/own.keep" "$own"
echo "ok: changed bytes in the alternate: pull refused, fsck --full names the blob"

# --- any other symbolic link is not followed -------------------------------------------
S5=$T/store5
"$MKIMG" pull -q --store "$S5" --name a "oci:$A:a" || fail "pull into S5"
victim=$("$MKIMG" inspect --json --store "$S5" a | python3 -c 'import json,sys; print(json.load(sys.stdin)["devices"][0])')
# one of the form the store makes, into a layout that is not listed, and one
# of another form: neither is followed (the bytes they reach are right)
mkdir -p "$T/foreign/blobs/sha256"
mv "$victim" "$T/foreign/blobs/sha256/"
ln -s "$T/foreign/blobs/sha256/$(basename "$victim")" "$victim"
"$MKIMG" fsck --store "$S5" >"$T/fsck5.log" 2>&1 && fail "fsck passed a link into no alternate"
expect_one_line 1 '' mount --store "$S5" a "$T/m5"
rm "$victim"
ln -s "$T/foreign/blobs/sha256/$(basename "$victim")/" "$victim"
"$MKIMG" fsck --store "$S5" >"$T/fsck5.log" 2>&1 && fail "fsck passed a foreign symlink"
rm "$victim"
mv "$T/foreign/blobs/sha256/$(basename "$victim")" "$victim"
"$MKIMG" fsck --full --store "$S5" >"$T/fsck5.log" 2>&1 || { cat "$T/fsck5.log"; fail "fsck --full with the blob back"; }
echo "ok: a symbolic link into no listed alternate is refused"
