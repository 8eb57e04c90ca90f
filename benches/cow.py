#!/usr/bin/env python3
"""Copy-on-write destinations and small-file runs (issue 21), one run each.

    python3 benches/cow.py [--work DIR] [--json F]

Two generated corpora:
  large  shaped like a clone of PowerShell/PowerShell: 4,570 files, 277 MB,
         70 % one git pack (incompressible), the rest text (1 KB - 1.5 MB)
  small  20,000 files of 1-16 KB and a little .git
For each file system (loop-mounted XFS with reflink and Btrfs when root and
the mkfs tools are here, and the work folder's own, e.g. ext4) and corpus:
a first backup to three folders on it, then one changed file, timed through
examples/backup_cli (release), with the blocks used (statvfs after syncfs)
and the engine's report. For the large corpus also `zip -r -6` once (size)
and the alignment padding in the archive. Warm page cache throughout.
Prints a Markdown table and writes the JSON with --json.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
CLI = os.path.join(TARGET, "release", "examples", "backup_cli")
WORDS = b"fn let match impl backup archive clone block return self where struct enum pub use mod".split()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def text(rng, n):
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rng.choice(WORDS) for _ in range(12)) + b"\n"
    return bytes(out[:n])


def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def gen_large(root, seed=21):
    rng = random.Random(seed)
    put(os.path.join(root, ".git/HEAD"), b"ref: refs/heads/master\n")
    put(os.path.join(root, ".git/objects/pack/pack-0001.pack"), rng.randbytes(194 << 20))
    put(os.path.join(root, ".git/objects/pack/pack-0001.idx"), rng.randbytes(1 << 20))
    budget, i = 82 << 20, 0
    while budget > 0 and i < 4_566:
        # Mostly small sources, a few large ones (as in the real tree).
        n = int(min(1_500_000, rng.lognormvariate(8.6, 1.2)))
        n = max(200, min(n, budget))
        put(os.path.join(root, f"src/m{i % 40:02}/d{i % 7}/f{i:05}.cs"), text(rng, n))
        budget -= n
        i += 1
    return root


def gen_small(root, seed=22):
    rng = random.Random(seed)
    put(os.path.join(root, ".git/HEAD"), b"ref: refs/heads/main\n")
    put(os.path.join(root, ".git/config"), b"[core]\n\tbare = false\n")
    for i in range(20_000):
        put(os.path.join(root, f"d{i % 100:02}/s{i // 100 % 10}/f{i:05}.txt"), text(rng, rng.randint(1024, 16384)))
    return root


def changed_file(root):
    for dirpath, _, names in sorted(os.walk(root)):
        if ".git" in dirpath:
            continue
        for n in sorted(names):
            return os.path.join(dirpath, n)


def used(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.sync()
    finally:
        os.close(fd)
    s = os.statvfs(path)
    return (s.f_blocks - s.f_bfree) * s.f_frsize


class Loop:
    def __init__(self, kind, work, size_mib):
        self.kind, self.mnt = kind, os.path.join(work, f"mnt-{kind}")
        self.img = os.path.join(work, f"{kind}.img")
        mkfs = {"xfs": ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"], "btrfs": ["mkfs.btrfs", "-q", "-f"]}[kind]
        with open(self.img, "wb") as f:
            f.truncate(size_mib << 20)
        subprocess.run(mkfs + [self.img], check=True, capture_output=True)
        os.makedirs(self.mnt, exist_ok=True)
        subprocess.run(["mount", "-o", "loop", self.img, self.mnt], check=True, capture_output=True)

    def close(self):
        subprocess.run(["umount", self.mnt], capture_output=True)
        os.remove(self.img)


def backup(src, dests, cache, hour):
    opts = {"source": src, "destinations": dests, "cache_dir": cache, "disk_warning_percent": 100,
            "now": f"2026-11-25T{hour:02}:00:00"}
    t0 = time.perf_counter()
    p = subprocess.run([CLI, json.dumps(opts)], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(p.stdout + p.stderr)
    return secs, json.loads(p.stdout)


def padding(zip_path):
    """Bytes of alignment padding (extra field 0xD935) in the local headers."""
    import zipfile
    total = 0
    with open(zip_path, "rb") as f, zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            f.seek(info.header_offset + 26)
            name_len, extra_len = struct.unpack("<HH", f.read(4))
            f.seek(name_len, 1)
            extra = f.read(extra_len)
            while len(extra) >= 4:
                hid, n = struct.unpack("<HH", extra[:4])
                if hid == 0xD935:
                    total += 4 + n
                extra = extra[4 + n:]
    return total


def one(fs_name, root, src, cache_root):
    dests = [os.path.join(root, f"dest{i}") for i in (1, 2, 3)]
    for d in dests:
        shutil.rmtree(d, ignore_errors=True)
    cache = os.path.join(cache_root, f"cache-{fs_name}-{os.path.basename(src)}")
    shutil.rmtree(cache, ignore_errors=True)
    u0 = used(root)
    t_first, first = backup(src, dests, cache, 10)
    u1 = used(root)
    target = changed_file(src)
    with open(target, "ab") as f:
        f.write(b"// changed\n")
    t_changed, changed = backup(src, dests, cache, 11)
    u2 = used(root)
    archive = first["archive_bytes"]
    row = {
        "fs": fs_name, "corpus": os.path.basename(src), "files": first["file_count"],
        "source_bytes": first["source_bytes"], "archive_bytes": archive,
        "first_s": t_first, "changed_s": t_changed, "changed_over_first": t_changed / t_first,
        "first_used_bytes": u1 - u0, "first_used_over_archive": (u1 - u0) / archive,
        "changed_used_bytes": u2 - u1, "changed_used_over_archive": (u2 - u1) / archive,
        "changed_used_per_destination": (u2 - u1) / archive / 3,
        "bytes_cloned": changed.get("bytes_cloned", 0), "entries_reused": changed["entries_reused"],
        "first_timings": first["timings"], "changed_timings": changed["timings"],
        "notes": changed.get("notes", [])[-4:],
        "padding_bytes": padding(first["destinations"][0]["archive_path"]),
    }
    log(f"{fs_name}/{row['corpus']}: first {t_first:.2f}s, changed {t_changed:.2f}s "
        f"({row['changed_over_first']:.2f}), blocks first {row['first_used_over_archive']:.3f}x, "
        f"changed {100 * row['changed_used_over_archive']:.2f} % of one archive")
    for d in dests:
        shutil.rmtree(d, ignore_errors=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=None)
    ap.add_argument("--json")
    a = ap.parse_args()
    if not os.path.exists(CLI):
        subprocess.run(["cargo", "build", "--release", "--example", "backup_cli"], cwd=ROOT, check=True)
    work = a.work or tempfile.mkdtemp(prefix="cow-bench-", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    large = os.path.join(work, "corpus", "large")
    small = os.path.join(work, "corpus", "small")
    if not os.path.exists(large):
        log("generating corpora")
        gen_large(large)
        gen_small(small)
    rows, loops = [], []
    try:
        if os.geteuid() == 0:
            for kind in ("xfs", "btrfs"):
                try:
                    loops.append(Loop(kind, work, 2048))
                except Exception as e:  # noqa: BLE001
                    log(f"{kind}: no loop mount ({e}); skipped")
        places = [(lp.kind, lp.mnt) for lp in loops] + [("work-fs", os.path.join(work, "plain"))]
        for fs_name, root in places:
            os.makedirs(root, exist_ok=True)
            for src in (large, small):
                rows.append(one(fs_name, root, src, work))
        zip_out = os.path.join(work, "zip6.zip")
        if shutil.which("zip") and not os.path.exists(zip_out):
            subprocess.run(f"cd {large} && zip -q -r -6 {zip_out} .", shell=True, check=True)
        zip6 = os.path.getsize(zip_out) if os.path.exists(zip_out) else None
    finally:
        for lp in loops:
            lp.close()
    out = {"rows": rows, "zip6_large_bytes": zip6}
    print("| fs | corpus | archive | first s | changed s | changed/first | first blocks / archive (3 dest.) "
          "| changed blocks / archive (3 dest.) | cloned | padding |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fs']} | {r['corpus']} | {r['archive_bytes'] / 1e6:.1f} MB | {r['first_s']:.2f} | "
              f"{r['changed_s']:.2f} | {r['changed_over_first']:.2f} | {r['first_used_over_archive']:.3f} | "
              f"{100 * r['changed_used_over_archive']:.2f} % | {r['bytes_cloned'] / 1e6:.1f} MB | "
              f"{r['padding_bytes'] / 1e3:.0f} KB ({100 * r['padding_bytes'] / r['archive_bytes']:.2f} %) |")
    if zip6:
        big = [r for r in rows if r["corpus"] == "large"][0]
        print(f"\nlarge: archive / zip -r -6 = {big['archive_bytes'] / zip6:.4f} "
              f"(without padding {(big['archive_bytes'] - big['padding_bytes']) / zip6:.4f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
