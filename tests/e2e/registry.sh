#!/usr/bin/env bash
# mkimg push and pull through an OCI registry: Debian's docker-registry
# (distribution 2.8), started here on 127.0.0.1 with its own config and
# storage, and regtool.py's helpers (a rate-limited proxy, a token server,
# a registry that lies):
#   * push two images that share most files: the second uploads only what
#     is new (counted in the registry's access log), pushing again uploads
#     nothing, into another repository with --mount-from it mounts instead;
#     skopeo inspects and copies the artifact;
#   * pull both into a fresh store: they pass fsck.erofs 1.9 with their
#     devices, mount equal to their sources, fsck --full passes; pulling
#     again downloads nothing; their layer records come along (lookup finds
#     them by their layers, a later conversion of the same OCI image reuses
#     the record and stores nothing);
#   * a blob tampered with in the registry's storage: refused by digest,
#     nothing registered, no download left;
#   * a store with an alternate holding a's blobs pulls b: a's blob linked,
#     only b's own downloaded;
#   * kill -9 during a pull, then pull again: it downloads only the rest;
#   * four pulls at once of overlapping images into one store;
#   * an artifact pushed with --subject is found by pulling the ordinary
#     image's reference (the referrers tag schema);
#   * basic auth (htpasswd; --creds and an auth file), token auth (a token
#     realm), TLS with --ca-file, plain http only with --tls-verify=false;
#   * a registry that lies (wrong digest, wrong size, a truncated body, a
#     redirect loop, 100 000 layers, a 10 GB manifest, an unknown artifact
#     version, a stalled answer), bad references, a refused connection:
#     each one mkimg: line, exit 1, nothing registered.
. "$(dirname "$0")/lib.sh"
require_root
require_oracle
command -v docker-registry >/dev/null || { echo "SKIP: docker-registry not installed"; exit 77; }
command -v skopeo >/dev/null || { echo "SKIP: skopeo not installed"; exit 77; }

RT=(python3 "$TOOLS/regtool.py")
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	cleanup
}
trap stop_all EXIT

wait_port() {	# wait_port PORT: until something listens there
	local i
	for i in $(seq 100); do
		if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	fail "nothing listens on port $1"
}
# start_registry NAME PORT [AUTH [TLS]]: docker-registry with storage
# $T/NAME.d, its log (with the access log) in $T/NAME.log; AUTH: an auth:
# block, TLS: lines under http:
start_registry() {
	local name=$1 port=$2
	mkdir -p "$T/$name.d"
	{
		echo "version: 0.1"
		echo "log: {level: info, accesslog: {disabled: false}}"
		echo "storage: {filesystem: {rootdirectory: $T/$name.d}}"
		echo "http:"
		echo "  addr: 127.0.0.1:$port"
		[ -z "${4:-}" ] || echo "$4"
		[ -z "${3:-}" ] || echo "$3"
	} >"$T/$name.yml"
	docker-registry serve "$T/$name.yml" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	wait_port "$port"
}
no_images() {	# no_images STORE WHAT: the store names nothing
	[ -e "$1/registry.db" ] || return 0
	[ "$("$MKIMG" ls --json --store "$1")" = "[]" ] || fail "$2: something was registered"
}

# --- fixtures ----------------------------------------------------------------
S=$T/store
ab_trees
python3 -c '
import os, random, sys
t = sys.argv[1]
os.makedirs(t + "/c/x")
open(t + "/c/x/new", "wb").write(random.Random(7).randbytes(300000))
os.makedirs(t + "/big")
open(t + "/big/blob", "wb").write(random.Random(8).randbytes(48 << 20))
' "$T"
for v in c big; do
	tar --numeric-owner --sort=name -C "$T/$v" -cf "$T/$v.tar" .
	mkdir "$T/ref-$v"
	tar --numeric-owner -xpf "$T/$v.tar" -C "$T/ref-$v"
done
for v in a b c big; do
	"$MKIMG" convert -q --no-fsync --store "$S" --name "$v" "$T/$v.tar"
