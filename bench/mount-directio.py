#!/usr/bin/env python3
"""Buffered against directio store mounts on this machine's kernel.

usage: bench/mount-directio.py [--mb N] [--rounds R] [--scratch DIR]   (root)

Converts a tree of N MB (default 200) of random files into a fresh store,
then, R rounds (default 3) taking turns: evicts the store image and its
blobs from the page cache (posix_fadvise DONTNEED on those files only, so
other work on the machine keeps its cache), `mkimg mount --store S
[--directio] NAME DIR` (the snapshotter's mount; inode_share where the
kernel has it), reads every file (cold), counts the blob pages left in the
page cache (fincore), reads everything again (warm), unmounts. Prints each
round and the medians. MKIMG= chooses the mkimg program.
"""
import argparse, glob, os, random, shutil, statistics, subprocess, sys, tempfile, time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
mkimg = os.environ.get("MKIMG", os.path.join(top, "mkimg", "mkimg"))


def evict(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)	# dirty pages are not dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def read_all(root):
    n = 0
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for f in sorted(fns):
            with open(os.path.join(dp, f), "rb", buffering=0) as fh:
                while True:
                    b = fh.read(1 << 17)
                    if not b:
                        break
                    n += len(b)
    return n


def cached_mb(paths):
    out = subprocess.run(["fincore", "-b", "-n", "-o", "RES"] + paths,
                         capture_output=True, text=True, check=True).stdout
    return sum(int(x) for x in out.split()) / 1048576


def timed_read(root):
    t = time.monotonic()
    n = read_all(root)
    return n, n / 1048576 / (time.monotonic() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scratch", default="/var/tmp")
    a = ap.parse_args()
    t = tempfile.mkdtemp(prefix="mkimg-directio.", dir=a.scratch)
    try:
        rnd = random.Random(1)
        size, i = 0, 0
        while size < a.mb << 20:
            p = os.path.join(t, "root", "d%d" % (i % 8), "f%04d.bin" % i)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            n = rnd.randint(64, 960) * 1024
            with open(p, "wb") as f:
                f.write(rnd.randbytes(n))
            size, i = size + n, i + 1
        subprocess.run([sys.executable, os.path.join(top, "scripts", "sample-oci.py"),
                        t + "/oci", "img", t + "/root=data"], check=True)
        store, mnt = t + "/store", t + "/mnt"
        subprocess.run([mkimg, "convert", "-q", "--store", store, "--name", "img",
                        "oci:%s/oci:img" % t], check=True)
        shutil.rmtree(t + "/root")
        files = glob.glob(store + "/blobs/sha256/[0-9a-f]*") + \
            glob.glob(store + "/images/[0-9a-f]*")
        blobs = glob.glob(store + "/blobs/sha256/[0-9a-f]*")
        os.makedirs(mnt)
        print("kernel %s, %d files, %.1f MB, store on %s" % (
            os.uname().release, i, size / 1048576,
            subprocess.run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", store],
                           capture_output=True, text=True).stdout.strip()))
        res = {"buffered": [], "directio": []}
        for r in range(a.rounds):
            for mode in res:
                evict(files)
                left = cached_mb(files)
                subprocess.run([mkimg, "mount", "--store", store] +
                               (["--directio"] if mode == "directio" else []) +
                               ["img", mnt], check=True)
                try:
                    n, cold = timed_read(mnt)
                    blob = cached_mb(blobs)
                    _, warm = timed_read(mnt)
                finally:
                    subprocess.run([mkimg, "umount", "--store", store, mnt], check=True)
                res[mode].append((cold, warm, blob))
                print("round %d %-8s cold %6.0f MB/s  warm %6.0f MB/s  blob pages cached "
                      "%6.1f MB (read %.1f MB; %.1f MB cached before)" % (
                          r, mode, cold, warm, blob, n / 1048576, left), flush=True)
        for mode, v in res.items():
            print("median   %-8s cold %6.0f MB/s  warm %6.0f MB/s  blob pages cached %6.1f MB"
                  % (mode, *(statistics.median(x[k] for x in v) for k in range(3))))
    finally:
        subprocess.run(["umount", t + "/mnt"], stderr=subprocess.DEVNULL)
        shutil.rmtree(t, ignore_errors=True)


main()
