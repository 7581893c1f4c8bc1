#!/usr/bin/env python3
"""Seeded random directory trees for the end-to-end tests.

usage: gentree.py --seed N [--small | --big] DIR

Every file type (regular, directory, symlink, hard link, char and block
devices, FIFO, socket), xattrs (user., trusted., security.capability) on
files, directories and symlinks, 255-byte names and odd bytes in names, a
deep path, empty, all-zero, sparse and duplicate files, sizes around block
boundaries, setuid/setgid/sticky and 0000 modes, uid/gid above 65535, and
mtimes with nanoseconds before 1970 and after 2038. --big adds a directory of
50 000 entries and a sparse file of 4 GiB + 12345 bytes. The same seed gives
the same tree (contents, names, attributes).
"""
import os
import random
import socket
import stat
import sys

CAP = bytes.fromhex("01000002" "00200000" "00000000" "00000000" "00000000")


def main():
    args = sys.argv[1:]
    seed, size = None, "medium"
    dest = None
    i = 0
    while i < len(args):
        if args[i] == "--seed":
            seed = int(args[i + 1])
            i += 2
            continue
        if args[i] in ("--small", "--big"):
            size = args[i][2:]
        else:
            dest = args[i]
        i += 1
    if seed is None or dest is None:
        sys.exit(__doc__)
    if os.path.exists(dest):
        sys.exit("gentree: %s exists" % dest)
    rnd = random.Random(seed)
    os.umask(0)
    os.makedirs(dest)
    times = []      # (path, ns) applied at the end, deepest first
    nfiles = {"small": 20, "medium": 600, "big": 600}[size]

    def rbytes(n):
        return rnd.getrandbits(8 * n).to_bytes(n, "little") if n else b""

    def rname(i):
        kind = rnd.randrange(12)
        if kind == 0:
            return ("L%d-" % i + "n" * 255)[:255]
        if kind == 1:
            return "sp ace %d" % i
        if kind == 2:
            return "ünï-%d" % i
        if kind == 3:
            return "-dash%d" % i
        if kind == 4:
            return ".hidden%d" % i
        return "f%d" % i

    def rtime():
        k = rnd.randrange(10)
        if k == 0:
            return -rnd.randrange(1, 2 ** 31) * 10 ** 9 + rnd.randrange(10 ** 9)
        if k == 1:
            return (2 ** 32 + rnd.randrange(2 ** 20)) * 10 ** 9 + rnd.randrange(10 ** 9)
        if k < 6:
            return 1700000000 * 10 ** 9     # common: compact inodes
        return rnd.randrange(10 ** 9, 2 ** 31) * 10 ** 9 + rnd.randrange(10 ** 9)

    def rowner(p):
        k = rnd.randrange(6)
        uid, gid = (0, 0) if k < 3 else (rnd.randrange(1, 65536), rnd.randrange(1, 65536))
        if k == 5:
            uid, gid = 100000 + rnd.randrange(1000), 4000000 + rnd.randrange(1000)
        os.chown(p, uid, gid, follow_symlinks=False)

    def rxattrs(p, islink=False):
        if rnd.randrange(4):
            return
        if not islink and rnd.randrange(2):
            os.setxattr(p, "user.k%d" % rnd.randrange(100), rbytes(rnd.choice([1, 10, 200, 3000])),
                        follow_symlinks=False)
        if rnd.randrange(2):
            os.setxattr(p, "trusted.t%d" % rnd.randrange(10), rbytes(rnd.randrange(1, 64)),
                        follow_symlinks=False)
        if rnd.randrange(4) == 0:
            os.setxattr(p, "trusted.overlay.opaque", b"y", follow_symlinks=False)

    # directories: a random tree plus one deep path
    dirs = [dest]
    for i in range(max(3, nfiles // 20)):
        parent = rnd.choice(dirs)
        d = os.path.join(parent, "d%d" % i)
        os.mkdir(d, 0o755)
        dirs.append(d)
    deep = dest
    for i in range(40 if size != "small" else 5):
        deep = os.path.join(deep, "deep%d" % i)
        os.mkdir(deep)
        dirs.append(deep)

    shared = rbytes(70000)
    regulars = []
    for i in range(nfiles):
        parent = rnd.choice(dirs)
        p = os.path.join(parent, rname(i))
        if os.path.lexists(p):
            continue
        k = rnd.randrange(20)
        if k == 0:
            data = b""
        elif k == 1:
            data = bytes(rnd.choice([4096, 200 * 1024, 70000]))
        elif k == 2:
            data = shared          # duplicate content
        elif k == 3:
            data = rbytes(rnd.choice([4095, 4096, 4097, 8192, 12288]))
        elif k == 4:
            data = None            # sparse
        else:
            data = rbytes(rnd.choice([1, 10, 100, 1000, 3000, 5000, 20000, 150000]))
        with open(p, "wb") as f:
            if data is None:
                f.truncate(rnd.choice([1, 3, 9]) * 65536 + rnd.randrange(70000))
                for _ in range(rnd.randrange(1, 4)):
                    f.seek(rnd.randrange(os.fstat(f.fileno()).st_size))
                    f.write(rbytes(rnd.randrange(1, 5000)))
            else:
                f.write(data)
        os.chmod(p, rnd.choice([0o644, 0o600, 0o755, 0o4755, 0o2755, 0o000, 0o777, 0o640]))
        rowner(p)
        rxattrs(p)
        if rnd.randrange(10) == 0:
            os.setxattr(p, "security.capability", CAP)
        regulars.append(p)
        times.append((p, rtime()))

    # hard links, within and across directories
    for i in range(max(2, nfiles // 30)):
        src = rnd.choice(regulars)
        for j in range(rnd.randrange(1, 3)):
            p = os.path.join(rnd.choice(dirs), "hl%d-%d" % (i, j))
            if not os.path.lexists(p):
                os.link(src, p)

    # symlinks
    for i in range(max(4, nfiles // 15)):
        p = os.path.join(rnd.choice(dirs), "s%d" % i)
        k = rnd.randrange(5)
        target = ["../" + os.path.basename(rnd.choice(regulars)), "/etc/passwd",
                  "dangling-%d" % i, "t" * rnd.choice([100, 1000, 3000]), "."][k]
        os.symlink(target, p)
        rowner(p)
        rxattrs(p, islink=True)
        times.append((p, rtime()))

    # special files
    for i in range(max(3, nfiles // 40)):
        parent = rnd.choice(dirs)
        k = i % 4
        p = os.path.join(parent, "dev%d" % i)
        if k == 0:
            os.mknod(p, stat.S_IFCHR | 0o620, os.makedev(rnd.randrange(1, 4096),
                                                         rnd.randrange(0, 1 << 20)))
        elif k == 1:
            os.mknod(p, stat.S_IFBLK | 0o660, os.makedev(8, rnd.randrange(0, 300)))
        elif k == 2:
            os.mkfifo(p, 0o644)
        else:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.bind(p)
            except OSError:     # path too long for sun_path: skip
                s.close()
                continue
            s.close()
        rowner(p)
        rxattrs(p, islink=True)
        times.append((p, rtime()))

    if size == "big":
        big = os.path.join(dest, "bigdir")
        os.mkdir(big)
        first = os.path.join(big, "e0")
        open(first, "w").close()
        for i in range(1, 50000):
            p = os.path.join(big, "e%d" % i)
            if i % 2:
                os.link(first, p)
            else:
                open(p, "w").close()
        dirs.append(big)
        with open(os.path.join(dest, "huge"), "wb") as f:
            f.truncate(4 * 2 ** 30 + 12345)
            for off in (0, 2 ** 30 + 4096, 3 * 2 ** 30 + 99, 4 * 2 ** 30 + 12340):
                f.seek(off)
                f.write(b"data@%d" % off)

    for d in dirs:
        os.chmod(d, rnd.choice([0o755, 0o700, 0o1777, 0o2775]))
        rowner(d)
        rxattrs(d)
    # times last, deepest directories after their contents
    for p, ns in times:
        os.utime(p, ns=(ns, ns), follow_symlinks=False)
    for d in sorted(dirs, key=lambda x: -x.count(os.sep)):
        ns = rtime()
        os.utime(d, ns=(ns, ns), follow_symlinks=False)


if __name__ == "__main__":
    main()
