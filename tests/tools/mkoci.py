#!/usr/bin/env python3
"""Build OCI image layouts (and plain layer files) for the mkimg tests.

Usage:
  mkoci.py SPEC.json OUTDIR                 write an OCI image layout
  mkoci.py --zstd-as-gzip SPEC.json OUTDIR  the same, zstd layers gzipped (for
                                            umoci 0.4, which cannot read zstd)
  mkoci.py --layer LAYER.json OUTFILE       write one layer file
  mkoci.py --export-layers SPEC.json TAG DIR
                                            write the layers of image TAG as
                                            DIR/layer-NNN.tar[.gz|.zst]
  mkoci.py --hostile-layer KIND OUTFILE [--compression C]
                                            write one of the built-in hostile
                                            layers (see HOSTILE_LAYERS)

A spec (JSON) is {"images": [IMAGE, ...]}.  An IMAGE is
  {"tag": "name", "layers": [LAYER, ...],
   "os": "linux", "architecture": "amd64", "variant": null,
   "broken": {...}}                       (optional, see BROKEN below)
A LAYER is {"compression": "gzip" | "zstd" | "none", "entries": [ENTRY, ...]}
or {"raw_b64": "..."} / {"hostile": KIND} for handcrafted tar streams.
An ENTRY is
  {"path": "a/b", "type": "file" | "dir" | "symlink" | "hardlink" | "chr" |
                          "blk" | "fifo" | "whiteout" | "opaque",
   "mode": 0o644 (int, or a string "0644"), "uid": 0, "gid": 0,
   "uname": "", "gname": "",
   "mtime": 1700000000 | 1700000000.5 | "1700000000.123456789",
   "content": "text" | "content_b64": "..." |
   "size": N with "fill": "zero" | "pattern" | "random" (+ "seed") and
             optional "runs": [[offset, length], ...] (data runs, zeros elsewhere),
   "target": "link target (symlink/hardlink)",
   "major": 1, "minor": 3,
   "xattrs": {"user.x": "text" or {"b64": "..."} or {"hex": "..."}}}
"whiteout" writes DIR/.wh.NAME for path DIR/NAME, "opaque" writes
PATH/.wh..wh..opq; both are plain empty regular files, as in OCI layers.
A fractional mtime is written with full precision in a pax "mtime" record.

BROKEN (image-level options for hostile tests):
  "layer_digest": true     a layer's blob is stored under a digest that is not
                           the sha256 of its content
  "diff_id": true          the config's rootfs.diff_ids[0] is wrong
  "truncate_layer": true   the (compressed) last layer is cut in half; the
                           blob digest matches the truncated bytes
  "index_not_json": true   index.json is not JSON
  "many_layers": N         the manifest lists N layers (one tiny blob repeated)
  "missing_blob": true     a layer blob is absent
"""

import base64
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile

DEFAULT_MTIME = 1700000000
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def _mode(v, default):
    if v is None:
        return default
    if isinstance(v, str):
        return int(v, 8)
    return int(v)


def _bytes(v):
    """An xattr value: str (UTF-8), {"b64": ...} or {"hex": ...}."""
    if isinstance(v, dict):
        if "b64" in v:
            return base64.b64decode(v["b64"])
        return bytes.fromhex(v["hex"])
    return v.encode()