done

P=$("${RT[@]}" port)
start_registry reg "$P"
R=docker://127.0.0.1:$P
IN=(--tls-verify=false)

# --- push ----------------------------------------------------------------------
"$MKIMG" push --json "${IN[@]}" --store "$S" a "$R/mk/img:a" >"$T/p1.json" || fail "push a"
[ "$(json "$T/p1.json" 'j["copied"] == j["blobs"] == 2')" = True ] ||
	fail "push a into an empty registry: $(cat "$T/p1.json")"
n0=$(wc -l <"$T/reg.log")
"$MKIMG" push --json "${IN[@]}" --store "$S" b "$R/mk/img:b" >"$T/p2.json" || fail "push b"
tail -n +$((n0 + 1)) "$T/reg.log" >"$T/p2.log"
shared=$(python3 -c '
import json, os, subprocess, sys
def devices(name):
    return json.loads(subprocess.check_output([sys.argv[2], "inspect", "--json", "--store",
                                               sys.argv[1], name]))["devices"]
a, b = devices("a"), devices("b")
s = set(a) & set(b)
assert len(b) == 2 and len(s) == 1, (a, b)
print(os.path.basename(s.pop()))
' "$S" "$MKIMG") || fail "b does not share one blob with a"
uploads=$(grep -c '"PUT /v2/mk/img/blobs/uploads/' "$T/p2.log" || true)
# its new blob and metadata image (copied), its layer record and its config
[ "$(json "$T/p2.json" 'j["copied"] + j["records"] + 1')" = "$uploads" ] && [ "$uploads" = 4 ] ||
	fail "push b: $uploads uploads in the access log: $(cat "$T/p2.json")"
! grep -q "digest=sha256%3A$shared" "$T/p2.log" || fail "push b uploaded a's blob again"
grep -q "\"HEAD /v2/mk/img/blobs/sha256:$shared" "$T/p2.log" || fail "push b did not ask for a's blob"
n0=$(wc -l <"$T/reg.log")
"$MKIMG" push --json "${IN[@]}" --store "$S" a "$R/mk/img:a" >"$T/p3.json" || fail "push a again"
[ "$(json "$T/p3.json" 'j["copied"]')" = 0 ] || fail "push a again: $(cat "$T/p3.json")"
[ "$(json "$T/p3.json" 'j["manifest"]')" = "$(json "$T/p1.json" 'j["manifest"]')" ] ||
	fail "push a again: another manifest"
! tail -n +$((n0 + 1)) "$T/reg.log" | grep -q '"PUT /v2/mk/img/blobs' || fail "push a again uploaded"
# into another repository with --mount-from: a's blob is mounted, not uploaded
n0=$(wc -l <"$T/reg.log")
"$MKIMG" push --json "${IN[@]}" --store "$S" --mount-from mk/img b "$R/mk/other:b" >"$T/pm.json" ||
	fail "push --mount-from"
tail -n +$((n0 + 1)) "$T/reg.log" >"$T/pm.log"
[ "$(json "$T/pm.json" 'j["mounted"] >= 1 and j["copied"] == 0')" = True ] ||
	fail "push --mount-from mounted nothing: $(cat "$T/pm.json")"
grep -q "\"POST /v2/mk/other/blobs/uploads/?mount=sha256%3A$shared&from=mk%2Fimg HTTP/1.1\" 201" "$T/pm.log" ||
	fail "no mount of a's blob in the access log: $(grep POST "$T/pm.log" | head -3)"
! grep -q "\"PUT /v2/mk/other/blobs/uploads/.*digest=sha256%3A$shared" "$T/pm.log" ||
	fail "push --mount-from uploaded the blob it mounted"
"$MKIMG" pull -q "${IN[@]}" --store "$T/store-mnt" "$R/mk/other:b" || fail "pull of the mounted artifact"
pulled "$T/store-mnt" b "$T/ref-b"
expect_one_line 1 'needs a registry destination' push --store "$S" --mount-from mk/img b "oci:$T/lay-m:b"
echo "ok: push --mount-from mounts the blobs another repository has: $(cat "$T/pm.json")"
echo "ok: push: b uploaded only its new blob, image, record and config ($(cat "$T/p2.json")), a again nothing"

skopeo inspect "${IN[@]}" --raw "$R/mk/img:b" >"$T/raw" || fail "skopeo inspect --raw"
[ "sha256:$(sha256sum <"$T/raw" | cut -d' ' -f1)" = "$(json "$T/p2.json" 'j["manifest"]')" ] ||
	fail "skopeo reads another manifest"
skopeo copy -q --src-tls-verify=false "$R/mk/img:b" "oci:$T/sk:b" || fail "skopeo copy"
"$MKIMG" pull -q --store "$T/store-sk" "oci:$T/sk:b" || fail "pull of skopeo's copy"
pulled "$T/store-sk" b "$T/ref-b"
"$MKIMG" ls --remote "$R/mk/img" "${IN[@]}" >"$T/ls" || fail "ls --remote"
grep -q '^a ' "$T/ls" && grep -q '^b ' "$T/ls" || fail "ls --remote: $(cat "$T/ls")"
echo "ok: skopeo inspects and copies the artifact; ls --remote lists a and b"

# an ordinary image and the artifact made of it (--subject): pulling the image's
# reference finds the artifact (docker-registry 2.8 has no referrers API: the
# referrers tag sha256-<hex> holds the link)
python3 "$TOOLS/mkoci.py" <(echo '{"images": [{"tag": "app", "layers": [{"compression": "gzip",
	"entries": [{"path": "etc", "type": "dir"}, {"path": "etc/app.conf", "type": "file",
	"content": "port = 80\n"}, {"path": "bin", "type": "dir"}, {"path": "bin/app",
	"type": "file", "size": 300000, "fill": "random", "seed": 3, "mode": "0755"}]}]}]}') \
	"$T/app-oci" || fail "mkoci"
