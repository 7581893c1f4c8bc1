#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/.

Usage: fuzz/make-seeds.py [--mkimg PATH]

Seeds are small, deterministic files: OCI index/manifest/config variants,
layer tars of every entry type (ustar, GNU and PAX long names, PAX xattrs,
GNU and PAX sparse files, whiteouts, broken headers), layer blobs (plain,
gzip, zstd, with trailing bytes or cut short) under every stream mode, and
encoder programs (see fuzz/fuzz_encode.c). Layer records are the records a
store keeps for some of the tars (mkimg convert --store, zstd -d), written
only with --mkimg (a built mkimg); otherwise fuzz_record's seeds stay as
they are. Regenerating gives the same bytes (except GNU tar's sparse maps,
which depend on the file system holes; those two seeds are kept if present).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
MTIME = 1700000000


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------- OCI JSON
def oci_seeds():
    cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(b"m"), "size": 1234}
    idx = lambda ms: {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": ms}
    L = lambda mt, n=1: {"mediaType": mt, "digest": digest(mt.encode() + bytes([n])), "size": 100 + n}
    gz = "application/vnd.oci.image.layer.v1.tar+gzip"
    docs = {
        "index-one": idx([desc]),
        "index-tagged": idx([dict(desc, annotations={"org.opencontainers.image.ref.name": "v1"}),
                             dict(desc, digest=digest(b"n"),
                                  annotations={"org.opencontainers.image.ref.name": "latest"})]),
        "index-platforms": idx([dict(desc, platform={"os": "linux", "architecture": "amd64"}),
                                dict(desc, digest=digest(b"a"), platform={
                                    "os": "linux", "architecture": "arm64", "variant": "v8"}),
                                dict(desc, digest=digest(b"u"), platform={
                                    "os": "unknown", "architecture": "unknown"})]),
        "index-nested": idx([{"mediaType": "application/vnd.oci.image.index.v1+json",
                              "digest": digest(b"i"), "size": 300}]),
        "index-docker-list": {"schemaVersion": 2, "mediaType":
                              "application/vnd.docker.distribution.manifest.list.v2+json",
                              "manifests": [dict(desc, mediaType=
                                  "application/vnd.docker.distribution.manifest.v2+json")]},
        "index-bad-digest": idx([dict(desc, digest="sha256:ABC")]),
        "index-sha512": idx([dict(desc, digest="sha512:" + "0" * 128)]),
        "index-empty": idx([]),
        "index-negative-size": idx([dict(desc, size=-1)]),
        "manifest-gzip": {"schemaVersion": 2, "mediaType":
                          "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": digest(cfg), "size": len(cfg)},
                          "layers": [L(gz, 1), L(gz, 2)]},
        "manifest-mixed": {"schemaVersion": 2,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": digest(cfg), "size": len(cfg)},
                           "layers": [L("application/vnd.oci.image.layer.v1.tar"),
                                      L("application/vnd.oci.image.layer.v1.tar+zstd"),
                                      L("application/vnd.docker.image.rootfs.diff.tar.gzip")]},
        "manifest-foreign": {"schemaVersion": 2,
                             "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                        "digest": digest(cfg), "size": len(cfg)},
                             "layers": [L("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
                                        L("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
                                        L("application/vnd.oci.image.layer.v1.tar+gzip+encrypted")]},
        "manifest-no-layers": {"schemaVersion": 2,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": digest(cfg), "size": len(cfg)},
                               "layers": []},
        "manifest-v1": {"schemaVersion": 1, "fsLayers": [{"blobSum": digest(b"x")}]},
        # manifest and config in one document: the target parses the config
        # with the manifest's layers
        "manifest-and-config": {"schemaVersion": 2,
                                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                           "digest": digest(cfg), "size": len(cfg)},
                                "layers": [L(gz, 1), L(gz, 2)],
                                "os": "linux", "architecture": "arm", "variant": "v7",
                                "rootfs": {"type": "layers",
                                           "diff_ids": [digest(b"d1"), digest(b"d2")]}},
        "manifest-and-config-count": {"schemaVersion": 2,
                                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                                 "digest": digest(cfg), "size": len(cfg)},
                                      "layers": [L(gz, 1)],
                                      "rootfs": {"type": "layers",
                                                 "diff_ids": [digest(b"d1"), digest(b"d2")]}},
        "config-min": json.loads(cfg),
    }
    for name, d in docs.items():
        put("fuzz_oci_index", name + ".json", json.dumps(d, sort_keys=True).encode())
    put("fuzz_oci_index", "deep.json", b'{"manifests":' * 40 + b"[]" + b"}" * 40)
    put("fuzz_oci_index", "not-json.json", b'{"schemaVersion": 2, "manifests": [')
    put("fuzz_oci_index", "duplicate-keys.json",
        b'{"schemaVersion":2,"manifests":[],"manifests":[{"digest":"sha256:' + b"0" * 64 + b'","size":1}]}')


