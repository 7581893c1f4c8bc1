#!/usr/bin/env python3
"""Prints the inline xattrs of one inode of an EROFS image, hidden ones
(long prefixes with base index 0, like erofs.fingerprint.v1) included, which
neither listxattr nor dump.erofs show. Used to compare mkimg's fingerprints
with mkfs.erofs --xattr-inode-digest's.

usage: erofs_xattrs.py IMAGE PATH      -> lines "NAME HEXVALUE"
"""
import struct
import sys

SHORT = {1: "user.", 2: "system.posix_acl_access", 3: "system.posix_acl_default",
         4: "trusted.", 6: "security.", 0: ""}


class Image:
    def __init__(self, path):
        self.f = open(path, "rb")
        sb = self.read(1024, 128)
        magic, = struct.unpack_from("<I", sb, 0)
        if magic != 0xE0F5E1E2:
            raise SystemExit("not an EROFS image")
        self.blkbits = sb[12]
        self.bs = 1 << self.blkbits
        self.root, = struct.unpack_from("<H", sb, 14)
        self.meta, = struct.unpack_from("<I", sb, 40)
        self.pfx_count = sb[91]
        pfx_start, = struct.unpack_from("<I", sb, 92)
        self.prefixes = []
        off = pfx_start * 4
        for _ in range(self.pfx_count):
            off = (off + 3) & ~3
            ln, = struct.unpack("<H", self.read(off, 2))
            data = self.read(off + 2, ln)
            self.prefixes.append(SHORT.get(data[0], "?") + data[1:].decode())
            off += 2 + ln

    def read(self, off, n):
        self.f.seek(off)
        return self.f.read(n)

    def inode(self, nid):
        pos = self.meta * self.bs + nid * 32
        fmt, icount, mode = struct.unpack("<HHH", self.read(pos, 6))
        ext = fmt & 1
        layout = (fmt >> 1) & 7
        if ext:
            raw = self.read(pos, 64)
            size, = struct.unpack_from("<Q", raw, 8)
            iu, = struct.unpack_from("<I", raw, 16)
            isz = 64
        else:
            raw = self.read(pos, 32)
            size, iu = struct.unpack_from("<I", raw, 8)[0], struct.unpack_from("<I", raw, 16)[0]
            isz = 32
        xsz = 12 + 4 * (icount - 1) if icount else 0
        return dict(pos=pos, mode=mode, size=size, iu=iu, layout=layout, isz=isz, xsz=xsz)

    def data(self, ino):
        size, bs = ino["size"], self.bs
        if ino["layout"] == 0:
            return self.read(ino["iu"] * bs, size)
        if ino["layout"] == 2:
            full = size // bs * bs
            head = self.read(ino["iu"] * bs, full) if full else b""
            return head + self.read(ino["pos"] + ino["isz"] + ino["xsz"], size - full)
        raise SystemExit("unsupported layout %d for a directory" % ino["layout"])

    def lookup(self, path):
        nid = self.root
        for comp in [c for c in path.split("/") if c]:
            d = self.data(self.inode(nid))
            found = None
            for b in range(0, len(d), self.bs):
                blk = d[b:b + self.bs]
                n = struct.unpack_from("<H", blk, 8)[0] // 12
                for i in range(n):
                    enid, noff = struct.unpack_from("<QH", blk, i * 12)
                    end = struct.unpack_from("<H", blk, (i + 1) * 12 + 8)[0] if i + 1 < n else len(blk)
                    name = blk[noff:end].rstrip(b"\0")
                    if name == comp.encode():
                        found = enid
            if found is None:
                raise SystemExit("%s: not found" % path)
            nid = found
        return self.inode(nid)

    def xattrs(self, ino):
        if not ino["xsz"]:
            return []
        body = self.read(ino["pos"] + ino["isz"], ino["xsz"])
        shared = body[4]
        off = 12 + 4 * shared
        out = []
        while off + 4 <= len(body):
            nlen, idx, vlen = struct.unpack_from("<BBH", body, off)
            name = body[off + 4:off + 4 + nlen].decode()
            val = body[off + 4 + nlen:off + 4 + nlen + vlen]
            pre = self.prefixes[idx & 0x7f] if idx & 0x80 else SHORT.get(idx, "?")
            out.append((pre + name, val))
            off += (4 + nlen + vlen + 3) & ~3
        return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    img = Image(sys.argv[1])
    for name, val in img.xattrs(img.lookup(sys.argv[2])):
        print(name, val.hex())


if __name__ == "__main__":
    main()
