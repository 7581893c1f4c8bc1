#!/usr/bin/env python3
"""Compares two directory trees entry by entry, without following symlinks:
type, mode (all 12 permission bits), uid, gid, size, content, mtime with
nanoseconds, symlink target, rdev, xattrs (security.selinux ignored) and
hard-link groups (the partition of non-directories by inode, and nlink).

usage: treecmp.py [--extracted] [--ignore-root-mtime] [--no-xattrs]
                  [--skip-names PATTERN]... A B

--overlay: B is an overlayfs mount: hard-link groups, link counts and
  trusted.overlay.* xattrs are not compared.
--skip-names PATTERN: entries whose name (last path component) matches the
  shell pattern PATTERN are left out on both sides, directories with all
  they hold (repeatable).

--extracted: B was written by `fsck.erofs --extract`, which does not restore
  hard links (each name is a separate file), symlink mtimes, the mtime of
  the extraction root, or security.capability (it sets xattrs before the
  chown that makes the kernel drop file capabilities), or the xattrs of
  an entry that has one with an empty value (fsck.erofs 1.9.4: "failed to
  get xattr value size", then it skips that entry's remaining xattrs, exit
  status 0 all the same), or the size of a file whose end is a hole (it
  does not extend the file to its size; chunk-based all-zero files come
  out empty): those are not compared (the content before is).
Exit 0 and "treecmp: N entries equal" when equal; else one line per
difference (at most 50) and exit 1.
"""
import fnmatch
import hashlib
import os
import stat
import sys

IGNORED_XATTRS = {"security.selinux"}


PIECE = 1 << 16
ZERO_PIECE = bytes(PIECE)


_BUF = bytearray(1 << 22)
_MV = memoryview(_BUF)


