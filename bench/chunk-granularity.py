#!/usr/bin/env python3
"""Measures what chunk dedup adds on top of whole-file dedup, per chunk size.

Reads every distinct layer of the public corpus (in image order, as a store
would see them) and, for each regular file whose content was not seen
before, counts the bytes of its full, aligned chunks whose content was seen
before (in any earlier file), for chunk sizes 16, 64 and 256 KiB. Prints the
bytes saved beyond whole-file dedup and the registry rows each size costs.

usage: bench/chunk-granularity.py [CORPUS_OCI_DIR]
"""
import gzip, hashlib, json, os, sys, tarfile

root = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp/mkimg-corpus/oci"
sizes = [16 << 10, 64 << 10, 256 << 10]
seen_files = set()
chunks = {s: set() for s in sizes}
saved = {s: 0 for s in sizes}
rows = {s: 0 for s in sizes}
new_bytes = 0
done = set()
for img in sorted(os.listdir(root)):
    idx = json.load(open(os.path.join(root, img, "index.json")))
    man = json.load(open(os.path.join(root, img, "blobs/sha256", idx["manifests"][0]["digest"][7:])))
    for l in man["layers"]:
        if l["digest"] in done:
            continue
        done.add(l["digest"])
        with tarfile.open(os.path.join(root, img, "blobs/sha256", l["digest"][7:]), "r:*") as t:
            for m in t:
                if not m.isreg() or m.size == 0:
                    continue
                data = t.extractfile(m).read()
                h = hashlib.sha256(data).digest()
                if h in seen_files:
                    continue
                seen_files.add(h)
                new_bytes += len(data)
                for s in sizes:
                    if len(data) < 2 * s:
                        continue
                    for off in range(0, len(data) - s + 1, s):
                        c = hashlib.blake2b(data[off:off + s], digest_size=16).digest()
                        if c in chunks[s]:
                            saved[s] += s
                        else:
                            chunks[s].add(c)
                            rows[s] += 1
print(f"data after whole-file dedup: {new_bytes / 2**20:.1f} MiB")
for s in sizes:
    print(f"chunk {s >> 10:4d} KiB: {saved[s] / 2**20:7.1f} MiB more saved, {rows[s]} chunk rows")