# ---------------------------------------------------------------- tars
def ti(name, typ=tarfile.REGTYPE, size=0, **kw):
    t = tarfile.TarInfo(name)
    t.type, t.size, t.mtime, t.mode = typ, size, MTIME, kw.pop("mode", 0o644)
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def mktar(entries, fmt=tarfile.GNU_FORMAT, pax=None):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt, pax_headers=pax) as tf:
        for e in entries:
            if isinstance(e, tuple):
                info, data = e
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(e)
    return b.getvalue()


def all_types():
    return [ti("d", tarfile.DIRTYPE, mode=0o755), (ti("d/f", uid=1000, gid=1000), b"hello\n"),
            ti("d/l", tarfile.SYMTYPE, linkname="f", mode=0o777),
            ti("d/h", tarfile.LNKTYPE, linkname="d/f"),
            ti("c", tarfile.CHRTYPE, devmajor=1, devminor=3),
            ti("b", tarfile.BLKTYPE, devmajor=8, devminor=1),
            ti("p", tarfile.FIFOTYPE), (ti("big"), bytes(range(256)) * 40)]


def gnu_sparse(fmt):
    """GNU tar's own sparse encodings (--format=gnu: old GNU sparse;
    --format=posix: PAX sparse 1.0), of a file with data, a hole, data."""
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s")
        with open(p, "wb") as f:
            f.write(b"A" * 5000)
            f.seek(200000)
            f.write(b"B" * 3000)
            f.truncate(300000)
        os.utime(p, (MTIME, MTIME))
        return subprocess.run(["tar", "-C", d, "-S", "--format=" + fmt, "--owner=0",
                               "--group=0", "--numeric-owner", "-cf", "-", "s"],
                              check=True, stdout=subprocess.PIPE).stdout


