#!/usr/bin/env bash
# End-to-end test of EROFS inode page-cache sharing (Linux 7.0+,
# -o inode_share,domain_id=NAME) with images built by mkimg, in a qemu VM
# running Debian sid's 7.x kernel (fetched by tests/vm/fetch-kernel.sh).
#
# Builds two overlapping trees A and B (B = A with ~10% of files changed or
# added), images A/B (+blobs, fingerprints on) and N (tree A, --no-fingerprint),
# puts them on a virtio disk (an EROFS image made by mkimg itself), boots the
# kernel with a busybox initramfs whose /init runs tests/vm/pagecache.c, and
# turns the serial output into the result.
# Then the snapshotter's mounts: two containers' images (the same files in
# layers of other digests, plus files of their own) converted into a store,
# each erofs mount exactly as `mkimg mount --print --json` gives it (what the
# snapshotter's `mkimg mount --store S --domain mkimg` mounts, buffered and
# with --directio) with an overlay of an active snapshot on top; the VM shows
# the shared files cached once and measures Cached growth and cold/warm read
# throughput of buffered against directio (RESULT snap_* lines).
#
# Exit: 0 all PASS, 1 a FAIL or a missing result, 77 kernel/qemu unavailable.
# Env: top_srcdir, top_builddir (make check), MKIMG, MKIMG_VM_CACHE
#      (default /var/cache/mkimg-vm), MKIMG_VM_KEEP=1 keeps the scratch dir.
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
MKIMG=${MKIMG:-$top_builddir/mkimg/mkimg}
cache=${MKIMG_VM_CACHE:-/var/cache/mkimg-vm}
here=$top_srcdir/tests/vm

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ -x "$MKIMG" ] || fail "mkimg not built: $MKIMG"
for t in qemu-system-x86_64 gcc cpio gzip python3 sha256sum timeout; do
	command -v "$t" >/dev/null || skip "$t not installed"
done
if ! "$here/fetch-kernel.sh" "$cache" > /dev/null; then
	skip "cannot obtain the 7.x kernel (no network to deb.debian.org?)"
fi
echo "kernel: $(cat "$cache/kernel-package") ($(cat "$cache/kernel-release"))"

T=$(mktemp -d /var/tmp/mkimg-vm.XXXXXX)
if [ "${MKIMG_VM_KEEP:-0}" = 1 ]; then
	echo "scratch: $T"
else
	trap 'rm -rf "$T"' EXIT
fi

