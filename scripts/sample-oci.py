#!/usr/bin/env python3
"""Writes a small OCI image layout from directories, one gzip layer each.

usage: sample-oci.py OUTDIR TAG DIR[=PREFIX]...
Each DIR becomes a layer holding its tree under PREFIX (default: the DIR's
own path without the leading "/"). Layers are deterministic (sorted names,
gzip without timestamps), so the same DIR gives the same layer digest in
every layout: images built from a shared DIR share that layer.
"""
import gzip, hashlib, io, json, os, sys, tarfile

out, tag, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def layer(src, prefix):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        # parents of the prefix as entries of their own (else runtimes make
        # them up, each with a time of its own)
        parts = prefix.split("/")[:-1]
        for i in range(len(parts)):
            d = tarfile.TarInfo("/".join(parts[:i + 1]))
            d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 0
            t.addfile(d)
        for dp, dns, fns in os.walk(src):
            dns.sort()
            for n in [dp] + [os.path.join(dp, f) for f in sorted(fns)]:
                rel = os.path.relpath(n, src)
                name = prefix if rel == "." else os.path.join(prefix, rel)
                try:
                    t.add(n, arcname=name, recursive=False)
                except (OSError, ValueError):
                    pass	# sockets, unreadable files
    tar = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=6) as g:
        g.write(tar)
    return put(gz.getvalue()), len(gz.getvalue()), "sha256:" + hashlib.sha256(tar).hexdigest()


layers, diff_ids = [], []
for spec in dirs:
    src, _, prefix = spec.partition("=")
    digest, size, diff_id = layer(src, prefix or src.lstrip("/"))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": digest, "size": size})
    diff_ids.append(diff_id)
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": diff_ids},
                     "config": {}}).encode()
cdesc = {"mediaType": "application/vnd.oci.image.config.v1+json",
         "digest": put(config), "size": len(config)}
manifest = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": cdesc, "layers": layers}).encode()
index = {"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest),
     "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