"$MKIMG" convert -q --no-fsync --store "$S" --name app "oci:$T/app-oci:app" || fail "convert app"
skopeo copy -q --dest-tls-verify=false "oci:$T/app-oci:app" "$R/mk/app:1.0" || fail "skopeo copy app"
expect_one_line 1 'not an mkimg artifact, and none refers to it' \
	pull "${IN[@]}" --store "$T/store-app" "$R/mk/app:1.0"
no_images "$T/store-app" "a pull of an image no artifact refers to"
"$MKIMG" push --json "${IN[@]}" --store "$S" --subject 1.0 app "$R/mk/app:mkimg-1.0" >"$T/pa.json" ||
	fail "push --subject"
skopeo inspect "${IN[@]}" --raw "$R/mk/app:mkimg-1.0" | python3 -c '
import json, sys
m = json.load(sys.stdin)
assert m["subject"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json", m
' || fail "the artifact names no subject"
"$MKIMG" pull --json "${IN[@]}" --store "$T/store-app" --name app "$R/mk/app:1.0" >"$T/qa.json" ||
	fail "pull of the ordinary image's tag"
[ "$(json "$T/qa.json" 'j["manifest"]')" = "$(json "$T/pa.json" 'j["manifest"]')" ] ||
	fail "the pull of app:1.0 found another artifact"
umoci unpack --image "$T/app-oci:app" "$T/app-unpacked" >/dev/null 2>"$T/umoci.err" ||
	fail "umoci unpack: $(cat "$T/umoci.err")"
# umoci gives the (implicit) root the time of the unpack
mkdir "$T/m-app"
"$MKIMG" mount --store "$T/store-app" app "$T/m-app" || fail "mount app"
touch -h -d "@$(stat -c %Y "$T/m-app")" "$T/app-unpacked/rootfs"
"$MKIMG" umount "$T/m-app"
pulled "$T/store-app" app "$T/app-unpacked/rootfs"
# its layer record came along: converting the OCI image reads the record, not the layer
"$MKIMG" convert --json --no-fsync --store "$T/store-app" --name app-conv "oci:$T/app-oci:app" >"$T/ac.json"
[ "$(json "$T/ac.json" 'j["layers_reused"] == 1 and j["new_bytes"] == 0')" = True ] ||
	fail "a conversion after the pull did not reuse the pulled layer record: $(cat "$T/ac.json")"
"$MKIMG" ls --remote "$R/mk/app:1.0" "${IN[@]}" | grep -q '^1\.0 ' || fail "ls --remote app:1.0"
expect_one_line 1 'needs a registry destination' push --store "$S" --subject 1.0 app "oci:$T/lay-x:a"
echo "ok: an artifact pushed with --subject is found from the ordinary image's tag"

# --- pull into a fresh store ------------------------------------------------------
S2=$T/store2
"$MKIMG" pull --json "${IN[@]}" --store "$S2" "$R/mk/img:a" >"$T/q1.json" || fail "pull a"
# (bytes_fetched: also the layer record)
[ "$(json "$T/q1.json" 'j["copied"] == 2 and j["bytes_fetched"] > j["bytes"] == j["bytes_copied"]')" = True ] ||
	fail "pull a into a fresh store: $(cat "$T/q1.json")"
"$MKIMG" pull --json "${IN[@]}" --store "$S2" "$R/mk/img:b" >"$T/q2.json" || fail "pull b"
[ "$(json "$T/q2.json" 'j["copied"]')" = 2 ] || fail "pull b copied a's blob again: $(cat "$T/q2.json")"
pulled "$S2" a "$T/ref-a"
pulled "$S2" b "$T/ref-b"
d=$(json "$T/q1.json" 'j["manifest"]')
"$MKIMG" pull --json "${IN[@]}" --store "$S2" --name a2 "$R/mk/img@$d" >"$T/q3.json" ||
	fail "pull a by digest"
[ "$(json "$T/q3.json" 'j["bytes_fetched"] + j["bytes_copied"]')" = 0 ] ||
	fail "pull again downloaded: $(cat "$T/q3.json")"
"$MKIMG" fsck --full --store "$S2" >"$T/fsck2.log" 2>&1 || { cat "$T/fsck2.log"; fail "fsck --full after pulls"; }
# a host whose store names a shared layout with a's artifact as an alternate:
# the pull of b from the registry links a's blob, downloads only b's own
"$MKIMG" push -q --store "$S" a "oci:$T/shared:a" || fail "push a into a layout"
"$MKIMG" alternate --store "$T/store-alt" add "$T/shared" || fail "alternate add"
"$MKIMG" pull --json "${IN[@]}" --store "$T/store-alt" "$R/mk/img:b" >"$T/qalt.json" ||
	fail "pull b with an alternate"
[ "$(json "$T/qalt.json" 'j["linked"] == 1 and j["copied"] == 2 and j["bytes_fetched"] < j["bytes"] - j["bytes_linked"] + 65536')" = True ] ||
	fail "pull b with an alternate: $(cat "$T/qalt.json")"
[ -L "$T/store-alt/blobs/sha256/$shared" ] || fail "a's blob is not a link into the alternate"
pulled "$T/store-alt" b "$T/ref-b"
# the layer records came along: lookup finds the pulled image by its layer
[ "$(json "$T/q1.json" 'j["records"] == 1 and j["layers"]')" = True ] ||
	fail "pull a: no layer records registered: $(cat "$T/q1.json")"
chain=sha256:$(sha256sum <"$T/a.tar" | cut -d' ' -f1)
"$MKIMG" lookup --json --store "$S2" --chain "$chain" >"$T/lk.json" || fail "lookup"
[ "$(json "$T/lk.json" 'j["found"] and j["name"] in ("a", "a2")')" = True ] ||
	fail "lookup does not find the pulled a by its layer: $(cat "$T/lk.json")"
"$MKIMG" convert -q --no-fsync --store "$S2" --name a-conv "$T/a.tar"
[ "$("$MKIMG" inspect --json --store "$S2" a-conv | python3 -c 'import json,sys; print(json.load(sys.stdin)["new_data_bytes"])')" = 0 ] ||
	fail "a conversion after the pull stored data again"
[ -z "$(ls "$S2/tmp")" ] || fail "downloads left in tmp/: $(ls "$S2/tmp")"
echo "ok: pulled into a fresh store; again by digest: nothing downloaded"

# --- a blob tampered with in the registry's storage -------------------------------
"$MKIMG" push -q "${IN[@]}" --store "$S" c "$R/mk/tam:c" || fail "push c"
cdev=$(basename "$("$MKIMG" inspect --json --store "$S" c | python3 -c 'import json,sys; print(json.load(sys.stdin)["devices"][0])')")
f=$T/reg.d/docker/registry/v2/blobs/sha256/${cdev:0:2}/$cdev/data
[ -f "$f" ] || fail "no blob $cdev in the registry's storage"
python3 -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x40
open(p, "wb").write(b)
' "$f"
S3=$T/store3
expect_one_line 1 "sha256:$cdev: the bytes sent do not have that digest" \
	pull "${IN[@]}" --store "$S3" "$R/mk/tam:c"
no_images "$S3" "a tampered blob"
[ ! -e "$S3/tmp/pull-$cdev" ] || fail "a tampered download stays in tmp/"
echo "ok: a tampered blob is refused, nothing registered"

# --- kill -9 during a pull, then again: only the rest comes -----------------------
"$MKIMG" push -q "${IN[@]}" --store "$S" big "$R/mk/big:1" || fail "push big"
PP=$("${RT[@]}" port)
"${RT[@]}" proxy "$PP" "$P" $((8 << 20)) &
PIDS+=($!)
wait_port "$PP"
S4=$T/store4
"$MKIMG" pull -q "${IN[@]}" --store "$S4" "docker://127.0.0.1:$PP/mk/big:1" &
pid=$!
for i in $(seq 400); do
	sz=$(stat -c %s "$S4"/tmp/pull-* 2>/dev/null | sort -n | tail -1 || true)
	[ -n "$sz" ] && [ "$sz" -gt $((12 << 20)) ] && break
	sleep 0.05
done
kill -9 "$pid" 2>/dev/null || fail "the pull ended before it could be killed"
wait "$pid" 2>/dev/null || true
have=$(stat -c %s "$S4"/tmp/pull-* | sort -n | tail -1)
no_images "$S4" "a killed pull"
"$MKIMG" pull --json "${IN[@]}" --store "$S4" "$R/mk/big:1" >"$T/k.json" || fail "pull after kill -9"
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
have = int(sys.argv[2])
assert have > 0 and j["bytes_fetched"] <= j["bytes"] - have, (j, have)
' "$T/k.json" "$have" || fail "the pull after kill -9 downloaded again what it had: $(cat "$T/k.json"), had $have"
pulled "$S4" 1 "$T/ref-big"
"$MKIMG" fsck --full --store "$S4" >"$T/fsck4.log" 2>&1 || { cat "$T/fsck4.log"; fail "fsck --full after kill -9"; }
echo "ok: kill -9 during a pull ($have bytes had), the next pull fetched $(json "$T/k.json" 'j["bytes_fetched"]')"

# what a download left that is not the blob's start: the pull starts it again
S4b=$T/store4b
"$MKIMG" pull -q "${IN[@]}" --store "$S4b" "$R/mk/img:a" || fail "pull a into store4b"
bigdev=$(basename "$("$MKIMG" inspect --json --store "$S" big | python3 -c 'import json,sys; print(json.load(sys.stdin)["devices"][0])')")
head -c 1000000 /dev/urandom >"$S4b/tmp/pull-$bigdev"
"$MKIMG" pull --json "${IN[@]}" --store "$S4b" "$R/mk/big:1" >"$T/k2.json" || fail "pull over a bad partial download"
pulled "$S4b" 1 "$T/ref-big"
[ ! -e "$S4b/tmp/pull-$bigdev" ] || fail "the download stays after the pull"
echo "ok: a partial download with other bytes is started again: $(cat "$T/k2.json")"

# --- four pulls at once of overlapping images into one store -------------------------
S5=$T/store5
pids=()
for x in a:p1 b:p2 a:p3 b:p4; do
	"$MKIMG" pull -q "${IN[@]}" --store "$S5" --name "${x#*:}" "$R/mk/img:${x%%:*}" &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "one of four concurrent pulls failed"
done
pulled "$S5" p1 "$T/ref-a"
pulled "$S5" p4 "$T/ref-b"
"$MKIMG" fsck --full --store "$S5" >"$T/fsck5.log" 2>&1 || { cat "$T/fsck5.log"; fail "fsck --full after concurrent pulls"; }
echo "ok: four concurrent pulls"

# --- basic auth ------------------------------------------------------------------------
echo "user:$("${RT[@]}" bcrypt s3cret)" >"$T/htpasswd"
PB=$("${RT[@]}" port)
start_registry basic "$PB" "auth: {htpasswd: {realm: mkimg-test, path: $T/htpasswd}}"
RB=docker://127.0.0.1:$PB
echo '{}' >"$T/empty-auth.json"
expect_one_line 1 'user and password' push "${IN[@]}" --authfile "$T/empty-auth.json" --store "$S" a "$RB/mk/img:a"
expect_one_line 1 'denied' push "${IN[@]}" --creds user:wrong --store "$S" a "$RB/mk/img:a"
"$MKIMG" push -q "${IN[@]}" --creds user:s3cret --store "$S" a "$RB/mk/img:a" || fail "push with basic auth"
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$PB" "$(printf user:s3cret | base64)" >"$T/auth.json"
REGISTRY_AUTH_FILE=$T/auth.json "$MKIMG" pull -q "${IN[@]}" --store "$T/store6" "$RB/mk/img:a" ||
	fail "pull with credentials from \$REGISTRY_AUTH_FILE"
pulled "$T/store6" a "$T/ref-a"
echo "ok: basic auth: refused without or with wrong credentials, works with --creds and an auth file"

# --- token auth --------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tok.key" -out "$T/tok.crt" -days 2 \
	-subj /CN=mkimg-test-token >/dev/null 2>&1 || fail "openssl req"
PT=$("${RT[@]}" port)
"${RT[@]}" token "$PT" "$T/tok.key" "$T/tok.crt" mkimg-issuer mkimg-service user:s3cret 2>"$T/token.log" &
PIDS+=($!)
wait_port "$PT"
PK=$("${RT[@]}" port)
start_registry tokreg "$PK" "auth: {token: {realm: 'http://127.0.0.1:$PT/token', service: mkimg-service, issuer: mkimg-issuer, rootcertbundle: $T/tok.crt}}"
RK=docker://127.0.0.1:$PK
expect_one_line 1 'token server .* answered HTTP 401' push "${IN[@]}" --authfile "$T/empty-auth.json" --store "$S" a "$RK/mk/img:a"
"$MKIMG" push -q "${IN[@]}" --creds user:s3cret --store "$S" b "$RK/mk/img:b" || fail "push with a token"
# a mount asks for a token that may also pull the other repository
"$MKIMG" push --json "${IN[@]}" --creds user:s3cret --store "$S" --mount-from mk/img b "$RK/mk/copy:b" \
	>"$T/pk.json" 2>"$T/pk.err" || fail "push --mount-from with a token: $(cat "$T/pk.err")"
[ "$(json "$T/pk.json" 'j["mounted"] == j["blobs"] and j["copied"] == 0')" = True ] ||
	fail "push --mount-from with a token: $(cat "$T/pk.json")"
"$MKIMG" pull -q "${IN[@]}" --creds user:s3cret --store "$T/store7" "$RK/mk/img:b" || fail "pull with a token"
pulled "$T/store7" b "$T/ref-b"
grep -q 'GET /token' "$T/token.log" || fail "no token was asked for"
echo "ok: token auth through the realm"

# --- TLS -----------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls.key" -out "$T/tls.crt" -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || fail "openssl req"
PS=$("${RT[@]}" port)
start_registry tls "$PS" "" "  tls: {certificate: $T/tls.crt, key: $T/tls.key}"
RS=docker://127.0.0.1:$PS
expect_one_line 1 'TLS' push --store "$S" a "$RS/mk/img:a"
"$MKIMG" push -q --ca-file "$T/tls.crt" --store "$S" a "$RS/mk/img:a" || fail "push with --ca-file"
"$MKIMG" pull -q --ca-file "$T/tls.crt" --store "$T/store8" "$RS/mk/img:a" || fail "pull with --ca-file"
pulled "$T/store8" a "$T/ref-a"
"$MKIMG" ls --remote "$RS/mk/img:a" --tls-verify=false >/dev/null || fail "ls --remote --tls-verify=false over TLS"
expect_one_line 1 'plain http needs --tls-verify=false|TLS' pull --store "$T/store9" "$R/mk/img:a"
no_images "$T/store9" "plain http without --tls-verify=false"
echo "ok: TLS checked against --ca-file; plain http only with --tls-verify=false"

# --- a registry that lies ----------------------------------------------------------------------
"$MKIMG" push -q --store "$S" a "oci:$T/lay:a" || fail "push a into a layout"
PL=$("${RT[@]}" port)
"${RT[@]}" liar "$PL" "$T/lay" a 2>"$T/liar.log" &
PIDS+=($!)
wait_port "$PL"
RL=docker://127.0.0.1:$PL
S10=$T/store10
check_lie() {	# check_lie LIE PATTERN
	local t0=$SECONDS
	expect_one_line 1 "$2" pull "${IN[@]}" --timeout 3 --store "$S10" "$RL/$1:a"
	[ $((SECONDS - t0)) -lt 30 ] || fail "lie $1: took $((SECONDS - t0)) s"
	no_images "$S10" "lie $1"
	echo "ok: lie $1: $(cat "$T/err")"
}
check_lie digest 'do not have that digest'
check_lie size 'more bytes than its descriptor'
check_lie trunc 'transfer closed|of its [0-9]+ bytes came|partial file'
check_lie loop 'more than 10 redirects'
check_lie layers 'more than [0-9]+ blobs'
check_lie huge 'larger than'
check_lie version 'version'
check_lie stall 'no progress for 3 s'
m=$(json "$T/p1.json" 'j["manifest"]')
expect_one_line 1 'another digest' pull "${IN[@]}" --store "$S10" "$RL/manifest@$m"
no_images "$S10" "a manifest of another digest"
[ -z "$(find "$S10" -path '*/blobs/sha256/*' -type f -name '[0-9a-f]*')" ] || fail "a lie left blobs in the store"
echo "ok: every lie refused with one line, nothing registered"

# --- bad references, a refused connection -------------------------------------------------------
expect_one_line 1 'not a reference' pull --store "$S10" "http://127.0.0.1/x"
expect_one_line 1 'not a valid repository name' pull --store "$S10" "docker://127.0.0.1:$P/UPPER:a"
expect_one_line 1 'not a valid tag' push --store "$S" a "docker://127.0.0.1:$P/x:bad!tag"
expect_one_line 1 'a digest is sha256' pull --store "$S10" "docker://127.0.0.1:$P/x@sha256:12"
expect_one_line 1 'give a tag or a digest' pull --store "$S10" "$R/mk/img"
expect_one_line 1 'not found' pull "${IN[@]}" --store "$S10" "$R/mk/img:nope"
PX=$("${RT[@]}" port)
expect_one_line 1 "127.0.0.1:$PX" push "${IN[@]}" --store "$S" a "docker://127.0.0.1:$PX/x:a"
expect_one_line 2 'tls-verify takes true or false' pull --tls-verify=maybe --store "$S10" "$R/mk/img:a"
no_images "$S10" "bad references"
echo "ok: bad references and a refused connection: one line each"