# ---- trees -------------------------------------------------------------------------
# A: 200 files of 4 KiB..200 KiB random content in 8 dirs, plus shared/F.bin (1 MiB).
# B: copy of A; 10 files rewritten (new content, some new sizes), 10 files added.
python3 - "$T/A" "$T/B" <<'PY'
import os, random, shutil, sys
a, b = sys.argv[1], sys.argv[2]
rnd = random.Random(20260707)
def put(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(rnd.randbytes(size))
files = []
for i in range(200):
    rel = "d%d/file%03d.bin" % (i % 8, i)
    put(os.path.join(a, rel), rnd.randint(4096, 200 * 1024))
    files.append(rel)
put(os.path.join(a, "shared/F.bin"), 1 << 20)
shutil.copytree(a, b)
for rel in rnd.sample(files, 10):
    p = os.path.join(b, rel)
    size = os.path.getsize(p) if rnd.random() < 0.5 else rnd.randint(4096, 200 * 1024)
    put(p, size)
for i in range(10):
    put(os.path.join(b, "new/added%02d.bin" % i), rnd.randint(4096, 200 * 1024))
PY

mkdir -p "$T/disk" "$T/initrd"
# 512-byte blocks, as in a store
"$MKIMG" build -q -T 0 -b 512 --blob "$T/disk/A.blob" "$T/A" "$T/disk/A.erofs"
"$MKIMG" build -q -T 0 -b 512 --blob "$T/disk/B.blob" "$T/B" "$T/disk/B.erofs"
"$MKIMG" build -q -T 0 -b 512 --blob "$T/disk/N.blob" --no-fingerprint "$T/A" "$T/disk/N.erofs"
for x in A B; do
	(cd "$T/$x" && find . -type f | LC_ALL=C sort | xargs sha256sum) > "$T/disk/sums-$x"
done
{
	echo "F shared/F.bin"
	echo "FSHA $(sha256sum < "$T/A/shared/F.bin" | cut -d' ' -f1)"
} > "$T/disk/params"
echo "trees: A $(du -sm --apparent-size "$T/A" | cut -f1) MB ($(wc -l < "$T/disk/sums-A") files)," \
	"B $(du -sm --apparent-size "$T/B" | cut -f1) MB ($(wc -l < "$T/disk/sums-B") files)," \
	"$(cd "$T" && diff -rq A B | wc -l) differing paths"
# ---- two containers' store images, mounted as the snapshotter mounts them --------------
# c1 and c2 hold the same 16 MB under /data in layers of other digests (other
# mtimes) plus 4 MB of their own under /opt/cN. Both are converted into a
# store; `mkimg mount --print --json` gives each mount as the snapshotter's `mkimg
# mount --store S --domain mkimg NAME DIR` makes it (buffered, and with
# --directio), and the VM mounts exactly those options, the store's host path
# replaced by the disk's.
python3 - "$T/c1" "$T/c2" <<'PY'
import os, random, sys
rnd = random.Random(20261202)
def put(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(rnd.randbytes(size))
for i in range(64):
    put(os.path.join(sys.argv[1], "data/d%d/f%02d.bin" % (i % 4, i)), rnd.randint(64, 448) * 1024)
for c in sys.argv[1:]:
    for i in range(16):
        put(os.path.join(c, "opt", os.path.basename(c), "g%02d.bin" % i), rnd.randint(128, 384) * 1024)
PY
cp -a "$T/c1/data" "$T/c2/data"
find "$T/c1" -exec touch -h -d @1700000000 {} +
find "$T/c2" -exec touch -h -d @1750000000 {} +
S=$T/store
mkdir -p "$T/disk/snap" "$T/mnt"
for c in c1 c2; do
	python3 "$top_srcdir/scripts/sample-oci.py" "$T/oci-$c" "$c" "$T/$c/data=data" "$T/$c/opt=opt"
	"$MKIMG" convert -q --store "$S" --name "$c" "oci:$T/oci-$c:$c"
	(cd "$T/$c" && find . -type f | LC_ALL=C sort | xargs sha256sum) > "$T/disk/snap/sums-$c"
	for mode in buffered directio; do
		dio=()
		[ $mode = buffered ] || dio=(--directio)
		"$MKIMG" mount --print --json --store "$S" --domain mkimg "${dio[@]}" "$c" \
			"$T/mnt/$c" > "$T/$c-$mode.json"
		python3 - "$T/$c-$mode.json" "$(realpath "$S")" /disk/store $mode \
			> "$T/disk/snap/$c-$mode.mount" <<'PY' || fail "mkimg mount --print $c ($mode)"
import json, sys
m = json.load(open(sys.argv[1]))
host, vm, mode = sys.argv[2], sys.argv[3], sys.argv[4]
opts = m["options"]
want = ["inode_share", "domain_id=mkimg"] + (["directio"] if mode == "directio" else [])
assert m["type"] == "erofs" and all(o in opts for o in want), m
assert ("directio" in opts) == (mode == "directio") and any(o.startswith("device=") for o in opts), m
remap = lambda s: vm + s[len(host):] if s.startswith(host + "/") else s
print("source", remap(m["source"]))
for o in opts:
    k, eq, v = o.partition("=")
    print("option", k + eq + remap(v))
assert host not in open(sys.argv[1]).read().replace(host + "/", ""), "unmapped host path"
PY
	done
done
(cd "$T/c1" && find data -type f | LC_ALL=C sort | xargs sha256sum) > "$T/disk/snap/sums-shared"
cmp -s <(cut -c1-64 "$T/disk/snap/sums-shared") \
	<(cd "$T/c2" && find data -type f | LC_ALL=C sort | xargs sha256sum | cut -c1-64) ||
	fail "c1 and c2 differ under /data"
layers() { "$MKIMG" inspect --store "$S" --json "$1" | python3 -c 'import json,sys; print(*json.load(sys.stdin)["layers"])'; }
[ "$(layers c1)" != "$(layers c2)" ] || fail "c1 and c2 have the same layers"
shared=$("$MKIMG" inspect --store "$S" --json c2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["shared_bytes"])')
[ "$shared" -ge "$(find "$T/c1/data" -type f -printf '%s\n' | paste -sd+ | bc)" ] 2>/dev/null ||
	fail "c2 shares only $shared bytes of c1's /data in the store"
mkdir -p "$T/disk/store"
cp -a "$S/images" "$S/blobs" "$T/disk/store/"
echo "store: c1, c2 ($(du -sm --apparent-size "$T/c1/data" | cut -f1) MB shared under other" \
	"layer digests, $(du -sm --apparent-size "$T/c1/opt" | cut -f1) MB each of their own)"
echo "c1's mount with --directio: $(sed -n 's/^source //p' "$T/disk/snap/c1-directio.mount")" \
	"$(sed -n 's/^option //p' "$T/disk/snap/c1-directio.mount" | paste -sd,)"

# The virtio disk: a self-contained EROFS image of $T/disk (file-backed erofs
# mounts need a backing filesystem with read_folio: not the initramfs).
"$MKIMG" build -q -T 0 "$T/disk" "$T/disk.img"
truncate -s %1M "$T/disk.img"

# ---- initramfs ----------------------------------------------------------------------
ir=$T/initrd
mkdir -p "$ir/bin" "$ir/dev" "$ir/proc" "$ir/sys" "$ir/mnt" "$ir/disk" "$ir/lib/modules"
cp "$cache/busybox" "$ir/bin/busybox"
cp "$cache/modules/load-order" "$cache"/modules/*.ko "$ir/lib/modules/"
gcc -static -O2 -o "$ir/pagecache" "$here/pagecache.c"
cat > "$ir/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in $(cat /lib/modules/load-order); do
	insmod /lib/modules/$m || echo "VMERR insmod $m"
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo "VM kernel $(uname -r), $(grep MemTotal /proc/meminfo)"
if mount -t erofs -o ro /dev/vda /disk; then
	/pagecache /disk
	echo "VM-EXIT $?"
else
	echo "VMERR cannot mount /dev/vda"
fi
poweroff -f
INIT
chmod 755 "$ir/init"
(cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 > "$T/initrd.gz"

# ---- boot -----------------------------------------------------------------------------
echo "booting qemu (TCG)..."
start=$(date +%s)
rc=0
timeout 300 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 \
	-kernel "$cache/vmlinuz" -initrd "$T/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet" -nographic -no-reboot \
	-drive file="$T/disk.img",if=virtio,format=raw,readonly=on \
	< /dev/null > "$T/serial.raw" 2>&1 || rc=$?
tr -d '\r' < "$T/serial.raw" > "$T/serial.log"
echo "qemu finished in $(($(date +%s) - start)) s (rc $rc)"
if [ "$rc" = 124 ]; then
	echo "--- serial output (tail) ---"; tail -n 40 "$T/serial.log"
	fail "VM timed out"
fi
grep -E '^(RESULT|PASS|FAIL|SKIP|DONE|VM|  )' "$T/serial.log" || true

# ---- verdict ----------------------------------------------------------------------------
expect=(share_read_resident share_visible_through_B share_one_page_cache share_content
	noshare_separate_caches noshare_content domains_do_not_share domains_content
	nofingerprint_does_not_share nofingerprint_content content_all_files
	cached_growth_buffered
	snap_buffered_content snap_buffered_shared_resident snap_buffered_shared_cached_once
	snap_buffered_control_separate snap_buffered_cached_growth
	snap_directio_content snap_directio_shared_resident snap_directio_shared_cached_once
	snap_directio_control_separate snap_directio_cached_growth snap_measure)
bad=0
if grep -q '^FAIL' "$T/serial.log"; then bad=1; fi
for e in "${expect[@]}"; do
	grep -qx "PASS $e" "$T/serial.log" || { echo "missing PASS $e"; bad=1; }
done
grep -qE '^(PASS|SKIP) cached_growth_directio' "$T/serial.log" ||
	{ echo "missing cached_growth_directio"; bad=1; }
grep -q '^DONE' "$T/serial.log" || { echo "test program did not finish"; bad=1; }
if [ $bad != 0 ]; then
	grep -q '^VM kernel' "$T/serial.log" ||
		{ echo "--- serial output (tail) ---"; tail -n 40 "$T/serial.log"; }
	fail "page-cache sharing test"
fi
echo "--- page cache (MB of Cached growth reading all files of A and B) ---"
sed -n '/^RESULT snap_/d; s/^RESULT \(.*_cached_growth_MB\) \([0-9.]*\).*/\1 \2/p' "$T/serial.log"
echo "--- the snapshotter's mounts, two containers (buffered vs directio, same boot; TCG: relative) ---"
sed -n 's/^RESULT \(snap_[a-z]*_\(cached_growth_MB\|noshare_cached_growth_MB\|cold_MBps\|warm_MBps\)\) /\1 /p' \
	"$T/serial.log"
echo "PASS: page-cache sharing"
