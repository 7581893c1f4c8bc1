#!/usr/bin/env python3
"""Per-stage profile of one command from a `perf record -g` file.

usage: profile.py PERF.DATA [--json OUT]

Each CPU sample (all threads) is given to one stage by its top frame's
library (ISA-L: inflate, libzstd, libarchive: tar parsing, libcrypto:
SHA-256, libxxhash: chunk keys, SQLite: the registry, libc, mkimg itself)
or, for kernel samples, by the system call below it in the call chain
(pwrite: writes, pread/read: reads, page faults, other). Prints a markdown
table of the shares; --json writes {stage: samples}.
"""
import json
import re
import subprocess
import sys
from collections import Counter

LIBS = [
    ("libisal", "inflate (ISA-L)"),
    ("libz.", "inflate (zlib)"),
    ("libzstd", "zstd"),
    ("libarchive", "tar parsing (libarchive)"),
    ("libcrypto", "SHA-256 (libcrypto)"),
    ("libxxhash", "chunk keys, xattr filter (XXH3)"),
    ("libsqlite3", "registry (SQLite)"),
    ("libjson-c", "JSON (json-c)"),
    ("libc.so", "libc (memcpy, malloc, ...)"),
    ("ld-linux", "dynamic loader"),
]
SYSCALLS = {
    "pwrite64": "kernel: writes (pwrite)", "write": "kernel: writes (write)",
    "pwritev": "kernel: writes (pwrite)", "pread64": "kernel: reads (pread)",
    "read": "kernel: reads (read)", "fsync": "kernel: fsync", "fdatasync": "kernel: fsync",
    "sync_file_range": "kernel: write-behind (sync_file_range)",
    "openat": "kernel: open", "renameat2": "kernel: rename", "rename": "kernel: rename",
    "mmap": "kernel: mmap", "munmap": "kernel: munmap", "madvise": "kernel: madvise",
}
SYS_RE = re.compile(r"__(?:x64|ia32)_sys_(\w+)|\bksys_(\w+)")


def stage(frames):
    if not frames:
        return "unknown"
    sym, dso = frames[0]
    if "kernel" not in dso:
        for key, name in LIBS:
            if key in dso:
                return name
        if dso.endswith("/mkimg") or "mkimg" in dso.rsplit("/", 1)[-1]:
            return "mkimg itself"
        return "other user code"
    for s, d in frames:
        if "kernel" not in d:
            break
        m = SYS_RE.search(s)
        if m:
            call = m.group(1) or m.group(2)
            return SYSCALLS.get(call, f"kernel: {call}")
        if "page_fault" in s:
            return "kernel: page faults"
    return "kernel: other"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = subprocess.run(["perf", "script", "-i", sys.argv[1], "-F", "ip,sym,dso"],
                         capture_output=True, text=True, check=True).stdout
    counts = Counter()
    frames = []
    for line in out.splitlines() + [""]:
        line = line.strip()
        if not line:
            if frames:
                counts[stage(frames)] += 1
            frames = []
            continue
        m = re.match(r"[0-9a-f]+ (.*) \((.*)\)$", line)
        if m:
            frames.append((m.group(1), m.group(2)))
    total = sum(counts.values()) or 1
    print("| stage | share of CPU samples |")
    print("| --- | ---: |")
    rest = 0
    for name, n in counts.most_common():
        if n * 200 < total:
            rest += n
            continue
        print(f"| {name} | {100.0 * n / total:.1f} % |")
    if rest:
        print(f"| the rest (each under 0.5 %) | {100.0 * rest / total:.1f} % |")
    print(f"\n({total} samples, all threads)")
    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as f:
            json.dump(dict(counts), f)


if __name__ == "__main__":
    main()