def tar_seeds():
    long = "dir-" + "x" * 120 + "/" + "y" * 130
    t = {
        "ustar-types.tar": mktar(all_types(), tarfile.USTAR_FORMAT),
        "gnu-types.tar": mktar(all_types(), tarfile.GNU_FORMAT),
        "pax-types.tar": mktar(all_types(), tarfile.PAX_FORMAT),
        "gnu-long.tar": mktar([(ti(long), b"long"), ti(long + "-l", tarfile.SYMTYPE, linkname="t" * 300),
                               ti("hl", tarfile.LNKTYPE, linkname=long)], tarfile.GNU_FORMAT),
        "pax-long.tar": mktar([(ti(long), b"long"), ti(long + "-l", tarfile.SYMTYPE, linkname="t" * 300),
                               ti("hl", tarfile.LNKTYPE, linkname=long)], tarfile.PAX_FORMAT),
        "pax-xattrs.tar": mktar([(ti("x", pax_headers={
            "SCHILY.xattr.user.a": "1", "SCHILY.xattr.user.empty": "",
            "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
            "SCHILY.xattr.trusted.overlay.opaque": "y",
            "LIBARCHIVE.xattr.user.b": "Yg=="}), b"x"),
            ti("xd", tarfile.DIRTYPE, mode=0o755, pax_headers={"SCHILY.xattr.user.dir": "v" * 1000})],
            tarfile.PAX_FORMAT),
        "pax-fields.tar": mktar([(ti("f", pax_headers={"mtime": "-12.75", "uid": "4000000000",
                                                       "gid": "70000", "uname": "u"}), b"f"),
                                 (ti("g", pax_headers={"path": "renamed/by/pax"}), b"g")],
                                tarfile.PAX_FORMAT, pax={"comment": "global header"}),
        "gnu-base256.tar": mktar([(ti("n", uid=2 ** 30, gid=2 ** 31, mtime=2 ** 40), b"n")],
                                 tarfile.GNU_FORMAT),
        "whiteouts.tar": mktar([ti("d", tarfile.DIRTYPE, mode=0o755), ti("d/.wh..wh..opq"),
                                ti("d/.wh.gone"), ti(".wh.top"), (ti("d/new"), b"new"),
                                ti(".wh.d"), ti("d", tarfile.DIRTYPE, mode=0o700)]),
        "paths.tar": mktar([ti("./", tarfile.DIRTYPE, mode=0o755), (ti("/abs/f"), b"a"),
                            (ti("./a/./b//c"), b"c"), (ti("a/x/../y"), b"y"),
                            ti("a/b", tarfile.SYMTYPE, linkname="/etc", mode=0o777),
                            (ti("a/b/through"), b"t")]),
        "escape.tar": mktar([(ti("../outside"), b"no")]),
        "replace.tar": mktar([(ti("p"), b"file"), ti("p", tarfile.DIRTYPE, mode=0o755),
                              (ti("p/q"), b"q"), ti("p", tarfile.SYMTYPE, linkname="q"),
                              (ti("p"), b"file again"), ti("h", tarfile.LNKTYPE, linkname="p"),
                              ti("h2", tarfile.LNKTYPE, linkname="missing"),
                              ti("h3", tarfile.LNKTYPE, linkname="h")]),
        "deep.tar": mktar([(ti("/".join("d%d" % i for i in range(60)) + "/f"), b"deep")]),
        "empty.tar": b"\0" * 1024,
        "zero-files.tar": mktar([(ti("e%d" % i), b"") for i in range(5)]),
        "gnu-sparse.tar": gnu_sparse("gnu"),
        "pax-sparse.tar": gnu_sparse("posix"),
    }
    base = t["gnu-types.tar"]
    t["no-end.tar"] = base[:len(base) - 1024 * 5][: (len(base) - 5120) // 512 * 512]
    t["cut.tar"] = base[:700]
    bad = bytearray(t["ustar-types.tar"])
    bad[148:156] = b"0000000\0"
    t["bad-checksum.tar"] = bytes(bad)
    t["trailing.tar"] = t["ustar-types.tar"] + b"garbage after the end" * 30
    return t


def stream_seeds(tars):
    plain = tars["gnu-types.tar"]
    gz = gzip.compress(plain, mtime=0)
    zs = subprocess.run(["zstd", "-q", "-c", "-3"], input=plain, check=True,
                        stdout=subprocess.PIPE).stdout
    zs_multi = zs + subprocess.run(["zstd", "-q", "-c", "-1"], input=b"second frame",
                                   check=True, stdout=subprocess.PIPE).stdout
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"skip" + zs
    blobs = {"plain": plain, "gzip": gz, "gzip-2members": gz + gzip.compress(b"more", mtime=0),
             "gzip-trailing": gz + b"\0" * 100, "gzip-cut": gz[: len(gz) // 2],
             "zstd": zs, "zstd-2frames": zs_multi, "zstd-skippable": skippable,
             "zstd-cut": zs[: len(zs) - 7], "empty": b"", "gzip-empty": gzip.compress(b"", mtime=0)}
    modes = {"detect": 0x00, "none": 0x01, "gzip": 0x02, "zstd": 0x03,
             "digest": 0x04 | 0x10 | 0x40, "wrong-digest": 0x08, "wrong-size": 0x20,
             "finish-only": 0x80 | 0x04}
    seeds = [("plain", "detect"), ("plain", "none"), ("plain", "digest"), ("gzip", "detect"),
             ("gzip", "gzip"), ("gzip", "digest"), ("gzip", "wrong-digest"), ("gzip", "finish-only"),
             ("gzip-2members", "detect"), ("gzip-trailing", "detect"), ("gzip-cut", "gzip"),
             ("gzip-empty", "gzip"), ("zstd", "detect"), ("zstd", "zstd"), ("zstd", "digest"),
             ("zstd", "wrong-size"), ("zstd-2frames", "detect"), ("zstd-skippable", "zstd"),
             ("zstd-cut", "detect"), ("empty", "detect"), ("plain", "gzip"), ("gzip", "zstd"),
             ("plain", "wrong-digest")]
    for blob, mode in seeds:
        m = modes[mode] | (0x04 if mode == "detect" and blob.startswith("gzip") else 0)
        put("fuzz_stream", "%s.%s" % (blob, mode), bytes([m]) + blobs[blob])


def apply_seeds(tars):
    picks = [("ustar-types.tar", 0x00), ("pax-types.tar", 0x01), ("gnu-types.tar", 0x04),
             ("pax-xattrs.tar", 0x00), ("pax-xattrs.tar", 0x01), ("whiteouts.tar", 0x00),
             ("whiteouts.tar", 0x01), ("whiteouts.tar", 0x04), ("paths.tar", 0x08),
             ("paths.tar", 0x0a), ("replace.tar", 0x00), ("replace.tar", 0x05),
             ("gnu-long.tar", 0x00), ("pax-long.tar", 0x11), ("gnu-sparse.tar", 0x00),
             ("pax-sparse.tar", 0x10), ("zero-files.tar", 0x04), ("deep.tar", 0x00),
             ("escape.tar", 0x00), ("trailing.tar", 0x00), ("gnu-base256.tar", 0x00),
             ("pax-fields.tar", 0x01)]
    for name, mode in picks:
        put("fuzz_apply", "%s.%02x" % (name[:-4], mode), bytes([mode]) + tars[name])


# ---------------------------------------------------------------- encoder programs
def nm(s):
    abc = "abcdefghijklmnopqrstuvwxyz0123456789._-"
    return bytes([len(s) - 1]) + bytes(abc.index(c) for c in s)


def enc_seeds():
    D = lambda n: bytes([0]) + nm(n)
    UP = bytes([1])
    F = lambda n, size, mult=0, hole=False, seed=0: bytes(
        [2 | mult << 3 | seed << 5 & 0x60 | (0x80 if hole else 0)]) + nm(n) + struct.pack("<H", size)
    S = lambda n, t: bytes([3]) + nm(n) + bytes([len(t) - 1]) + bytes(
        "abcdefghijklmnopqrstuvwxyz0123456789._-".index(c) for c in t)
    H = lambda n: bytes([4]) + nm(n)
    X = lambda ns, n, v, empty=False: bytes([5 | ns << 3 | (0x80 if empty else 0)]) + nm(n) + nm(v)
    SP = lambda kind, n, r: bytes([6 | kind << 4]) + nm(n) + bytes([r])
    A = lambda mode, uid, gid, mt: bytes([7, mode & 255, (mode >> 8) | uid, gid, mt])
    progs = {
        "empty": b"\0",
        "one-file": b"\0" + F("f", 5),
        "tails": b"\0" + F("a", 100) + F("b", 4095) + F("c", 4097) + F("d", 8191, 1),
        "tails-512": b"\1" + F("a", 100) + F("b", 511) + F("c", 513) + F("d", 60000, 3),
        "no-inline": b"\2" + F("a", 100) + F("b", 5000),
        "holes": b"\0" + F("h", 1000, hole=True) + F("z", 65535, 3, seed=1) + F("y", 0, hole=True),
        "tree": b"\0" + D("etc") + F("passwd", 900) + D("ssl") + F("cert", 3000) + UP + UP +
                D("usr") + D("bin") + F("sh", 40000, 1) + H("bash") + S("rsh", "sh") + UP + UP,
        "links": b"\0" + F("f", 10) + H("g") + H("h") + D("d") + H("i") + UP + H("f"),
        "symlinks": b"\0" + S("a", "b") + S("b", "a") + S("abs", "x" * 200) + S("dot", "."),
        "specials": b"\0" + SP(0, "fifo", 0) + SP(1, "blk", 0x81) + SP(2, "chr", 0xff) +
                    SP(3, "chr2", 1),
        "xattrs": b"\0" + F("f", 10) + X(0, "a", "1") + X(1, "t", "v" * 100) + X(2, "capability", "c") +
                  X(0, "empty", "x", True) + D("d") + X(1, "overlay.opaque", "y") + X(0, "a", "replaced"),
        "many-xattrs": b"\0" + F("f", 1) + b"".join(X(0, "k%03d" % i, "v" * 50) for i in range(60)),
        "fingerprint-name": b"\0" + F("f", 1) + X(0, "x", "y") + bytes([5 | 1 << 3]) + nm("fingerprint") + nm("z"),
        "attrs": b"\0" + F("f", 10) + A(0o4755, 0, 1, 200) + D("d") + A(0o1777, 1, 255, 0) +
                 S("l", "f") + A(0o777, 0, 0, 127),
        "fixed-time": b"\4" + F("f", 10) + A(0o644, 0, 0, 5) + D("d"),
        "dups": b"\0" + F("f", 10) + F("f", 20) + D("f") + D("d") + D("d") + UP + UP + UP,
        "dedup": b"\0" + F("a", 3000, seed=2) + F("b", 3000, seed=2) + F("c", 3000, seed=3),
        "deep": b"\0" + b"".join(D("d%d" % i) for i in range(40)) + F("f", 1),
        "wide": b"\0" + b"".join(F("f%03d" % i, i * 7) for i in range(200)),
        "long-names": b"\0" + D("d" * 32) + F("f" * 32, 1) + S("s" * 32, "t" * 255),
        "truncated": b"\0" + F("f", 10)[:-1],
    }
    for name, p in progs.items():
        put("fuzz_encode", name, p)


# ---------------------------------------------------------------- records
def record_seeds(mkimg, tars):
    picks = ["ustar-types.tar", "pax-types.tar", "pax-long.tar", "pax-xattrs.tar", "whiteouts.tar", "gnu-long.tar", "replace.tar",
             "gnu-sparse.tar", "zero-files.tar", "paths.tar", "pax-fields.tar", "deep.tar",
             "gnu-base256.tar"]
    with tempfile.TemporaryDirectory() as d:
        for name in picks:
            store, layer = os.path.join(d, "store-" + name), os.path.join(d, name)
            with open(layer, "wb") as f:
                f.write(tars[name])
            r = subprocess.run([mkimg, "convert", "-q", "--store", store, "--name", "x", layer],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode:
                print("make-seeds: %s: %s" % (name, r.stderr.decode().strip()), file=sys.stderr)
                continue
            ldir = os.path.join(store, "layers")
            for rec in sorted(r for r in os.listdir(ldir) if not r.startswith(".")):
                out = subprocess.run(["zstd", "-q", "-d", "-c", os.path.join(ldir, rec)],
                                     check=True, stdout=subprocess.PIPE).stdout
                put("fuzz_record", name[:-4] + ".rec", out)


# ---------------------------------------------------------------- archives
def archive_seeds():
    """oci-archive and docker-archive tars, good and hostile (fuzz_archive)."""
    def tar_of(members, fmt=tarfile.USTAR_FORMAT):
        b = io.BytesIO()
        with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
            for name, data, typ, link in members:
                i = ti(name, typ, len(data) if data is not None else 0)
                if link:
                    i.linkname = link
                t.addfile(i, io.BytesIO(data) if data else None)
        return b.getvalue()

    R, D, S = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE
    layer = tar_of([("hello", b"hello world\n", R, None)])
    ld = digest(layer)
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [ld]}}, sort_keys=True).encode()
    man = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": digest(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                  "digest": ld, "size": len(layer)}]}, sort_keys=True).encode()
    idx = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(man),
         "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]},
        sort_keys=True).encode()
    blob = lambda d: "blobs/sha256/" + digest(d)[7:]
    oci = [("./", None, D, None), ("./oci-layout", b'{"imageLayoutVersion":"1.0.0"}', R, None),
           ("./index.json", idx, R, None), ("./blobs/", None, D, None),
           ("./blobs/sha256/", None, D, None), ("./" + blob(man), man, R, None),
           ("./" + blob(cfg), cfg, R, None), ("./" + blob(layer), layer, R, None)]
    put("fuzz_archive", "oci.tar", tar_of(oci))
    put("fuzz_archive", "empty.tar", b"")
    put("fuzz_archive", "oci-pax.tar", tar_of(oci, tarfile.PAX_FORMAT))
    put("fuzz_archive", "oci-gnu.tar", tar_of(oci, tarfile.GNU_FORMAT))
    put("fuzz_archive", "oci-layer-symlink.tar",
        tar_of(oci[:-1] + [("./" + blob(layer), None, S, "/etc/passwd")]))
    put("fuzz_archive", "oci-layer-missing.tar", tar_of(oci[:-1]))
    put("fuzz_archive", "oci-duplicate.tar", tar_of(oci + [("index.json", b"{}", R, None)]))
    put("fuzz_archive", "oci-dotdot.tar", tar_of(oci + [("../index.json", b"{}", R, None)]))
    good = tar_of(oci)
    put("fuzz_archive", "oci-truncated.tar", good[:good.rfind(b"hello world") + 5])
    big = bytearray(tar_of([("index.json", b"{}", R, None)]))
    big[124:136] = b"77777777777\0"
    big[148:156] = b"        "
    big[148:156] = b"%06o\0 " % sum(big[:512])
    put("fuzz_archive", "size-past-eof.tar", bytes(big))
    dman = json.dumps([{"Config": digest(cfg)[7:] + ".json", "RepoTags": ["docker.io/library/x:latest"],
                        "Layers": ["abc/layer.tar"]}]).encode()
    docker = [(digest(cfg)[7:] + ".json", cfg, R, None), ("abc/", None, D, None),
              ("abc/layer.tar", layer, R, None), ("manifest.json", dman, R, None)]
    put("fuzz_archive", "docker.tar", tar_of(docker))
    gl = gzip.compress(layer, mtime=0)
    dman2 = json.dumps([{"Config": blob(cfg), "RepoTags": None, "Layers": [blob(gl)]}]).encode()
    put("fuzz_archive", "docker-blobs-gzip.tar",
        tar_of([(blob(cfg), cfg, R, None), (blob(gl), gl, R, None),
                ("manifest.json", dman2, R, None)]))
    put("fuzz_archive", "docker-two.tar",
        tar_of(docker[:-1] + [("manifest.json", dman[:-1] + b"," + dman[1:], R, None)]))
    put("fuzz_archive", "docker-link.tar",
        tar_of(docker[:2] + [("abc/layer.tar", None, S, "../x.tar"),
                             ("manifest.json", dman, R, None)]))


