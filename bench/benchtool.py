#!/usr/bin/env python3
"""Helpers for bench/run (stdlib only).

  benchtool.py layers OCI_DIR IMAGE...        image -> layer blobs, as TSV:
                                              image<TAB>digest<TAB>mediaType<TAB>path
  benchtool.py tarinfo CACHE_DIR LAYER...     uncompressed tar bytes, regular-file
                                              bytes and entries of each layer (cached)
  benchtool.py filelist SRC MIB               NUL-separated entries of SRC (sorted,
                                              one filesystem) until MIB of file data
  benchtool.py report RESULTS_DIR JSON_OUT    the table (markdown) and the JSON
  benchtool.py containerd-report RESULTS_DIR JSON_OUT
                                              the same for bench/containerd-bench.sh
"""
import gzip
import hashlib
import json
import os
import statistics
import stat
import sys
import tarfile


def die(msg):
    print("benchtool: " + msg, file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- layers
def image_layers(oci, name):
    """Layer descriptors of an OCI layout's (only / first linux/amd64) manifest."""
    root = os.path.join(oci, name)
    blob = lambda d: os.path.join(root, "blobs", *d.split(":", 1))
    with open(os.path.join(root, "index.json")) as f:
        idx = json.load(f)
    desc = idx["manifests"][0]
    while True:
        with open(blob(desc["digest"])) as f:
            m = json.load(f)
        if "manifests" in m:  # nested index
            pick = [d for d in m["manifests"]
                    if d.get("platform", {}).get("architecture") == "amd64"] or m["manifests"]
            desc = pick[0]
            continue
        return [(l["digest"], l["mediaType"], blob(l["digest"])) for l in m["layers"]]


def cmd_layers(oci, names):
    for n in names:
        for d, mt, p in image_layers(oci, n):
            print(f"{n}\t{d}\t{mt}\t{p}")


# ---------------------------------------------------------------- tarinfo
class Counting:
    def __init__(self, f):
        self.f, self.n = f, 0

    def read(self, size=-1):
        b = self.f.read(size)
        self.n += len(b)
        return b


def norm(name):
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def scan_layer(path):
    """Reads a (gzip) tar once: sizes and the entry list used to flatten images."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    entries = []
    with opener(path, "rb") as g:
        c = Counting(g)
        with tarfile.open(fileobj=c, mode="r|") as t:
            for m in t:
                if m.isreg():
                    typ = "f"
                elif m.isdir():
                    typ = "d"
                elif m.islnk():
                    typ = "h"
                elif m.issym():
                    typ = "l"
                else:
                    typ = "o"
                e = [norm(m.name), typ, m.size if typ == "f" else 0]
                if typ == "h":
                    e.append(norm(m.linkname))
                entries.append(e)
        while c.read(1 << 20):
            pass
    return {
        "tar_bytes": c.n,
        "file_bytes": sum(e[2] for e in entries),
        "entries": len(entries),
        "files": sum(1 for e in entries if e[1] == "f"),
        "list": entries,
    }


def tarinfo(cache, path):
    st = os.stat(path)
    base = os.path.basename(path)
    if os.path.basename(os.path.dirname(path)) == "sha256" and len(base) == 64:
        key = "sha256-" + base  # a layout's blob: the same content in every image
    else:
        key = hashlib.sha256(f"{os.path.realpath(path)}\0{st.st_size}\0{st.st_mtime_ns}"
                             .encode()).hexdigest()
    cf = os.path.join(cache, key + ".json")
    try:
        with open(cf) as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    info = scan_layer(path)
    info["path"] = path
    info["compressed_bytes"] = st.st_size
    os.makedirs(cache, exist_ok=True)
    with open(cf + ".tmp", "w") as f:
        json.dump(info, f, separators=(",", ":"))
    os.replace(cf + ".tmp", cf)
    return info


def cmd_tarinfo(cache, paths):
    for p in paths:
        i = tarinfo(cache, p)
        print(f"{p}\t{i['tar_bytes']}\t{i['file_bytes']}\t{i['entries']}")


def flatten_file_bytes(layer_infos):
    """Regular-file bytes of the layers applied in order with OCI whiteouts
    (hard links counted once), as `mkimg stats` counts an image's data."""
    tree = {}  # path -> (type, size)

    def drop(prefix, keep_self):
        pre = prefix + "/" if prefix else ""
        for k in [k for k in tree if k != prefix and k.startswith(pre)]:
            del tree[k]
        if not keep_self:
            tree.pop(prefix, None)

    for info in layer_infos:
        # whiteouts and opaque markers hide lower-layer entries only
        for e in info["list"]:
            d, _, b = e[0].rpartition("/")
            if b == ".wh..wh..opq":
                drop(d, True)
            elif b.startswith(".wh."):
                drop((d + "/" if d else "") + b[4:], False)
        for e in info["list"]:
            path, typ, size = e[0], e[1], e[2]
            if not path or path.rpartition("/")[2].startswith(".wh."):
                continue
            old = tree.get(path)
            if old and old[0] == "d" and typ != "d":
                drop(path, False)
            tree[path] = (typ, size)
    return sum(s for t, s in tree.values() if t == "f")


# ---------------------------------------------------------------- filelist
def cmd_filelist(src, mib):
    limit = int(float(mib) * 1048576)
    src = os.path.abspath(src)
    dev = os.lstat(src).st_dev
    total = 0
    out = sys.stdout.buffer

    def emit(p):
        out.write(os.fsencode(p.lstrip("/")) + b"\0")

    def walk(d):
        nonlocal total
        try:
            names = sorted(os.listdir(os.fsencode(d)))
        except OSError:
            return False
        for n in names:
            p = os.path.join(d, os.fsdecode(n))
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev != dev:
                    continue
                emit(p)
                if walk(p):
                    return True
            elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                emit(p)
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
                    if total >= limit:
                        return True
        return False

    emit(src)
    walk(src)


# ---------------------------------------------------------------- report
def read_runs(rdir):
    """runs.tsv: run phase tool item wall user sys rss_kib extra_json_file"""
    rows = []
    with open(os.path.join(rdir, "runs.tsv")) as f:
        for line in f:
            r = line.rstrip("\n").split("\t")
            extra = None
            if len(r) > 8 and r[8]:
                try:
                    with open(r[8]) as ef:
                        txt = ef.read().strip()
                    extra = json.loads(txt.splitlines()[-1]) if txt else None
                except (OSError, ValueError, IndexError):
                    extra = None
            rows.append({"run": int(r[0]), "phase": r[1], "tool": r[2], "item": r[3],
                         "wall_s": float(r[4]), "user_s": float(r[5]), "sys_s": float(r[6]),
                         "cpu_s": round(float(r[5]) + float(r[6]), 2),
                         "peak_rss_kib": int(r[7]), "extra": extra})
    return rows


def summarize(rows, phase, tool):
    """Totals of the median run (by total wall time) of one phase and tool."""
    runs = {}
    for r in rows:
        if r["phase"] == phase and r["tool"] == tool:
            runs.setdefault(r["run"], []).append(r)
    if not runs:
        return None
    tot = sorted((sum(x["wall_s"] for x in v), k) for k, v in runs.items())
    pick = tot[(len(tot) - 1) // 2][1]
    items = runs[pick]
    return {
        "runs": len(runs),
        "run_walls_s": [round(t, 2) for t, _ in sorted(tot, key=lambda x: x[1])],
        "wall_s": round(sum(x["wall_s"] for x in items), 2),
        "cpu_s": round(sum(x["cpu_s"] for x in items), 2),
        "peak_rss_kib": max(x["peak_rss_kib"] for x in items),
        "items": items,
    }


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return round(a / b, 3)


def cmd_report(rdir, json_out):
    with open(os.path.join(rdir, "meta.json")) as f:
        meta = json.load(f)
    rows = read_runs(rdir)
    cache = meta["tarinfo_cache"]
    mib = 1048576

    def info(p):
        return tarinfo(cache, p)

    phases = {}
    # ---- (a)/(b) corpus
    c = meta.get("corpus")
    if c:
        # name -> [layer keys]; a layer's key is its blob file name (the digest)
        img_layers = {n: [os.path.basename(p) for p in ls] for n, ls in c["images"].items()}
        distinct = c["distinct_layers"]
        dinfo = {os.path.basename(p): info(p) for p in distinct}
        distinct_tar = sum(i["tar_bytes"] for i in dinfo.values())
        images_tar = sum(dinfo[p]["tar_bytes"] for ls in img_layers.values() for p in ls)
        logical = {n: flatten_file_bytes([dinfo[p] for p in ls]) for n, ls in img_layers.items()}
        logical_total = sum(logical.values())
        layer_file_bytes = sum(i["file_bytes"] for i in dinfo.values())
        m = summarize(rows, "corpus", "mkimg")
        a = summarize(rows, "corpus", "anchor")
        ap = summarize(rows, "corpus", "anchor-path")
        st = meta.get("corpus_stats") or {}
        stats = st.get("stats")
        mk = None
        if m:
            stored = (stats or {}).get("store_bytes") or st.get("du_bytes")
            mk = {
                "mode": meta.get("store_mode"),
                "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "peak_rss_kib": m["peak_rss_kib"],
                "runs": m["runs"], "run_walls_s": m["run_walls_s"],
                "tar_mb_per_s": round(distinct_tar / 1e6 / m["wall_s"], 1) if m["wall_s"] else None,
                "stored_bytes": st.get("du_bytes"),
                "stats_store_bytes": (stats or {}).get("store_bytes"),
                "data_bytes": (stats or {}).get("blob_bytes"),
                "logical_bytes": (stats or {}).get("logical_bytes"),
                "dedup_ratio": (stats or {}).get("dedup_ratio"),
                "stored_ratio": ratio(logical_total, st.get("du_bytes")),
                "stats": stats,
                "per_image": [{
                    "image": x["item"], "wall_s": x["wall_s"], "cpu_s": x["cpu_s"],
                    "peak_rss_kib": x["peak_rss_kib"],
                    "tar_bytes": sum(dinfo[p]["tar_bytes"] for p in img_layers[x["item"]]),
                    "file_bytes": logical[x["item"]],
                    "new_bytes": (x["extra"] or {}).get("new_bytes"),
                    "layers_reused": (x["extra"] or {}).get("layers_reused"),
                    "image_bytes": (x["extra"] or {}).get("image_bytes"),
                } for x in m["items"]],
            }
        an = None
        if a:
            an = {
                "wall_s": a["wall_s"], "cpu_s": a["cpu_s"], "peak_rss_kib": a["peak_rss_kib"],
                "runs": a["runs"], "run_walls_s": a["run_walls_s"],
                "tar_mb_per_s": round(distinct_tar / 1e6 / a["wall_s"], 1) if a["wall_s"] else None,
                "stored_bytes": meta.get("anchor_bytes"),
                "data_bytes": layer_file_bytes,
                "dedup_ratio": round(logical_total / layer_file_bytes, 3) if layer_file_bytes else None,
                "stored_ratio": ratio(logical_total, meta.get("anchor_bytes")),
                "per_layer": [{"layer": os.path.basename(x["item"]), "wall_s": x["wall_s"],
                               "cpu_s": x["cpu_s"], "peak_rss_kib": x["peak_rss_kib"],
                               "tar_bytes": dinfo[os.path.basename(x["item"])]["tar_bytes"]}
                              for x in a["items"]],
            }
        phases["corpus"] = {
            "images": list(img_layers), "distinct_layers": len(distinct),
            "distinct_tar_bytes": distinct_tar, "images_tar_bytes": images_tar,
            "logical_bytes": logical_total, "logical_bytes_per_image": logical,
            "layer_file_bytes": layer_file_bytes,
            "mkimg": mk, "anchor": an,
            "anchor_path": {
                "wall_s": ap["wall_s"], "cpu_s": ap["cpu_s"],
                "tar_mb_per_s": round(distinct_tar / 1e6 / ap["wall_s"], 1) if ap["wall_s"] else None,
            } if ap else None,
        }
    # ---- (c)/(d) large layer
    L = meta.get("large")
    if L:
        li = info(L["path"])
        L.update(tar_bytes=li["tar_bytes"], file_bytes=li["file_bytes"], entries=li["entries"],
                 files=li["files"])
        for ph, tool in (("large", "mkimg"), ("large", "anchor"), ("large", "anchor-path"),
                         ("large-store", "mkimg")):
            s = summarize(rows, ph, tool)
            if not s:
                continue
            phases.setdefault(ph, {"tar_bytes": li["tar_bytes"]})[tool] = {
                "wall_s": s["wall_s"], "cpu_s": s["cpu_s"], "peak_rss_kib": s["peak_rss_kib"],
                "runs": s["runs"], "run_walls_s": s["run_walls_s"],
                "tar_mb_per_s": round(li["tar_bytes"] / 1e6 / s["wall_s"], 1) if s["wall_s"] else None,
                "stored_bytes": meta.get("out_bytes", {}).get(f"{ph}/{tool}"),
                "extra": s["items"][0]["extra"],
            }
        if "large-store" in phases and "large" in phases and "anchor" in phases["large"]:
            phases["large-store"]["anchor"] = phases["large"]["anchor"]
            if "anchor-path" in phases["large"]:
                phases["large-store"]["anchor-path"] = phases["large"]["anchor-path"]
    for p in phases.values():
        mk, an = p.get("mkimg"), p.get("anchor")
        if mk and an:
            p["ratio"] = {k: ratio(mk.get(k), an.get(k)) for k in
                          ("wall_s", "cpu_s", "peak_rss_kib", "tar_mb_per_s", "stored_bytes")}
    # ---- mkimg analyze of the corpus (reads, writes nothing)
    z = summarize(rows, "analyze", "mkimg")
    if z:
        x = z["items"][0]["extra"] or {}
        c = phases.get("corpus", {})
        st = ((c.get("mkimg") or {}).get("stats")) or {}
        phases["analyze"] = {
            "wall_s": z["wall_s"], "cpu_s": z["cpu_s"], "peak_rss_kib": z["peak_rss_kib"],
            "runs": z["runs"], "run_walls_s": z["run_walls_s"],
            "predicted_blob_bytes": (x.get("store") or {}).get("blob_bytes"),
            "store_blob_bytes": st.get("blob_bytes"),
            "file_dedup_bytes": x.get("file_dedup_bytes"),
            "chunk_dedup_bytes": x.get("chunk_dedup_bytes"),
            "convert_wall_s": (c.get("mkimg") or {}).get("wall_s"),
        }
    result = dict(meta)
    result.pop("tarinfo_cache", None)
    result["phases"] = phases
    text = table(result)
    write_report(result, text, json_out)


def write_report(result, text, json_out):
    """Prints the table and writes result, with the table in it, as JSON."""
    result["table_markdown"] = text
    with open(json_out + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(json_out + ".tmp", json_out)
    print(text)
    print(f"JSON: {json_out}")


def fmt(v, nd=2, scale=1.0):
    if v is None:
        return "n/a"
    v = v / scale
    return f"{v:,.{nd}f}".replace(",", " ")


def table(r):
    mib = 1048576
    m = r["machine"]
    out = []
    out.append(f"Measured {r['date']} on {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB RAM, "
               f"{m['os']}, kernel {m['kernel']} (load average at start, at end: {m['loadavg']}).")
    out.append(f"{r['versions']['mkimg']} vs {r['versions']['mkfs']} "
               "(`--tar=f --ungzip --aufs -Enoinline_data -b4096`, the containerd way, "
               "one image per distinct layer).")
    out.append("Page cache warm: every input is read once before timing; `sync` before each "
               "command; " + ("mkimg with `--no-fsync`, so neither side fsyncs"
                             if not r["conditions"]["mkimg_fsync"]
                             else "mkimg fsyncs (mkfs.erofs does not)") +
               f"; {r['conditions']['runs']} run(s) per measurement, median run shown.")
    try:
        busy = float(m["loadavg"].split()[0]) >= 0.5 * m["cores"]
    except (ValueError, IndexError):
        busy = False
    if busy:
        out.append("**The machine was busy when the run started (load average above half the "
                   "cores): wall times include waiting for the CPU; CPU times are less affected.**")
    if r.get("large", {}).get("sha256"):
        out.append(f"Large layer: `{os.path.basename(r['large']['path'])}`, sha256 "
                   f"{r['large']['sha256'][:16]}…, built deterministically (sorted entries, "
                   "pax without atime/ctime, `gzip -n -6`).")
    if r["conditions"].get("quick"):
        out.append("**--quick smoke run: not the full corpus.**")
    out.append("")
    ph = r["phases"]
    rows = []

    def each_run(mk, an):
        if r["conditions"]["runs"] > 1:
            f = lambda x: " / ".join(fmt(v) for v in x["run_walls_s"]) if x else "n/a"
            rows.append(("wall s of each run", f(mk), f(an), ""))

    def add(label, mk, an, key, nd=2, scale=1.0, rnd=2):
        mv = mk.get(key) if mk else None
        av = an.get(key) if an else None
        rv = ratio(mv, av)
        rows.append((label, fmt(mv, nd, scale), fmt(av, nd, scale),
                     "n/a" if rv is None else f"{rv:.{rnd}f}"))

    c = ph.get("corpus")
    if c:
        mk, an = c.get("mkimg"), c.get("anchor")
        mode = (mk or {}).get("mode")
        rows.append((f"**corpus**: {len(c['images'])} images, {c['distinct_layers']} distinct "
                     f"layers, {fmt(c['distinct_tar_bytes'], 0, mib)} MiB of distinct tar "
                     f"({fmt(c['images_tar_bytes'], 0, mib)} MiB over all images), "
                     f"{fmt(c['logical_bytes'], 0, mib)} MiB of file data in the images",
                     "`convert --store`" if mode == "store" else
                     f"`convert --blob` per image ({mode})" if mode else "",
                     "`mkfs.erofs` per layer", "mkimg/anchor"))
        add("wall s", mk, an, "wall_s")
        each_run(mk, an)
        add("CPU s (user+sys)", mk, an, "cpu_s")
        add("peak RSS MiB", mk, an, "peak_rss_kib", 1, 1024)
        add("throughput, MB/s of distinct tar", mk, an, "tar_mb_per_s", 1)
        add("stored MiB (store dir / layer images, du -sb)", mk, an, "stored_bytes", 1, mib)
        add("file data stored MiB (blobs / tar file data)", mk, an, "data_bytes", 1, mib)
        add("dedup ratio (images' file data / file data stored)", mk, an, "dedup_ratio", 2)
        add("images' file data / stored bytes", mk, an, "stored_ratio", 2)
        apc = c.get("anchor_path")
        if apc:
            add("wall s, anchor without --sort=none (as earlier reports)", mk, apc, "wall_s")
            add("MB/s of distinct tar, anchor without --sort=none", mk, apc, "tar_mb_per_s", 1)
    for key, title in (("large", "large layer"), ("large-store", "large layer into a store")):
        p = ph.get(key)
        if not p:
            continue
        L = r["large"]
        mk, an = p.get("mkimg"), p.get("anchor")
        rows.append((f"**{title}**: {L['desc']}, {fmt(p['tar_bytes'], 0, mib)} MiB of tar, "
                     f"{L['entries']} entries, {fmt(L['compressed_bytes'], 0, mib)} MiB gzip",
                     "`convert --per-layer`" if key == "large" else "`convert --store`",
                     "`mkfs.erofs`", "mkimg/anchor"))
        add("wall s", mk, an, "wall_s")
        each_run(mk, an)
        add("CPU s (user+sys)", mk, an, "cpu_s")
        add("peak RSS MiB", mk, an, "peak_rss_kib", 1, 1024)
        add("throughput, MB/s of tar", mk, an, "tar_mb_per_s", 1)
        add("stored MiB (du -sb)", mk, an, "stored_bytes", 1, mib)
        apl = p.get("anchor-path")
        if apl:
            add("wall s, anchor without --sort=none (as earlier reports)", mk, apl, "wall_s")
            add("MB/s of tar, anchor without --sort=none", mk, apl, "tar_mb_per_s", 1)
    out.append("| measure | mkimg | anchor (mkfs.erofs 1.9) | mkimg/anchor |")
    out.append("| --- | ---: | ---: | ---: |")
    for lab, a, b, c_ in rows:
        out.append(f"| {lab} | {a} | {b} | {c_} |")
    if c and c.get("mkimg"):
        out.append("")
        out.append("Per image, converted in this order into one store:"
                   if c["mkimg"].get("mode") == "store" else
                   "Per image, in this order (fallback without a store: one `--blob` image each):")
        out.append("")
        out.append("| image | wall s | CPU s | peak RSS MiB | tar MiB | file data MiB | new data MiB | layers reused |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for x in c["mkimg"]["per_image"]:
            out.append(f"| {x['image']} | {fmt(x['wall_s'])} | {fmt(x['cpu_s'])} | "
                       f"{fmt(x['peak_rss_kib'], 1, 1024)} | {fmt(x['tar_bytes'], 1, mib)} | "
                       f"{fmt(x['file_bytes'], 1, mib)} | {fmt(x['new_bytes'], 1, mib)} | "
                       f"{'n/a' if x['layers_reused'] is None else x['layers_reused']} |")
        s = c["mkimg"].get("stats")
        if s is None:
            out.append("")
            out.append("`mkimg stats --store DIR --json` unavailable: dedup fields are n/a, "
                       "stored bytes from du -sb.")
    z = ph.get("analyze")
    if z:
        cw = z.get("convert_wall_s")
        out.append("")
        out.append(f"`mkimg analyze` of the same images (reads them, writes nothing): "
                   f"{fmt(z['wall_s'])} s wall ({'n/a' if not cw else fmt(cw / z['wall_s'])}x "
                   f"faster than converting them), {fmt(z['cpu_s'])} s CPU, "
                   f"{fmt(z['peak_rss_kib'], 1, 1024)} MiB peak RSS; it predicts "
                   f"{fmt(z['predicted_blob_bytes'], 1, mib)} MiB of blobs, the store holds "
                   f"{fmt(z['store_blob_bytes'], 1, mib)} MiB; whole-file dedup "
                   f"{fmt(z['file_dedup_bytes'], 1, mib)} MiB, fixed chunks "
                   + ", ".join(f"{k} {fmt(v, 1, mib)}" for k, v in (z.get('chunk_dedup_bytes') or {}).items())
                   + " MiB.")
    return "\n".join(out)


# ---------------------------------------------------------------- containerd-report
def cmd_containerd_report(rdir, json_out):
    """bench/containerd-bench.sh's results: runs.tsv (run snapshotter image pull_s
    first_s total_s cpu_s fetched/layers), disk.tsv (run snapshotter part KiB),
    convert.tsv (run image wall user sys rss_kib json), out.RUN.SNAPSHOTTER.IMAGE."""
    with open(os.path.join(rdir, "meta.json")) as f:
        meta = json.load(f)
    med = lambda xs: round(statistics.median(xs), 3) if xs else None
    tsv = lambda n: [l.rstrip("\n").split("\t") for l in open(os.path.join(rdir, n)) if l.strip()]
    rows = [{"run": int(r[0]), "sn": r[1], "image": r[2], "pull_s": float(r[3]),
             "first_s": float(r[4]), "total_s": float(r[5]),
             "cpu_s": None if float(r[6]) < 0 else float(r[6]), "fetched": r[7]}
            for r in tsv("runs.tsv")]
    disk = tsv("disk.tsv")
    conv = tsv("convert.tsv")

    def first(run, sn, img):
        try:
            with open(os.path.join(rdir, f"out.{run}.{sn}.{img}"), errors="replace") as f:
                return f.readline().rstrip("\n")
        except OSError:
            return None

    result = dict(meta)
    snaps = {}
    lines = {}
    for sn in meta["snapshotters"]:
        rs = [r for r in rows if r["sn"] == sn]
        runs = sorted({r["run"] for r in rs})
        tot = lambda key, run: sum(r[key] for r in rs if r["run"] == run)
        cpu_ok = all(r["cpu_s"] is not None for r in rs)
        per_image = []
        for img in meta["images"]:
            ri = [r for r in rs if r["image"] == img]
            for r in ri:
                lines.setdefault(img, {}).setdefault(first(r["run"], sn, img), []).append(
                    f"{sn} run {r['run']}")
            per_image.append({
                "image": img,
                "pull_s": med([r["pull_s"] for r in ri]),
                "first_output_s": med([r["first_s"] for r in ri]),
                "pull_to_first_output_s": med([r["total_s"] for r in ri]),
                "cpu_s": med([r["cpu_s"] for r in ri]) if cpu_ok else None,
                "layer_blobs_fetched": ri[0]["fetched"] if ri else None,
                "runs_s": [r["total_s"] for r in ri],
                "first_line": first(ri[0]["run"], sn, img) if ri else None,
            })
        d = {}
        for r in disk:
            if r[1] == sn:
                d.setdefault(r[2], []).append(int(r[3]))
        dk = {k: med(v) for k, v in d.items()}
        total = (dk.get("containerd_root") or 0) + (dk.get("store") or 0) + \
            (dk.get("snapshots") or 0 if sn.startswith("mkimg") else 0)
        fetched = [r["fetched"].split("/") for r in rs if r["run"] == runs[0]] if runs else []
        snaps[sn] = {
            "runs": len(runs),
            "pull_to_first_output_s": med([tot("total_s", k) for k in runs]),
            "run_totals_s": [round(tot("total_s", k), 3) for k in runs],
            "pull_s": med([tot("pull_s", k) for k in runs]),
            "first_output_s": med([tot("first_s", k) for k in runs]),
            "cpu_s": med([tot("cpu_s", k) for k in runs]) if cpu_ok else None,
            "layer_blobs_fetched": sum(int(a) for a, _ in fetched),
            "layers": sum(int(b) for _, b in fetched),
            "disk_kib": {k: v for k, v in dk.items() if k != "mounts"},
            "disk_total_kib": total,
            "mounts_left": dk.get("mounts"),
            "per_image": per_image,
        }
    if conv:
        cruns = sorted({int(r[0]) for r in conv})
        ext = {}
        for r in conv:
            try:
                with open(r[6]) as f:
                    txt = f.read().strip()
                ext[(int(r[0]), r[1])] = json.loads(txt.splitlines()[-1]) if txt else {}
            except (OSError, ValueError, IndexError):
                ext[(int(r[0]), r[1])] = {}
        wall = lambda k: sum(float(r[2]) for r in conv if int(r[0]) == k)
        cpu = lambda k: sum(float(r[3]) + float(r[4]) for r in conv if int(r[0]) == k)
        result["convert"] = {
            "wall_s": med([wall(k) for k in cruns]), "cpu_s": med([cpu(k) for k in cruns]),
            "run_walls_s": [round(wall(k), 2) for k in cruns],
            "per_image": [{
                "image": img,
                "wall_s": med([float(r[2]) for r in conv if r[1] == img]),
                "cpu_s": med([float(r[3]) + float(r[4]) for r in conv if r[1] == img]),
                "peak_rss_kib": max([int(r[5]) for r in conv if r[1] == img] or [0]),
                "new_bytes": ext.get((cruns[0], img), {}).get("new_bytes"),
                "layers_reused": ext.get((cruns[0], img), {}).get("layers_reused"),
            } for img in meta["images"]],
        }
    result["snapshotter_results"] = snaps
    result["first_lines"] = {img: {k: v for k, v in d.items()} for img, d in lines.items()}
    result["outputs_agree"] = all(len(d) == 1 and None not in d for d in lines.values())
    text = containerd_table(result)
    write_report(result, text, json_out)


def containerd_table(r):
    mib = 1024  # disk figures are KiB
    m, v, c = r["machine"], r["versions"], r["conditions"]
    sns = r["snapshotters"]
    S = r["snapshotter_results"]
    out = [f"Measured {r['date']} on {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB RAM, "
           f"{m['os']}, kernel {m['kernel']} (load average at start, at end: {m['loadavg']}).",
           f"{v['containerd']}, {v['runc']}, {v['mkfs.erofs']} (built-in erofs snapshotter "
           f"with the erofs differ), {v['mkimg']}.",
           f"Per snapshotter a fresh containerd root (content store included) per sequence: the "
           f"{len(r['images'])} images pulled in order from a docker-registry on loopback "
           "(`ctr images pull --snapshotter S`), each then run (`ctr run --rm`) until its first "
           f"line of output. Page cache warm, `sync` before each image; {c['runs']} run(s), "
           "median shown. CPU: every process of the node (containerd, snapshotter, mkimg, "
           f"shims, runc, the containers, ctr) in one cgroup ({c['cpu_accounting']}).",
           "mkimg: the images were converted into the node's store beforehand (build time, "
           "timed apart below, once per run; each mkimg node starts from a copy); bringing a "
           "store to a node is not part of these figures. mkimg-snapshotter as configured by "
           "default hashes a store image and its blobs at its first mount (`verify`); "
           "mkimg-noverify is the same with `verify = false`, mkimg-buffered with "
           "`directio = false`.", ""]
    try:
        if float(m["loadavg"].split()[0]) >= 0.5 * m["cores"]:
            out.append("**The machine was busy when the run started (load average above half "
                       "the cores): wall times include waiting for the CPU.**")
    except (ValueError, IndexError):
        pass
    if c.get("quick"):
        out.append("**--quick smoke run: not the full corpus.**")
    if not r["outputs_agree"]:
        out.append("**The containers' first lines differ between snapshotters or runs: see "
                   "first_lines in the JSON.**")
    out.append("")
    row = lambda label, f: out.append(f"| {label} | " + " | ".join(f(sn) for sn in sns) + " |")
    out.append("| measure | " + " | ".join(sns) + " |")
    out.append("| --- |" + " ---: |" * len(sns))
    row("pull to first output, all images, s", lambda s: fmt(S[s]["pull_to_first_output_s"]))
    if c["runs"] > 1:
        row("the same, each run, s", lambda s: " / ".join(fmt(x) for x in S[s]["run_totals_s"]))
    row("of which `ctr images pull`, s", lambda s: fmt(S[s]["pull_s"]))
    row("of which `ctr run` to first output, s", lambda s: fmt(S[s]["first_output_s"]))
    row("CPU s on the node (user+sys)", lambda s: fmt(S[s]["cpu_s"]))
    row("layer blobs fetched / layers of the images", lambda s: f"{S[s]['layer_blobs_fetched']} / {S[s]['layers']}")
    dk = lambda key: (lambda s: fmt(S[s]["disk_kib"].get(key), 1, mib)
                      if key in S[s]["disk_kib"] else "-")
    row("disk: content store MiB", dk("content"))
    row("disk: snapshots MiB", dk("snapshots"))
    row("disk: mkimg store MiB", dk("store"))
    row("disk: node total MiB", lambda s: fmt(S[s]["disk_total_kib"], 1, mib))
    row("mounts left on the host (containers gone)", lambda s: fmt(S[s]["mounts_left"], 0))
    cv = r.get("convert")
    if cv:
        row("build time: `mkimg convert --store` all images, s (CPU s)",
            lambda s: f"{fmt(cv['wall_s'])} ({fmt(cv['cpu_s'])})" if s.startswith("mkimg") else "-")
    out.append("")
    out.append("Disk after all images, `du -skx` (allocated KiB; mounts not descended): content "
               "store = `ROOT/io.containerd.content.v1.content` (the compressed blobs containerd "
               "fetched); snapshots = `ROOT/io.containerd.snapshotter.v1.overlayfs` (unpacked "
               "layers), `.v1.erofs` (one `layer.erofs` per layer), mkimg-snapshotter's root "
               "(placeholders, metadata, upper dirs); mkimg store = the store the images were "
               "converted into; node total = containerd's whole root (+ the snapshotter's root "
               "and the store for mkimg).")
    out.append("")
    out.append("Per image, in this order on one node: seconds from pull to first output "
               "(pull in parentheses), CPU seconds, layer blobs the pull fetched / the image's layers:")
    out.append("")
    hdr = ["image"] + [f"{s} s" for s in sns] + [f"{s} CPU s" for s in sns] + \
        [f"{s} fetched" for s in sns]
    if cv:
        hdr.append("convert s")
    hdr.append("first line")
    out.append("| " + " | ".join(hdr) + " |")
    out.append("| --- |" + " ---: |" * (len(hdr) - 2) + " --- |")
    for k, img in enumerate(r["images"]):
        pi = {s: S[s]["per_image"][k] for s in sns}
        cells = [img]
        cells += [f"{fmt(pi[s]['pull_to_first_output_s'])} ({fmt(pi[s]['pull_s'])})" for s in sns]
        cells += [fmt(pi[s]["cpu_s"]) for s in sns]
        cells += [str(pi[s]["layer_blobs_fetched"]) for s in sns]
        if cv:
            cells.append(fmt(cv["per_image"][k]["wall_s"]))
        fl = pi[sns[0]]["first_line"]
        cells.append("`" + fl.replace("|", "\\|") + "`" if fl else "n/a")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        die(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "layers" and len(args) >= 2:
        cmd_layers(args[0], args[1:])
    elif cmd == "tarinfo" and len(args) >= 2:
        cmd_tarinfo(args[0], args[1:])
    elif cmd == "filelist" and len(args) == 2:
        cmd_filelist(args[0], args[1])
    elif cmd == "report" and len(args) == 2:
        cmd_report(args[0], args[1])
    elif cmd == "containerd-report" and len(args) == 2:
        cmd_containerd_report(args[0], args[1])
    else:
        die(__doc__)


if __name__ == "__main__":
    main()
