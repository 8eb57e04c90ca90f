#!/usr/bin/env python3
"""The module's overhead on the small-file tree (issue 21's last targets), one run each.

    python3 benches/module_small.py [--work DIR] [--rounds N]

A generated tree of 20,000 files of 1-16 KB (a little .git), backed up to one
folder. Measured, warm page cache, median of N rounds where a round repeats:
  pwsh      `pwsh -NoProfile -Command exit`: pwsh's own start-up
  engine    examples/backup_cli (release): the engine alone, first and unchanged
  module    `pwsh -NoProfile -Command "Import-Module ...; Backup-Repo ..."`: first and unchanged
Targets: module unchanged - pwsh <= 0.3 s; module first - engine first - pwsh <= 0.2 s.
Prints the numbers and whether each target is met.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
CLI = os.path.join(TARGET, "release", "examples", "backup_cli")
MODULE = os.path.join(ROOT, "powershell", "BackupRepo", "BackupRepo.psd1")
PWSH = shutil.which("pwsh") or os.path.expanduser("~/.dotnet/tools/pwsh")


def tree(root):
    rng = random.Random(21)
    os.makedirs(os.path.join(root, ".git", "refs", "heads"))
    with open(os.path.join(root, ".git", "HEAD"), "w") as f:
        f.write("ref: refs/heads/main\n")
    base = bytes(rng.getrandbits(8) % 64 + 32 for _ in range(65536))
    for i in range(20000):
        d = os.path.join(root, "src", f"m{i % 200:03}")
        os.makedirs(d, exist_ok=True)
        n, off = rng.randint(1024, 16384), rng.randint(0, 65536 - 16384)
        with open(os.path.join(d, f"f{i:05}.txt"), "wb") as f:
            f.write(b"%d\n" % i + base[off:off + n])


def timed(cmd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="br-module-small-", dir=a.work)
    try:
        src = os.path.join(work, "small")
        tree(src)
        env = dict(os.environ, BACKUP_REPO_METRICS_DIR=os.path.join(work, "metrics"))
        pw, eng_first, eng_same, mod_first, mod_same = [], [], [], [], []
        for r in range(a.rounds):
            pw.append(timed([PWSH, "-NoProfile", "-Command", "exit"]))
            for kind, first, same in (("engine", eng_first, eng_same), ("module", mod_first, mod_same)):
                dest = os.path.join(work, f"d-{kind}-{r}")
                cache = os.path.join(work, f"cache-{kind}-{r}")
                if kind == "engine":
                    opts = json.dumps({"source": src, "destinations": [dest], "cache_dir": cache})
                    cmd = [CLI, opts]
                else:
                    script = (f"Import-Module '{MODULE}'; $null = Backup-Repo -Path '{src}' -Destination '{dest}' "
                              f"-ErrorAction Stop")
                    cmd = [PWSH, "-NoProfile", "-Command", script]
                    env["XDG_CACHE_HOME"] = cache
                first.append(timed(cmd, env))
                same.append(timed(cmd, env))
        m = statistics.median
        rows = {
            "pwsh start-up": m(pw),
            "engine first": m(eng_first),
            "engine unchanged": m(eng_same),
            "module first": m(mod_first),
            "module unchanged": m(mod_same),
        }
        for k, v in rows.items():
            print(f"{k:18} {v:7.3f} s")
        over_same = rows["module unchanged"] - rows["pwsh start-up"]
        over_first = rows["module first"] - rows["engine first"] - rows["pwsh start-up"]
        print(f"module unchanged - pwsh          = {over_same:+.3f} s (target <= +0.3: {'met' if over_same <= 0.3 else 'missed'})")
        print(f"module first - engine - pwsh     = {over_first:+.3f} s (target <= +0.2: {'met' if over_first <= 0.2 else 'missed'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