def file_data(e):
    if "content" in e:
        return e["content"].encode()
    if "content_b64" in e:
        return base64.b64decode(e["content_b64"])
    size = int(e.get("size", 0))
    fill = e.get("fill", "zero")
    rng = random.Random(e.get("seed", e.get("path", "")))
    runs = e.get("runs")
    if runs is not None:
        buf = bytearray(size)
        for off, length in runs:
            length = min(length, size - off)
            buf[off:off + length] = rng.randbytes(length)
        return bytes(buf)
    if fill == "zero":
        return bytes(size)
    if fill == "pattern":
        pat = b"mkimg-test-pattern\n"
        return (pat * (size // len(pat) + 1))[:size]
    return rng.randbytes(size)


def _split_mtime(m):
    """Return (integer seconds, exact pax string or None)."""
    if m is None:
        return DEFAULT_MTIME, None
    if isinstance(m, str):
        if "." in m:
            return int(m.split(".")[0]), m
        return int(m), None
    if isinstance(m, float) and not m.is_integer():
        return int(m), repr(m)
    return int(m), None


def tar_entries(entries):
    """Uncompressed pax tar bytes for a list of entries."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            t = e.get("type", "file")
            path = e["path"]
            data = None
            if t == "whiteout":
                d, _, base = path.rpartition("/")
                path = (d + "/" if d else "") + ".wh." + base
                t = "file"
                e = dict(e, content="")
            elif t == "opaque":
                path = path.rstrip("/") + "/.wh..wh..opq"
                t = "file"
                e = dict(e, content="")
            ti = tarfile.TarInfo(path)
            ti.uid = int(e.get("uid", 0))
            ti.gid = int(e.get("gid", 0))
            ti.uname = e.get("uname", "")
            ti.gname = e.get("gname", "")
            ti.mtime, exact = _split_mtime(e.get("mtime"))
            pax = {}
            if exact is not None:
                pax["mtime"] = exact
            for k, v in (e.get("xattrs") or {}).items():
                pax["SCHILY.xattr." + k] = _bytes(v).decode("utf-8", "surrogateescape")
            ti.pax_headers = pax
            if t == "file":
                ti.type = tarfile.REGTYPE
                ti.mode = _mode(e.get("mode"), 0o644)
                data = file_data(e)
                ti.size = len(data)
            elif t == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = _mode(e.get("mode"), 0o755)
            elif t == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.mode = _mode(e.get("mode"), 0o777)
                ti.linkname = e["target"]
            elif t == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.mode = _mode(e.get("mode"), 0o644)
                ti.linkname = e["target"]
            elif t in ("chr", "blk"):
                ti.type = tarfile.CHRTYPE if t == "chr" else tarfile.BLKTYPE
                ti.mode = _mode(e.get("mode"), 0o644)
                ti.devmajor = int(e.get("major", 0))
                ti.devminor = int(e.get("minor", 0))
            elif t == "fifo":
                ti.type = tarfile.FIFOTYPE
                ti.mode = _mode(e.get("mode"), 0o644)
            else:
                raise ValueError("unknown entry type %r" % t)
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()


# --- handcrafted hostile tar streams ----------------------------------------

def _ustar_header(name, size, typeflag, linkname=b"", mode=0o644, bad_checksum=False):
    """One raw 512-byte ustar header (name/linkname are bytes)."""
    h = bytearray(512)
    h[0:len(name[:100])] = name[:100]
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"%07o\0" % 0
    h[116:124] = b"%07o\0" % 0
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % DEFAULT_MTIME
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:157 + len(linkname[:100])] = linkname[:100]
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    csum = sum(h)
    if bad_checksum:
        csum ^= 0o1234
    h[148:156] = b"%06o\0 " % csum
    return bytes(h)


def hostile_tar(kind):
    """Uncompressed tar bytes for a named hostile layer."""
    if kind == "dotdot":
        return tar_entries([{"path": "../x", "content": "escaped\n"}])
    if kind == "dotdot-deep":
        return tar_entries([{"path": "a/../../x", "content": "escaped\n"}])
    if kind == "absolute":
        return tar_entries([{"path": "/abs/x", "content": "absolute\n"}])
    if kind == "symlink-escape":
        return tar_entries([
            {"path": "a", "type": "symlink", "target": "/etc"},
            {"path": "a/passwd", "content": "pwned::0:0::/:/bin/sh\n"},
        ])
    if kind == "symlink-escape-rel":
        return tar_entries([
            {"path": "a", "type": "symlink", "target": "../../../../../../etc"},
            {"path": "a/passwd", "content": "pwned::0:0::/:/bin/sh\n"},
        ])
    if kind == "hardlink-missing":
        return tar_entries([
            {"path": "f", "content": "x\n"},
            {"path": "l", "type": "hardlink", "target": "nonexistent"},
        ])
    if kind == "hardlink-escape":
        return tar_entries([
            {"path": "l", "type": "hardlink", "target": "../../etc/passwd"},
        ])
    if kind == "hardlink-absolute":
        return tar_entries([
            {"path": "l", "type": "hardlink", "target": "/etc/passwd"},
        ])
    if kind == "long-name":
        return tar_entries([{"path": "n" * 10000, "content": "long\n"}])
    if kind == "pax-1g":
        # A pax extended header whose size field claims 1 GiB, then a few
        # bytes of records and the end of the stream.
        hdr = _ustar_header(b"././@PaxHeader", 1 << 30, b"x")
        return hdr + b"30 path=aaaaaaaaaaaaaaaaaaaaa\n" + bytes(100)
    if kind == "bad-checksum":
        good = tar_entries([{"path": "f", "content": "hello\n"}])
        hdr = _ustar_header(b"f", 6, b"0", bad_checksum=True)
        return hdr + good[512:]
    if kind == "bad-checksum-2nd":
        first = tar_entries([{"path": "ok", "content": "ok\n"}])
        first = first[:-1024]           # drop the end-of-archive blocks
        hdr = _ustar_header(b"g", 6, b"0", bad_checksum=True)
        return first + hdr + b"hello\n".ljust(512, b"\0") + bytes(1024)
    if kind == "truncated-tar":
        data = tar_entries([{"path": "f", "size": 100000, "fill": "random"}])
        return data[:512 + 50000]
    if kind == "garbage":
        return b"this is not a tar file at all\n" * 40
    raise ValueError("unknown hostile layer %r" % kind)


HOSTILE_LAYERS = ["dotdot", "dotdot-deep", "absolute", "symlink-escape",
                  "symlink-escape-rel", "hardlink-missing", "hardlink-escape",
                  "hardlink-absolute", "long-name", "pax-1g", "bad-checksum",
                  "bad-checksum-2nd", "truncated-tar", "garbage"]


def compress(data, comp):
    if comp in (None, "none", "tar"):
        return data
    if comp == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if comp == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3", "--no-progress"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    raise ValueError("unknown compression %r" % comp)


# Set by build_layout(..., zstd_as="gzip"): umoci 0.4 cannot read zstd layers,
# so the reference layout is written with zstd layers gzip-compressed instead
# (the same uncompressed tars, so the same diff_ids and the same tree).
_ZSTD_AS = None


def layer_bytes(layer):
    """(uncompressed tar, compressed blob, compression) for a LAYER spec."""
    comp = layer.get("compression", "gzip")
    if comp == "zstd" and _ZSTD_AS:
        comp = _ZSTD_AS
    if "raw_b64" in layer:
        tar = base64.b64decode(layer["raw_b64"])
    elif "hostile" in layer:
        tar = hostile_tar(layer["hostile"])
    else:
        tar = tar_entries(layer.get("entries", []))
    return tar, compress(tar, comp), comp


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def _put_blob(outdir, data, digest=None):
    digest = digest or sha256(data)
    p = os.path.join(outdir, "blobs", "sha256", digest)
    with open(p, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def _json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build_image(img, outdir):
    """Write one image's blobs; return its manifest descriptor."""
    broken = img.get("broken", {})
    layers, diff_ids = [], []
    specs = img.get("layers", [])
    for i, layer in enumerate(specs):
        tar, blob, comp = layer_bytes(layer)
        diff_ids.append("sha256:" + sha256(tar))
        if broken.get("truncate_layer") and i == len(specs) - 1:
            blob = blob[:max(1, len(blob) // 2)]
        if broken.get("layer_digest") and i == 0:
            digest = _put_blob(outdir, blob, sha256(blob + b"tampered"))
        elif broken.get("missing_blob") and i == 0:
            digest = "sha256:" + sha256(blob + b"missing")
        else:
            digest = _put_blob(outdir, blob)
        layers.append({"mediaType": MT_LAYER[comp if comp in MT_LAYER else "none"],
                       "digest": digest, "size": len(blob)})
    n = broken.get("many_layers")
    if n:
        tar = tar_entries([{"path": "f", "content": "x\n"}])
        blob = compress(tar, "gzip")
        d = _put_blob(outdir, blob)
        layers = [{"mediaType": MT_LAYER["gzip"], "digest": d, "size": len(blob)}] * n
        diff_ids = ["sha256:" + sha256(tar)] * n
    if broken.get("diff_id") and diff_ids:
        diff_ids[0] = "sha256:" + sha256(b"wrong diff_id")
    platform = {"os": img.get("os", "linux"),
                "architecture": img.get("architecture", "amd64")}
    if img.get("variant"):
        platform["variant"] = img["variant"]
    config = dict(platform)
    config.update({
        "created": "2023-11-14T22:13:20Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "mkoci.py"}],
    })
    cfg = _json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": _put_blob(outdir, cfg), "size": len(cfg)},
        "layers": layers,
    }
    man = _json(manifest)
    desc = {"mediaType": MT_MANIFEST, "digest": _put_blob(outdir, man), "size": len(man),
            "platform": platform}
    if img.get("tag") is not None:
        desc["annotations"] = {"org.opencontainers.image.ref.name": img["tag"]}
    return desc


def build_layout(spec, outdir, zstd_as=None):
    """Write an OCI image layout for a spec (dict) into outdir.  With
    zstd_as="gzip", zstd layers are written gzip-compressed instead."""
    global _ZSTD_AS
    _ZSTD_AS = zstd_as
    try:
        _build_layout(spec, outdir)
    finally:
        _ZSTD_AS = None


def _build_layout(spec, outdir):
    os.makedirs(os.path.join(outdir, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(outdir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    manifests = [build_image(img, outdir) for img in spec["images"]]
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests}
    with open(os.path.join(outdir, "index.json"), "wb") as f:
        if any(img.get("broken", {}).get("index_not_json") for img in spec["images"]):
            f.write(b'{"schemaVersion": 2, "manifests": [ {"digest": "sha256:')
        else:
            f.write(_json(index))


def write_layer(layer, outfile):
    """Write one layer file; compression from the spec or the file name."""
    if "compression" not in layer:
        layer = dict(layer)
        layer["compression"] = ("gzip" if outfile.endswith((".gz", ".tgz"))
                                else "zstd" if outfile.endswith(".zst") else "none")
    _, blob, _ = layer_bytes(layer)
    with open(outfile, "wb") as f:
        f.write(blob)


def export_layers(spec, tag, outdir):
    """Write the layers of image TAG as plain files; return their paths."""
    img = next(i for i in spec["images"] if i.get("tag") == tag)
    os.makedirs(outdir, exist_ok=True)
    paths = []
    ext = {"gzip": ".tar.gz", "zstd": ".tar.zst"}
    for i, layer in enumerate(img["layers"]):
        p = os.path.join(outdir, "layer-%03d%s" % (i, ext.get(layer.get("compression", "gzip"), ".tar")))
        write_layer(dict(layer, compression=layer.get("compression", "gzip")), p)
        paths.append(p)
    return paths


def main(argv):
    if len(argv) >= 3 and argv[0] == "--layer":
        with open(argv[1]) as f:
            write_layer(json.load(f), argv[2])
    elif len(argv) >= 3 and argv[0] == "--hostile-layer":
        comp = "none"
        if len(argv) >= 5 and argv[3] == "--compression":
            comp = argv[4]
        write_layer({"hostile": argv[1], "compression": comp}, argv[2])
    elif len(argv) == 4 and argv[0] == "--export-layers":
        with open(argv[1]) as f:
            spec = json.load(f)
        for p in export_layers(spec, argv[2], argv[3]):
            print(p)
    elif len(argv) == 3 and argv[0] == "--zstd-as-gzip":
        with open(argv[1]) as f:
            build_layout(json.load(f), argv[2], zstd_as="gzip")
    elif len(argv) == 2 and not argv[0].startswith("-"):
        with open(argv[0]) as f:
            build_layout(json.load(f), argv[1])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