def content_digest(path, size):
    """A digest of the content that does not depend on how zeros are
    stored: all-zero 64 KiB pieces (at fixed offsets) are skipped, the others
    hashed with their offset. Holes are skipped with SEEK_DATA/SEEK_HOLE
    where the filesystem reports them, so 4 GiB sparse files take seconds."""
    h = hashlib.sha256()
    buf, mv = _BUF, _MV
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        off = 0
        while off < size:
            try:
                data = min(os.lseek(fd, off, os.SEEK_DATA), size)
            except OSError:
                data = size
            if data >= size:
                break
            try:
                hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
            except OSError:
                hole = size
            if hole <= data:
                hole = size
            # whole pieces around [data, hole)
            start = max(off, data - data % PIECE)
            end = min(size, -(-hole // PIECE) * PIECE)
            pos = start
            while pos < end:
                want = min(end - pos, len(buf))
                n = os.preadv(fd, [mv[:want]], pos)
                if n <= 0:
                    raise OSError("short read on %s" % path)
                for i in range(0, n, PIECE):
                    j = min(i + PIECE, n)
                    if buf.count(0, i, j) != j - i:
                        h.update(b"%d:" % (pos + i))
                        h.update(mv[i:j])
                pos += n
            off = end
    h.update(b"size:%d" % size)
    return h.hexdigest()


def zero_from(path, off, size):
    """Whether bytes [off, size) of path are all zero (holes or written)."""
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        while off < size:
            try:
                off = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                return True         # ENXIO: only a hole up to the end
            if off >= size:
                return True
            n = os.preadv(fd, [_MV[:min(size - off, len(_BUF))]], off)
            if n <= 0:
                raise OSError("short read on %s" % path)
            if _BUF.count(0, 0, n) != n:
                return False
            off += n
    return True


def xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in names:
        if n in IGNORED_XATTRS:
            continue
        out[n] = os.getxattr(path, n, follow_symlinks=False)
    return out


def scan(root, want_xattrs, skip=()):
    entries = {}

    def skipped(n):
        return any(fnmatch.fnmatchcase(n, pat) for pat in skip)

    def onerror(e):
        raise e

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        if skip:
            dirnames[:] = [n for n in dirnames if not skipped(n)]
            filenames = [n for n in filenames if not skipped(n)]
        names = dirnames + filenames
        if dirpath == root:
            names = names + ["."]
        for n in names:
            p = os.path.join(dirpath, n) if n != "." else root
            rel = os.path.relpath(p, root) if n != "." else "."
            st = os.lstat(p)
            e = {"st": st}
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            if want_xattrs:
                e["xattrs"] = xattrs(p)
            entries[rel] = e
    return entries


def main():
    args = sys.argv[1:]
    flags, skip, paths = set(), [], []
    i = 0
    while i < len(args):
        if args[i] == "--skip-names" and i + 1 < len(args):
            skip.append(args[i + 1])
            i += 2
            continue
        if args[i].startswith("--skip-names="):
            skip.append(args[i].split("=", 1)[1])
        elif args[i] in ("--extracted", "--ignore-root-mtime", "--no-xattrs", "--overlay"):
            flags.add(args[i])
        elif args[i].startswith("-") and args[i] != "-":
            sys.exit("treecmp: unknown option %s\n%s" % (args[i], __doc__))
        else:
            paths.append(args[i])
        i += 1
    extracted = "--extracted" in flags
    # B is an overlayfs mount: inode numbers, st_dev and link counts are the
    # overlay's own, and trusted.overlay.* is overlayfs metadata
    overlay = "--overlay" in flags
    ignore_root_mtime = "--ignore-root-mtime" in flags or extracted
    want_xattrs = "--no-xattrs" not in flags
    if len(paths) != 2:
        sys.exit(__doc__)
    a_root, b_root = paths
    for r in paths:
        if not os.path.isdir(r):
            sys.exit("treecmp: %s is not a directory" % r)
    a = scan(a_root, want_xattrs, skip)
    b = scan(b_root, want_xattrs, skip)
    diffs = []

    def short(v):
        r = repr(v)
        return r if len(r) <= 160 else r[:150] + "...(%d chars)" % len(r)

    def diff(path, what, x, y):
        diffs.append("%s: %s: %s != %s" % (path, what, short(x), short(y)))

    for p in sorted(set(a) | set(b)):
        if p not in a:
            diff(p, "only in B", None, p)
            continue
        if p not in b:
            diff(p, "only in A", p, None)
            continue
        sa, sb = a[p]["st"], b[p]["st"]
        if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
            diff(p, "type", oct(stat.S_IFMT(sa.st_mode)), oct(stat.S_IFMT(sb.st_mode)))
            continue
        islnk = stat.S_ISLNK(sa.st_mode)
        if not islnk and stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
            diff(p, "mode", oct(stat.S_IMODE(sa.st_mode)), oct(stat.S_IMODE(sb.st_mode)))
        if (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
            diff(p, "owner", (sa.st_uid, sa.st_gid), (sb.st_uid, sb.st_gid))
        skip_mtime = (p == "." and ignore_root_mtime) or (extracted and islnk)
        if not skip_mtime and sa.st_mtime_ns != sb.st_mtime_ns:
            diff(p, "mtime_ns", sa.st_mtime_ns, sb.st_mtime_ns)
        if stat.S_ISREG(sa.st_mode):
            pa, pb = os.path.join(a_root, p), os.path.join(b_root, p)
            if extracted and sb.st_size < sa.st_size and \
                    zero_from(pa, sb.st_size, sa.st_size):
                # fsck.erofs 1.9.4 --extract does not extend a file whose
                # end is a hole (chunk-based all-zero files come out empty)
                if content_digest(pa, sb.st_size) != content_digest(pb, sb.st_size):
                    diff(p, "content", "sha256 A", "sha256 B")
            elif sa.st_size != sb.st_size:
                diff(p, "size", sa.st_size, sb.st_size)
            elif content_digest(os.path.join(a_root, p), sa.st_size) != \
                    content_digest(os.path.join(b_root, p), sb.st_size):
                diff(p, "content", "sha256 A", "sha256 B")
        if islnk and a[p]["target"] != b[p]["target"]:
            diff(p, "symlink target", a[p]["target"], b[p]["target"])
        if (stat.S_ISCHR(sa.st_mode) or stat.S_ISBLK(sa.st_mode)) and sa.st_rdev != sb.st_rdev:
            diff(p, "rdev", (os.major(sa.st_rdev), os.minor(sa.st_rdev)),
                 (os.major(sb.st_rdev), os.minor(sb.st_rdev)))
        if want_xattrs:
            xa, xb = dict(a[p]["xattrs"]), dict(b[p]["xattrs"])
            if overlay:
                xa = {k: v for k, v in xa.items() if not k.startswith("trusted.overlay.")}
                xb = {k: v for k, v in xb.items() if not k.startswith("trusted.overlay.")}
            if extracted:
                for x in (xa, xb):
                    x.pop("security.capability", None)
                if any(not v for v in xa.values()):
                    xa = xb = None
            if xa != xb:
                diff(p, "xattrs", xa, xb)

    if not extracted and not overlay:
        # hard-link groups: same partition of non-directories by inode
        def groups(entries):
            g = {}
            for p, e in entries.items():
                st = e["st"]
                if not stat.S_ISDIR(st.st_mode):
                    g.setdefault((st.st_dev, st.st_ino), []).append(p)
            out = {}
            for v in g.values():
                key = tuple(sorted(v))      # once per group, not per member
                for p in v:
                    out[p] = key
            return out
        ga, gb = groups(a), groups(b)
        checked = set()
        for p in sorted(ga):
            key = ga[p]
            # one check per group: if a member's group in B is the same
            # set of names, so is every other member's
            if id(key) not in checked and p in gb:
                checked.add(id(key))
                if key != gb[p]:
                    diff(p, "hard-link group", key, gb[p])
            if p in b and a[p]["st"].st_nlink != b[p]["st"].st_nlink:
                diff(p, "nlink", a[p]["st"].st_nlink, b[p]["st"].st_nlink)

    for d in diffs[:50]:
        print(d)
    if len(diffs) > 50:
        print("... %d more differences" % (len(diffs) - 50))
    if diffs:
        sys.exit(1)
    print("treecmp: %d entries equal" % len(a))


if __name__ == "__main__":
    main()
