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

Not run as root, the tree leaves out what needs privileges: owners stay the
caller's, no char or block devices, only user. xattrs, and every mode keeps
the owner's read and write bits (and search on directories), so that the
caller can read the tree back. The rest (names, contents, times, the other
types) is the same as root's tree.
"""
import os
import random
import socket
import stat
import sys

CAP = bytes.fromhex("01000002" "00200000" "00000000" "00000000" "00000000")


def unprivileged():
    """Leaves out, without changing the random sequence, what needs root."""
    real_mknod, real_setxattr, real_chmod, real_utime = os.mknod, os.setxattr, os.chmod, os.utime

    def mknod(p, mode=0o600, device=0):
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            return
        real_mknod(p, mode, device)

    def setxattr(p, name, value, *a, **kw):
        if name.startswith("user.") and os.path.lexists(p):
            real_setxattr(p, name, value, *a, **kw)

    def missing_ok(f):
        def g(p, *a, **kw):
            if os.path.lexists(p):
                f(p, *a, **kw)
        return g

    os.chown = lambda *a, **kw: None
    os.mknod = mknod
    os.setxattr = setxattr
    def chmod(p, mode, *a, **kw):
        if os.path.lexists(p):
            real_chmod(p, mode | (0o700 if os.path.isdir(p) else 0o600), *a, **kw)

    os.chmod = chmod
    os.utime = missing_ok(real_utime)


def main():
    if os.geteuid() != 0:
        unprivileged()
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
        mode = rnd.choice([0o644, 0o600, 0o755, 0o4755, 0o2755, 0o000, 0o777, 0o640])
        rowner(p)
        os.chmod(p, mode)       # after chown, which clears setuid/setgid
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

    fixtures(dest, random.Random("fixtures-%d" % seed))

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
        # fixed times (50 000 utime calls take a fraction of a second)
        base = 1600000000 * 10 ** 9 + seed % 1000
        os.utime(first, ns=(base, base))
        for i in range(2, 50000, 2):
            t = base + i * 1000003
            os.utime(os.path.join(big, "e%d" % i), ns=(t, t))
        t = (2 ** 32 + 5) * 10 ** 9 + 123456789
        os.utime(os.path.join(dest, "huge"), ns=(t, t))

    for d in dirs:
        mode = rnd.choice([0o755, 0o700, 0o1777, 0o2775])
        rowner(d)
        os.chmod(d, mode)
        rxattrs(d)
    # times last, deepest directories after their contents
    for p, ns in times:
        os.utime(p, ns=(ns, ns), follow_symlinks=False)
    for d in sorted(dirs, key=lambda x: -x.count(os.sep)):
        ns = rtime()
        os.utime(d, ns=(ns, ns), follow_symlinks=False)


def fixtures(dest, rnd):
    """Every feature at least once whatever the seed and size, in
    DEST/zfix, from its own random stream (the rest of the tree does not
    change when fixtures are added)."""
    def rbytes(n):
        return rnd.getrandbits(8 * n).to_bytes(n, "little") if n else b""

    fx = os.path.join(dest, "zfix")
    sub = os.path.join(fx, "sub")
    sticky = os.path.join(fx, "sticky")
    for d in (fx, sub, sticky):
        os.mkdir(d)
    times = []

    def reg(name, data, mode=0o644, owner=(0, 0), parent=fx):
        p = os.path.join(parent, name)
        with open(p, "wb") as f:
            f.write(data)
        os.chown(p, *owner)
        os.chmod(p, mode)       # after chown, which clears setuid/setgid
        times.append(p)
        return p

    for n in (0, 1, 4095, 4096, 4097, 8192):
        reg("e-%d" % n, rbytes(n))
    reg("zeros-200k", bytes(200 * 1024))
    # sparse: 64 KiB-aligned holes, data in the middle and at the very end
    p = os.path.join(fx, "sparse-mid")
    with open(p, "wb") as f:
        f.write(rbytes(100))
        f.truncate(1024 * 1024 + 100)
        for off in (256 * 1024, 512 * 1024 + 1):
            f.seek(off)
            f.write(rbytes(3000))
        f.seek(1024 * 1024 + 90)
        f.write(rbytes(10))
    times.append(p)
    p = os.path.join(fx, "sparse-lead")      # starts with a hole
    with open(p, "wb") as f:
        f.truncate(3 * 65536 + 4097)
        f.seek(2 * 65536)
        f.write(rbytes(65536))
        f.seek(3 * 65536 + 4096)
        f.write(b"E")
    times.append(p)
    os.chmod(os.path.join(fx, "sparse-mid"), 0o644)
    os.chmod(p, 0o444)
    dup = rbytes(9000)
    for p in (fx, sub):
        reg("dup", dup, parent=p)
    reg("dup-sub", dup, parent=sub)
    # names: 255 bytes (ASCII and UTF-8), odd bytes
    reg("N" * 255, rbytes(10))
    reg("\u00e9" * 127 + "x", rbytes(20))
    for n in (" lead space", "-dash", ".hidden", "tab\there", "\u00fcn\u00efc\u00f6d\u00e9 \u6f22"):
        reg(n, rbytes(5))
    p = os.path.join(os.fsencode(fx), b"bad\xff\xfebyte")
    with open(p, "wb") as f:
        f.write(b"latin1")
    os.chmod(p, 0o644)
    times.append(os.fsdecode(p))
    # modes and owners
    reg("suid", rbytes(30), 0o4755, (100000, 100000))
    reg("sgid", rbytes(30), 0o2755, (2 ** 31 - 2, 2 ** 31 - 2))
    reg("mode0000", rbytes(30), 0o000, (65534, 65536))
    reg("mode0600", rbytes(30), 0o600, (1000, 1000))
    # xattrs
    p = reg("xattr-file", rbytes(50), 0o755, (0, 0))
    os.setxattr(p, "user.big", rbytes(3000))
    os.setxattr(p, "user.small", b"v")
    os.setxattr(p, "trusted.foo", b"bar")
    os.setxattr(p, "security.capability", CAP)     # after chown: it drops caps
    p = reg("xattr-empty", rbytes(7))
    os.setxattr(p, "user.empty", b"")
    os.setxattr(sub, "trusted.overlay.opaque", b"y")
    os.setxattr(sub, "user.dir", rbytes(100))
    os.setxattr(sticky, "trusted.overlay.origin", b"")
    # hard links: a group of 3 across directories, a group of 2
    a = reg("hl-a", rbytes(5000), 0o640, (123, 456))
    os.link(a, os.path.join(sub, "hl-b"))
    os.link(a, os.path.join(sticky, "hl-c"))
    b = reg("hl2-a", b"", 0o600)
    os.link(b, os.path.join(sub, "hl2-b"))
    # symlinks
    for name, target in (("sym-rel", "e-4096"), ("sym-up", "../zfix/sub/dup-sub"),
                         ("sym-abs", "/usr/bin/env"), ("sym-dangling", "no/such/file"),
                         ("sym-long", "/".join(["x" * 99] * 10))):
        p = os.path.join(fx, name)
        os.symlink(target, p)
        os.chown(p, 7, 8, follow_symlinks=False)
        times.append(p)
    os.setxattr(os.path.join(fx, "sym-abs"), "trusted.link", b"l",
                follow_symlinks=False)
    # devices, FIFO, socket
    # an overlayfs whiteout (0:0) lives in "sticky", which carries the empty
    # trusted.overlay.origin that mkfs.erofs adds to dirs holding whiteouts
    for name, kind, dev in (("sticky/chr-whiteout", stat.S_IFCHR, (0, 0)),
                            ("chr-big", stat.S_IFCHR, (300, 70000)),
                            ("chr-tty", stat.S_IFCHR, (4, 64)),
                            ("blk-minor", stat.S_IFBLK, (259, 300)),
                            ("blk-major", stat.S_IFBLK, (4000, 1))):
        p = os.path.join(fx, name)
        os.mknod(p, kind | 0o600, os.makedev(*dev))
        times.append(p)
    os.setxattr(os.path.join(fx, "chr-big"), "trusted.dev", b"d")
    p = os.path.join(fx, "fifo")
    os.mkfifo(p, 0o640)
    os.chown(p, 33, 33)
    times.append(p)
    cwd = os.getcwd()
    os.chdir(fx)                # sun_path is short: bind a relative name
    try:
        s = socket.socket(socket.AF_UNIX)
        s.bind("sock")
        s.close()
    finally:
        os.chdir(cwd)
    times.append(os.path.join(fx, "sock"))
    os.chown(sub, 100000, 2 ** 31 - 2)
    os.chmod(sticky, 0o1777)
    os.chmod(sub, 0o2755)
    os.chmod(fx, 0o755)

    # times: before 1970, ordinary, after 2038; nanoseconds
    choices = [-(10 ** 9) * 86400 * 365 - 1, -1, 0, 1700000000 * 10 ** 9 + 999999999,
               (2 ** 32 + 5) * 10 ** 9 + 1, 2 ** 31 * 10 ** 9, 1 * 10 ** 9 + 5]
    for i, p in enumerate(times):
        t = choices[i % len(choices)] + (rnd.randrange(10 ** 9) if i % 3 == 0 else 0)
        os.utime(p, ns=(t, t), follow_symlinks=False)
    for i, d in enumerate((sub, sticky, fx)):       # children first
        t = choices[(i * 2 + 1) % len(choices)] + i
        os.utime(d, ns=(t, t), follow_symlinks=False)


if __name__ == "__main__":
    main()