# ---------------------------------------------------------------- tags
def tag_seeds():
    """OCI reference names, valid and not (fuzz_tag)."""
    for name, tag in (("plain", b"latest"), ("separators", b"py-1.2_rc--3"),
                      ("path", b"org/app:v1@x+y"), ("bad-double-slash", b"a//b"),
                      ("bad-start", b"-x"), ("bad-space", b"a b")):
        put("fuzz_tag", name, tag)


# ---------------------------------------------------------------- registry
def registry_seeds():
    """References, challenges, auth files, tokens (fuzz_registry)."""
    refs = [b"oci:/tmp/lay:a", b"docker://127.0.0.1:5000/mk/img:1",
            b"docker://debian:12", b"docker://reg.example/a/b@sha256:" + b"a" * 64,
            b"docker://localhost/UPPER", b"docker://h:1/x:bad!tag"]
    for i, r in enumerate(refs):
        put("fuzz_registry", f"ref-{i}", b"\0" + r)
    chals = [b'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"',
             b'Basic realm="registry"', b'Negotiate, Bearer realm="x\\"y"',
             b'Bearer service="no realm"', b'Bearer realm="unterminated']
    for i, c in enumerate(chals):
        put("fuzz_registry", f"challenge-{i}", b"\1" + c)
    put("fuzz_registry", "auth-file",
        b"\2" + json.dumps({"auths": {"127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"}}}).encode())
    put("fuzz_registry", "auth-file-bad-base64",
        b"\2" + json.dumps({"auths": {"https://127.0.0.1:5000": {"auth": "!!!="}}}).encode())
    put("fuzz_registry", "token", b"\3" + b'{"token":"abc.def.ghi","expires_in":300}')
    put("fuzz_registry", "token-access", b"\3" + b'{"access_token":"a b"}')


# ---------------------------------------------------------------- artifacts
def artifact_seeds():
    """mkimg artifacts: manifest, NUL, config (fuzz_artifact)."""
    d = lambda c: "sha256:" + c * 64
    def desc(mt, dg, size, **kw):
        return dict(mediaType=mt, digest=dg, size=size, **kw)
    devs = [(d("b"), 1048576), (d("c"), 512)]
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "artifactType": "application/vnd.mkimg.image.v1",
           "config": desc("application/vnd.mkimg.image.config.v1+json", d("1"), 300),
           "layers": [desc("application/vnd.mkimg.erofs.metadata.v1", d("a"), 4096)] +
                     [desc("application/vnd.mkimg.erofs.blob.v1", g, n,
                           annotations={"io.mkimg.device": str(i + 1)})
                      for i, (g, n) in enumerate(devs)],
           "annotations": {"io.mkimg.artifact.version": "1", "io.mkimg.block-size": "512"}}
    cfg = {"mkimgArtifact": 1, "image": d("a"), "blockSize": 512, "fingerprints": "sha256",
           "layout": "erofs-chunked", "devices": [{"digest": g, "size": n} for g, n in devs],
           "diffIds": [d("e"), d("f")], "source": "oci:/x", "files": 3, "dataBytes": 1000}
    def put_pair(name, m, c):
        put("fuzz_artifact", name, json.dumps(m).encode() + b"\0" + json.dumps(c).encode())
    put_pair("good", man, cfg)
    put_pair("no-devices", dict(man, layers=man["layers"][:1]), dict(cfg, devices=[]))
    put_pair("version-2", dict(man, annotations={"io.mkimg.artifact.version": "2"}), cfg)
    put_pair("not-mkimg", dict(man, artifactType="application/x"), cfg)
    put_pair("device-mismatch", man, dict(cfg, devices=cfg["devices"][::-1]))
    put_pair("other-image", man, dict(cfg, image=d("9")))
    put_pair("block-size-3", man, dict(cfg, blockSize=3))
    put_pair("bad-diff-id", man, dict(cfg, diffIds=["sha256:xyz"]))
    put("fuzz_artifact", "manifest-only", json.dumps(man).encode())
    rec = lambda c, did: desc("application/vnd.mkimg.layer-record.v1+zstd", d(c), 200,
                              annotations={"io.mkimg.diff-id": did})
    put_pair("records", dict(man, layers=man["layers"] + [rec("7", d("e")), rec("8", d("f"))]), cfg)
    put_pair("record-of-no-layer", dict(man, layers=man["layers"] + [rec("7", d("9"))]), cfg)
    put_pair("extra-files", dict(man, layers=man["layers"] + [rec("7", d("e"))]),
             dict(cfg, extraFiles=[{"sha256": "1" * 64, "size": 5000, "extents": [[1, 0, 3, 10]]},
                                   {"sha256": "2" * 64, "size": 1, "extents": [[2, 0, 0, 1], [9, 1, 1, 1]]}]))
    put_pair("blob-after-record", dict(man, layers=[man["layers"][0], rec("7", d("e"))] +
                                        man["layers"][1:]), cfg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mkimg", help="a built mkimg, to write the layer record seeds")
    a = ap.parse_args()
    oci_seeds()
    archive_seeds()
    tag_seeds()
    artifact_seeds()
    registry_seeds()
    tars = tar_seeds()
    for name, data in tars.items():
        if name.endswith("sparse.tar") and os.path.exists(os.path.join(CORPUS, "fuzz_tar_entry", name)):
            with open(os.path.join(CORPUS, "fuzz_tar_entry", name), "rb") as f:
                tars[name] = f.read()
            continue
        put("fuzz_tar_entry", name, data)
    stream_seeds(tars)
    apply_seeds(tars)
    enc_seeds()
    if a.mkimg:
        record_seeds(a.mkimg, tars)


if __name__ == "__main__":
    main()
