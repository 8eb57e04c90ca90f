#!/usr/bin/env python3
"""Side-by-side benchmark of BackupRepo against what users would pick instead.

Every competitor runs on the same corpus in the same run, writing to three
destinations (the original script's pattern), through three cases:
  first      empty destinations (and an empty BackupRepo stat cache)
  unchanged  second run, nothing changed
  changed    one source file modified
Per case and tool: median and min wall time of N runs, bytes added to the
first destination, peak RSS of the largest process (GNU time %M), the ratio
to BackupRepo via the C ABI, and whether the run did what it should.

All timings are warm page cache (the corpus was just written or read); cold
cache would need root to drop caches and would mostly measure the disk.

Entry point: scripts/bench (gen | run | smoke | report | startup; startup is benches/startup.py).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import corpus  # noqa: E402

CASES = ("first", "unchanged", "changed")
TARGET_DIR = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
if not os.path.isabs(TARGET_DIR):
    TARGET_DIR = os.path.join(ROOT, TARGET_DIR)
LIB_DIR = os.path.join(TARGET_DIR, "release")
DRIVER = os.path.join(TARGET_DIR, "bench", "cabi_driver")
PSD1 = os.path.join(ROOT, "powershell", "BackupRepo", "BackupRepo.psd1")
PWSH = shutil.which("pwsh") or os.path.expanduser("~/.dotnet/tools/pwsh")
# Directories every tool leaves out (the corpus has these; BackupRepo's
# default rules exclude them, the others are told so explicitly).
EXCLUDED_DIRS = ("node_modules", "__pycache__")
EXCLUDED_GLOBS = ("*.pyc",)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Measuring one command
# ---------------------------------------------------------------------------

class Timed:
    def __init__(self, seconds, rss_kib, rc, out, err):
        self.seconds, self.rss_kib, self.rc, self.out, self.err = seconds, rss_kib, rc, out, err


def timed(cmd, env, cwd, timeout):
    """Run `cmd` (a bash string) under GNU time; wall time from here, peak RSS
    (KiB, the largest process of the tree) from time's %M. Killed as a process
    group on timeout so no tool outlives the harness."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        argv = ["/usr/bin/time", "-f", "%M", "-o", tf.name, "bash", "-c", cmd]
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            return Timed(time.perf_counter() - t0, 0, 124, out, err + f"\ntimeout after {timeout}s")
        seconds = time.perf_counter() - t0
        rss = 0
        try:
            rss = int(tf.read().strip().splitlines()[-1])
        except (ValueError, IndexError):
            pass
        return Timed(seconds, rss, p.returncode, out, err)


def dir_bytes(path):
    total = 0
    for dp, _, fns in os.walk(path):
        for fn in fns:
            try:
                total += os.lstat(os.path.join(dp, fn)).st_size
            except FileNotFoundError:
                pass
    return total


def q(s):
    """Single-quote for bash."""
    return "'" + str(s).replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------------
# Competitors
# ---------------------------------------------------------------------------

def isolated_env(work):
    """The environment a benchmarked command runs in: its own HOME/XDG
    folders under `work` (no cache or config leaks between tools or runs, and
    the user's real folders are never touched), the release library, no
    telemetry."""
    home = os.path.join(work, "home")
    e = dict(os.environ, HOME=home, XDG_CACHE_HOME=f"{home}/.cache", XDG_DATA_HOME=f"{home}/.local/share",
             XDG_CONFIG_HOME=f"{home}/.config", LD_LIBRARY_PATH=LIB_DIR, CARGO_TARGET_DIR=TARGET_DIR,
             RESTIC_PASSWORD="bench", BORG_PASSPHRASE="", BORG_BASE_DIR=f"{home}/borg",
             BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes", BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
             DOTNET_CLI_TELEMETRY_OPTOUT="1", POWERSHELL_TELEMETRY_OPTOUT="1",
             POWERSHELL_UPDATECHECK="Off")
    e["PATH"] = os.path.dirname(PWSH) + ":" + e.get("PATH", "")
    return e


class Tool:
    """One competitor. `command(case)` is a bash string run in the tool's work
    folder; `check(case, timed)` says whether it did what it should (a
    number from a run that silently did nothing is not a number)."""
    key = label = ""
    cases = CASES
    needs = ()
    note = ""
    # Names its archives with a 1-second stamp (must not start twice in one second).
    stamped = False

    def __init__(self, src, work):
        self.src, self.work = src, work
        self.dests = [os.path.join(work, f"dest{i}") for i in (1, 2, 3)]
        self.repo = os.path.basename(src.rstrip("/"))

    def available(self):
        missing = [n for n in self.needs if not (os.path.exists(n) if n.startswith("/") else shutil.which(n))]
        return (not missing, "missing: " + ", ".join(missing) if missing else "")

    def env(self):
        return isolated_env(self.work)

    def prepare(self):
        if os.path.exists(self.work):
            shutil.rmtree(self.work)
        for d in self.dests:
            os.makedirs(d)
        os.makedirs(os.path.join(self.work, "home"))
        self.setup()

    def setup(self):
        pass

    def command(self, case):
        raise NotImplementedError

    def check(self, case, t, added):
        if t.rc != 0:
            return f"exit {t.rc}: {(t.err or t.out).strip()[-300:]}"
        if case == "first" and added == 0:
            return "wrote nothing"
        return None

    def extra(self, case, t):
        return {}

    def copies(self, build):
        """Build into dest1, then copy to dest2 and dest3: the cheapest way a
        user gets three destinations from a single-archive tool."""
        name = os.path.basename(build)
        cp = " && ".join(f"cp {q(build)} {q(os.path.join(d, name))}" for d in self.dests[1:])
        return cp


class BrCabi(Tool):
    stamped = True
    key, label = "br-cabi", "BackupRepo (C ABI)"
    note = "one br_backup call, 3 destinations, stat cache in the tool's folder"

    @property
    def needs(self):
        return (DRIVER,)

    def options(self):
        return {"source": self.src, "destinations": self.dests, "cache_dir": os.path.join(self.work, "cache")}

    def command(self, case):
        return f"{q(DRIVER)} backup {q(json.dumps(self.options()))}"

    def report(self, t):
        try:
            return json.loads(t.out)
        except ValueError:
            return None

    def check(self, case, t, added):
        bad = super().check(case, t, added)
        if bad:
            return bad
        r = self.report(t)
        if r is None:
            return "no report"
        want = "skipped" if case == "unchanged" else "created"
        if r.get("status") != want:
            return f"status {r.get('status')}, expected {want}"
        return None

    def extra(self, case, t):
        r = self.report(t) or {}
        keys = ("file_count", "source_bytes", "archive_bytes", "files_hashed", "files_cached", "entries_reused",
                "timings")
        x = {k: r.get(k) for k in keys if k in r}
        for line in t.err.splitlines():
            if line.startswith("driver-seconds"):
                x["driver_seconds"] = float(line.split()[1])
        return x


def module_available(found):
    ok, why = found
    if ok and not os.path.isdir(os.path.join(ROOT, "powershell", "BackupRepo", "bin")):
        return False, "module assembly not built (scripts/build)"
    return ok, why


class BrModule(Tool):
    stamped = True
    key, label = "br-module", "BackupRepo (pwsh module)"
    note = "fresh `pwsh -NoProfile`, Import-Module, Backup-Repo"
    needs = (PWSH, PSD1)

    def available(self):
        return module_available(Tool.available(self))

    def command(self, case):
        dests = ",".join(q(d) for d in self.dests)
        script = (f"$ErrorActionPreference='Stop'; Import-Module {q(PSD1)}; "
                  f"$r = Backup-Repo -Path {q(self.src)} -Destination {dests}; \"status=$($r.Status)\"")
        return f"{q(PWSH)} -NoProfile -NonInteractive -Command {q(script)}"

    def check(self, case, t, added):
        bad = super().check(case, t, added)
        if bad:
            return bad
        want = "Skipped" if case == "unchanged" else "Created"
        if f"status={want}" not in t.out:
            return f"expected {want}: {t.out.strip()[-200:]}"
        return None


class BrDropIn(Tool):
    key, label = "br-dropin", "BackupRepo (drop-in backup-repo.ps1)"
    note = "fresh `pwsh -NoProfile -File powershell/backup-repo.ps1 -OutputFormat json` from the repository root"
    stamped = True
    needs = (PWSH, os.path.join(ROOT, "powershell", "backup-repo.ps1"))
    def available(self):
        return module_available(Tool.available(self))

    def env(self):
        return dict(super().env(), BACKUP_REPO_DESTINATIONS=":".join(self.dests))

    def run_in(self):
        return self.src

    def command(self, case):
        return (f"{q(PWSH)} -NoProfile -NonInteractive -File {q(os.path.join(ROOT, 'powershell', 'backup-repo.ps1'))} "
                f"-OutputFormat json")

    def check(self, case, t, added):
        bad = super().check(case, t, added)
        if bad:
            return bad
        try:
            status = json.loads(t.out)["status"]
        except (ValueError, KeyError, TypeError):
            return f"no JSON: {t.out.strip()[-200:]}"
        want = "skipped" if case == "unchanged" else "success"
        return None if status == want else f"status {status}, expected {want}"


class Original(Tool):
    stamped = True
    key, label = "original", "original script's method (.NET ZipArchive Optimal x3 + SHA-256)"
    needs = (PWSH,)
    flag = ""

    def command(self, case):
        return (f"{q(PWSH)} -NoProfile -NonInteractive -File {q(os.path.join(HERE, 'original.ps1'))} "
                f"-Source {q(self.src)} -Destination {q(','.join(self.dests))} {self.flag}")

    def check(self, case, t, added):
        bad = Tool.check(self, case, t, added)
        if bad:
            return bad
        want = "skipped=3" if case == "unchanged" else "created=3"
        return None if want in t.out else f"expected {want}: {t.out.strip()[-200:]}"


class CompressArchive(Original):
    key, label = "compress-archive", "Compress-Archive x3 + SHA-256"
    flag = "-CompressArchive"
    note = ("no exclusions: nested __pycache__ included, top-level dot-files cannot be added; its ZIPs differ "
            "byte-wise between runs of the same tree, so the SHA-256 duplicate check never skips")

    def check(self, case, t, added):
        # Its output is not reproducible: "unchanged" creates three new ZIPs.
        return Tool.check(self, case, t, added) or (None if "created=3" in t.out else t.out.strip()[-200:])


def zip_excludes():
    return " ".join(q(x) for x in ("node_modules/*", "*/node_modules/*", "*/__pycache__/*", "__pycache__/*", "*.pyc"))


class Zip3(Tool):
    key, label = "zip-6x3", "Info-ZIP zip -r -6, x3 (original's pattern)"
    needs = ("zip",)

    def command(self, case):
        out = []
        for d in self.dests:
            z = os.path.join(d, f"{self.repo}_{case}.zip")
            out.append(f"(cd {q(self.src)} && zip -r -6 -q {q(z)} . -x {zip_excludes()})")
        return " && ".join(out)


class Zip1(Tool):
    key, label = "zip-6x1", "Info-ZIP zip -r -6, one archive"
    needs = ("zip",)
    cases = ("first",)

    def command(self, case):
        z = os.path.join(self.dests[0], f"{self.repo}_{case}.zip")
        return f"cd {q(self.src)} && zip -r -6 -q {q(z)} . -x {zip_excludes()}"


class SevenZip(Tool):
    key, label = "7z", "7-Zip a -tzip -mmt=on (+2 copies)"
    note = "built once, copied to the other two destinations"

    @property
    def exe(self):
        return shutil.which("7zz") or shutil.which("7z") or "7z"

    @property
    def needs(self):
        return (self.exe,)

    def command(self, case):
        z = os.path.join(self.dests[0], f"{self.repo}_{case}.zip")
        ex = " ".join(q(f"-xr!{x}") for x in EXCLUDED_DIRS + EXCLUDED_GLOBS)
        return f"cd {q(self.src)} && {q(self.exe)} a -tzip -mmt=on -bso0 -bsp0 {q(z)} . {ex} && {self.copies(z)}"


class TarZstd(Tool):
    key, label = "tar-zstd", "tar | zstd -T0 (+2 copies)"
    needs = ("tar", "zstd")
    note = "built once, copied to the other two destinations"

    def command(self, case):
        z = os.path.join(self.dests[0], f"{self.repo}_{case}.tar.zst")
        ex = " ".join(f"--exclude={q(x)}" for x in EXCLUDED_DIRS + EXCLUDED_GLOBS)
        return (f"set -o pipefail; tar -cf - {ex} -C {q(self.src)} . | zstd -T0 -q -o {q(z)} && {self.copies(z)}")


class Restic(Tool):
    key, label = "restic", "restic backup (3 repositories)"
    needs = ("restic",)
    note = "one repository per destination, `init` untimed; default cache under the tool's HOME"

    def setup(self):
        for d in self.dests:
            subprocess.run(["restic", "init", "-q", "--repo", os.path.join(d, "restic")], env=self.env(),
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def command(self, case):
        ex = " ".join(f"--exclude={q(x)}" for x in EXCLUDED_DIRS + EXCLUDED_GLOBS)
        return " && ".join(
            f"restic backup -q --host bench --repo {q(os.path.join(d, 'restic'))} {ex} {q(self.src)}"
            for d in self.dests)


class Borg(Tool):
    key, label = "borg", "borg create (3 repositories)"
    needs = ("borg",)
    note = "one unencrypted repository per destination, default lz4, `init` untimed"

    def setup(self):
        for d in self.dests:
            subprocess.run(["borg", "init", "-e", "none", os.path.join(d, "borg")], env=self.env(), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def command(self, case):
        ex = " ".join(f"--exclude {q('sh:**/' + x)}" for x in EXCLUDED_DIRS + EXCLUDED_GLOBS)
        return " && ".join(f"borg create {ex} {q(os.path.join(d, 'borg') + '::' + case + '-{now:%H%M%S%f}')} ."
                           for d in self.dests)

    def run_in(self):
        return self.src


TOOLS = [BrCabi, BrModule, BrDropIn, Original, CompressArchive, Zip3, Zip1, SevenZip, TarZstd, Restic, Borg]
TOOL_KEYS = [t.key for t in TOOLS]


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

def changed_file(src):
    """The source file the "changed" case modifies: a mid-sized text file
    outside .git, chosen deterministically."""
    best = None
    for dp, dns, fns in os.walk(src):
        dns[:] = sorted(d for d in dns if d not in (".git",) + EXCLUDED_DIRS)
        for fn in sorted(fns):
            if fn.endswith((".py", ".rs", ".ts", ".md", ".c", ".cs", ".go")):
                p = os.path.join(dp, fn)
                s = os.path.getsize(p)
                if 2000 <= s <= 64000:
                    return p
                best = best or p
    return best


def build_driver():
    """Compile the C driver against the header and the release library."""
    lib = os.path.join(LIB_DIR, "libbackup_repo.so")
    if not os.path.exists(lib):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    os.makedirs(os.path.dirname(DRIVER), exist_ok=True)
    src = os.path.join(HERE, "cabi_driver.c")
    if (not os.path.exists(DRIVER) or os.path.getmtime(DRIVER) < max(os.path.getmtime(src), os.path.getmtime(lib))):
        subprocess.run(["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(ROOT, "include"),
                        src, "-L", LIB_DIR, "-lbackup_repo", f"-Wl,-rpath,{LIB_DIR}", "-o", DRIVER], check=True)


def warm(src):
    """Read every file of the corpus (untimed) so each command starts with it
    in the page cache: borg drops what it read from the cache (fadvise
    DONTNEED), which otherwise makes whoever runs after it read from disk."""
    buf = bytearray(1 << 20)
    for dp, _, fns in os.walk(src):
        for fn in fns:
            try:
                with open(os.path.join(dp, fn), "rb", buffering=0) as f:
                    while f.readinto(buf):
                        pass
            except OSError:
                pass


def wait_next_second(prev_end):
    # Archive names carry a 1-second stamp: two runs in the same second would
    # collide (BackupRepo refuses, the original would overwrite). Untimed.
    if prev_end is not None and int(time.time()) == int(prev_end):
        time.sleep(1.0 - (time.time() % 1.0) + 0.01)


def run_bench(src, tools, runs, timeout, work, progress=True):
    """Returns {"results": [...], "failures": [...], "skipped_tools": {...}}."""
    target = changed_file(src)
    with open(target, "rb") as f:
        pristine = f.read()
    samples = {}  # (tool, case) -> list of dicts
    failures, unavailable = [], {}
    chosen = []
    for cls in tools:
        t = cls(src, os.path.join(work, cls.key))
        ok, why = t.available()
        if ok:
            chosen.append(t)
        else:
            unavailable[cls.key] = why
            log(f"  skip {cls.key}: {why}")
    try:
        for r in range(runs):
            for tool in chosen:
                try:
                    tool.prepare()
                except Exception as e:  # setup of a competitor failed: report, go on
                    failures.append({"tool": tool.key, "case": "setup", "run": r, "error": str(e)[-300:]})
                    log(f"  FAIL {tool.key} setup: {e}")
                    continue
                prev_end = None
                for case in CASES:
                    if case == "changed":
                        with open(target, "ab") as f:
                            f.write(f"\n# changed by the benchmark: run {r} {tool.key}\n".encode())
                    if case not in tool.cases:
                        continue
                    if tool.stamped:
                        wait_next_second(prev_end)
                    before = dir_bytes(tool.dests[0])
                    # Untimed: flush what earlier commands left dirty (a tool's
                    # deleted repositories, a corpus just written), so its
                    # journal commit is not billed to the next tool's fsyncs.
                    os.sync()
                    warm(src)
                    res = timed(tool.command(case), tool.env(), getattr(tool, "run_in", lambda: tool.work)(),
                                timeout)
                    prev_end = time.time()
                    added = dir_bytes(tool.dests[0]) - before
                    bad = tool.check(case, res, added)
                    if bad:
                        failures.append({"tool": tool.key, "case": case, "run": r, "error": bad})
                        log(f"  FAIL {tool.key:16} {case:9} {bad}")
                        if case == "first":
                            break  # later cases depend on the first
                        continue
                    s = {"seconds": res.seconds, "rss_kib": res.rss_kib, "bytes": added, **tool.extra(case, res)}
                    samples.setdefault((tool.key, case), []).append(s)
                    if progress:
                        log(f"  run {r + 1}/{runs} {tool.key:16} {case:9} {res.seconds:8.3f} s "
                            f"{added / 1e6:9.2f} MB {res.rss_kib / 1024:7.1f} MiB")
                # Put the corpus back for the next tool (content; mtime moves on).
                with open(target, "wb") as f:
                    f.write(pristine)
                shutil.rmtree(tool.work, ignore_errors=True)
    finally:
        with open(target, "wb") as f:
            f.write(pristine)
    results = []
    for cls in tools:
        for case in CASES:
            ss = samples.get((cls.key, case))
            if not ss:
                continue
            secs = [s["seconds"] for s in ss]
            row = {"tool": cls.key, "label": cls.label, "case": case, "runs": len(ss),
                   "median_s": statistics.median(secs), "min_s": min(secs),
                   "bytes": int(statistics.median(s["bytes"] for s in ss)),
                   "peak_rss_mib": max(s["rss_kib"] for s in ss) / 1024}
            extra = {k: v for k, v in ss[-1].items() if k not in ("seconds", "rss_kib", "bytes")}
            if extra:
                row["engine"] = extra
            results.append(row)
    base = {r["case"]: r["median_s"] for r in results if r["tool"] == "br-cabi"}
    for row in results:
        b = base.get(row["case"])
        row["ratio_to_br_cabi"] = row["median_s"] / b if b else None
    return {"results": results, "failures": failures, "unavailable": unavailable,
            "changed_file": os.path.relpath(target, src),
            "notes": {cls.key: cls.note for cls in tools if cls.note}}


def engine_check(src, runs, work):
    """The engine's "unchanged?" check (br_fingerprint with a warm stat cache,
    timed inside the driver) vs a bare lstat walk of the same tree."""
    if not os.path.exists(DRIVER):
        return None
    cache = os.path.join(work, "fp-cache")
    shutil.rmtree(cache, ignore_errors=True)
    opts = json.dumps({"source": src, "cache_dir": cache})

    def driver(mode, arg):
        p = subprocess.run([DRIVER, mode, arg], capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, LD_LIBRARY_PATH=LIB_DIR))
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip()[-300:])
        secs = [float(x.split()[1]) for x in p.stderr.splitlines() if x.startswith("driver-seconds")][0]
        return secs, json.loads(p.stdout)

    cold, first = driver("fingerprint", opts)  # fills the stat cache
    checks, walks = [], []
    for _ in range(max(3, runs)):
        s, rep = driver("fingerprint", opts)
        checks.append(s)
        walks.append(driver("statwalk", src)[0])
    find = []
    for _ in range(max(3, runs)):
        t0 = time.perf_counter()
        subprocess.run(["find", src, "(", "-name", "node_modules", "-o", "-name", "__pycache__", ")", "-prune",
                        "-o", "-printf", "%s %T@\n"], stdout=subprocess.DEVNULL, check=True)
        find.append(time.perf_counter() - t0)
    shutil.rmtree(cache, ignore_errors=True)
    check, walk = statistics.median(checks), statistics.median(walks)
    return {"cold_fingerprint_s": cold, "check_s": check, "check_min_s": min(checks),
            "files_cached": rep.get("files_cached"), "files_read": rep.get("files_read"),
            "stat_walk_s": walk, "stat_walk_min_s": min(walks), "find_s": statistics.median(find),
            "ratio": check / walk if walk else None, "target_ratio": 3.0}


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(next(l.split()[1] for l in f if l.startswith("MemTotal"))) // 1024
    except (OSError, StopIteration):
        pass

    def ver(cmd, pattern=r"\d+\.\d+(\.\d+)?"):
        """The first version-looking number in the tool's output."""
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            m = re.search(pattern, p.stdout + p.stderr)
            return m.group(0) if m else None
        except Exception:
            return None

    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_mib": mem, "kernel": platform.release(),
            "versions": {"pwsh": ver([PWSH, "-NoProfile", "-c", "$PSVersionTable.PSVersion.ToString()"]),
                         "zip": ver(["zip", "-v"], r"(?<=Zip )\d+\.\d+") if shutil.which("zip") else None,
                         "7z": ver([shutil.which("7zz") or "7z"]) if (shutil.which("7zz") or shutil.which("7z")) else None,
                         "zstd": ver(["zstd", "--version"]) if shutil.which("zstd") else None,
                         "restic": ver(["restic", "version"]) if shutil.which("restic") else None,
                         "borg": ver(["borg", "--version"]) if shutil.which("borg") else None}}


def pwsh_startup(runs, src):
    """pwsh -NoProfile start-up alone (the "within 0.3 s of pwsh" target), and
    Import-Module + Backup-Repo -WhatIf on the corpus (the "< 0.5 s beyond
    pwsh" target)."""
    if not os.path.exists(PWSH):
        return None

    def median_of(script):
        secs = []
        for _ in range(max(3, runs)):
            t0 = time.perf_counter()
            p = subprocess.run([PWSH, "-NoProfile", "-NonInteractive", "-Command", script],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            secs.append(time.perf_counter() - t0)
            if p.returncode != 0:
                return None
        return statistics.median(secs), min(secs)

    out = {}
    base = median_of("exit 0")
    if base:
        out["median_s"], out["min_s"] = base
    if os.path.isdir(os.path.join(ROOT, "powershell", "BackupRepo", "bin")):
        w = median_of(f"Import-Module {q(PSD1)}; $null = Backup-Repo -Path {q(src)} -Destination /nonexistent/x -WhatIf")
        if w:
            out["whatif_median_s"], out["whatif_min_s"] = w
    return out


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def fmt_s(x):
    return "–" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def markdown(data):
    lines = []
    c = data["corpus"]
    lines.append(f"Corpus: `{c.get('name')}`: {c['selected_files']:,} files / {c['selected_bytes'] / 1e6:.1f} MB "
                 f"selected ({c['files']:,} files / {c['bytes'] / 1e6:.1f} MB on disk, "
                 f".git {c['git_bytes'] / 1e6:.1f} MB of which pack {c['pack_bytes'] / 1e6:.1f} MB = "
                 f"{100 * c['pack_bytes'] / max(1, c['bytes']):.0f} % of all bytes; "
                 f"excluded node_modules/__pycache__ {c['excluded_bytes'] / 1e6:.1f} MB). "
                 f"Runs per number: {data['runs']}.")
    la = data.get("loadavg")
    if la and la.get("before") and la.get("after"):
        lines.append("")
        lines.append(f"Load average (1/5/15 min) before: {' '.join(map(str, la['before']))}, after: "
                     f"{' '.join(map(str, la['after']))} on {os.cpu_count()} cores: other jobs shared the machine, "
                     f"so medians carry their noise; min is the less disturbed number.")
    lines.append("")
    for case in CASES:
        rows = [r for r in data["results"] if r["case"] == case]
        if not rows:
            continue
        lines.append(f"### {case}")
        lines.append("")
        lines.append("| tool | median s | min s | × BackupRepo (C ABI) | bytes added (dest 1) | peak RSS MiB |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for r in sorted(rows, key=lambda r: r["median_s"]):
            ratio = "–" if r["ratio_to_br_cabi"] is None else f"{r['ratio_to_br_cabi']:.2f}"
            lines.append(f"| {r['label'].replace('|', '&#124;')} | {fmt_s(r['median_s'])} | {fmt_s(r['min_s'])} | {ratio} | "
                         f"{r['bytes']:,} | {r['peak_rss_mib']:.1f} |")
        lines.append("")
    e = data.get("engine_check")
    if e:
        lines.append(f"Engine-only unchanged check (br_fingerprint, warm stat cache, {e['files_cached']} files "
                     f"answered by the cache, {e['files_read']} read): {e['check_s'] * 1000:.1f} ms; bare lstat "
                     f"walk of the same tree (C, fts): {e['stat_walk_s'] * 1000:.1f} ms; ratio "
                     f"**{e['ratio']:.1f}x** (target ≤ 3x). `find -printf` walk: {e['find_s'] * 1000:.1f} ms "
                     f"(process included). Cold fingerprint (empty cache): {e['cold_fingerprint_s'] * 1000:.1f} ms.")
        lines.append("")
    p = data.get("pwsh_startup")
    if p:
        lines.append(f"`pwsh -NoProfile -Command 'exit 0'` start-up: {p['median_s']:.3f} s (min {p['min_s']:.3f}).")
        if "whatif_median_s" in p:
            lines.append(f"`Import-Module BackupRepo; Backup-Repo -WhatIf` on this corpus in a fresh pwsh: "
                         f"{p['whatif_median_s']:.3f} s (min {p['whatif_min_s']:.3f}), "
                         f"{p['whatif_median_s'] - p['median_s']:+.3f} s beyond pwsh's start-up (target < 0.5 s).")
        lines.append("")
    if data.get("unavailable"):
        lines.append("Not run: " + "; ".join(f"{k} ({v})" for k, v in data["unavailable"].items()))
        lines.append("")
    if data.get("failures"):
        lines.append("Failures:")
        for f in data["failures"]:
            lines.append(f"- {f['tool']} / {f['case']} (run {f['run']}): {f['error']}")
        lines.append("")
    return "\n".join(lines)


def prepare_corpus(a, work):
    if a.corpus:
        src = os.path.abspath(a.corpus)
        info = corpus.describe(src)
        info["name"] = src
    elif a.size == corpus.WIDE:
        src = os.path.join(work, "corpus", "bench-wide")
        log(f"generating the {corpus.WIDE} tree in {src}")
        info = corpus.generate_wide(src, a.seed)
    else:
        src = os.path.join(work, "corpus", f"bench-{a.size.lower()}")
        log(f"generating {a.size} corpus in {src} (seed {a.seed})")
        info = corpus.generate(src, corpus.parse_size(a.size), a.seed)
        info["name"] = f"generated {a.size}, seed {a.seed}"
    return src, info


def cmd_run(a, smoke=False):
    work = os.path.abspath(a.work) if a.work else tempfile.mkdtemp(prefix="br-bench-")
    os.makedirs(work, exist_ok=True)
    keep_work = bool(a.work) or a.keep
    try:
        build_driver()
        src, info = prepare_corpus(a, work)
        keys = a.tools.split(",") if a.tools else TOOL_KEYS
        unknown = set(keys) - set(TOOL_KEYS)
        if unknown:
            raise SystemExit(f"unknown tools: {', '.join(sorted(unknown))} (known: {', '.join(TOOL_KEYS)})")
        tools = [t for t in TOOLS if t.key in keys]
        log(f"tools: {', '.join(t.key for t in tools)}; runs: {a.runs}")
        load_before = loadavg()
        data = run_bench(src, tools, a.runs, a.timeout, os.path.join(work, "tools"))
        # Other work on the machine skews medians; record how busy it was.
        data["loadavg"] = {"before": load_before, "after": loadavg()}
        data.update({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "machine": None if smoke else machine(), "corpus": info, "runs": a.runs})
        try:
            data["engine_check"] = engine_check(src, a.runs, work)
        except Exception as e:
            data["failures"].append({"tool": "engine-check", "case": "unchanged", "run": 0, "error": str(e)})
        if not smoke:
            data["pwsh_startup"] = pwsh_startup(a.runs, src)
        md = markdown(data)
        print(md)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(data, f, indent=2)
            log(f"JSON: {a.json}")
        return data
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)


def cmd_smoke(a):
    """Tiny corpus, one run, the fast tools; exit non-zero if anything failed.
    One "test" per tool x case that produced a number."""
    a.size, a.runs, a.corpus = a.size or "1M", 1, None
    # The quick tools plus the ones whose invocation is most fragile (pwsh,
    # restic); borg and Compress-Archive only add seconds, the full run has them.
    a.tools = a.tools or "br-cabi,br-module,br-dropin,original,zip-6x3,7z,tar-zstd,restic"
    a.timeout = min(a.timeout, 40)
    passed = failed = 0
    try:
        data = cmd_run(a, smoke=True)
        passed = len(data["results"])
        failed = len(data["failures"])
        if data.get("engine_check") is None:
            failed += 1
        else:
            passed += 1
        if "br-module" in a.tools.split(","):
            import startup
            a.work, a.installed_only = None, True
            try:
                startup.cmd_startup(a, smoke=True)
                passed += 1
            except Exception as e:
                log(f"startup: {e}")
                failed += 1
    except Exception as e:  # the harness itself broke: that is a failure too
        log(f"harness error: {e!r}")
        failed += 1
    print(f"bench-smoke: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


def render_results(data, out):
    m = data["machine"]
    v = ", ".join(f"{k} {x}" for k, x in m["versions"].items() if x)
    head = [
        "# BackupRepo benchmark results",
        "",
        f"Date: {data['date']}. Machine: {m['nproc']} cores ({m['cpu']}), {m['mem_mib']:,} MiB RAM, "
        f"Linux {m['kernel']}. Tools: {v}.",
        "",
        "Produced by `scripts/bench report`; every tool ran on the same corpus in the same run, writing to three "
        "destinations, warm page cache. Ratios are median time / BackupRepo (C ABI) median time in the same case. "
        "Bytes are what the run added to destination 1 (for restic and borg: repository growth).",
        "",
    ]
    notes = ["Tool notes:", ""] + [f"- `{k}`: {v}" for k, v in data.get("notes", {}).items()] + [""]
    body = markdown(data)
    with open(out, "w") as f:
        f.write("\n".join(head) + "\n## Results\n\n" + body + "\n" + "\n".join(notes))
        if data.get("analysis"):
            f.write("\n" + data["analysis"].rstrip() + "\n")


def cmd_report(a):
    if a.from_json:
        with open(a.from_json) as f:
            data = json.load(f)
    else:
        a.json = a.json or os.path.join(HERE, "results.json")
        data = cmd_run(a)
    if a.analysis:
        with open(a.analysis) as f:
            data["analysis"] = f.read()
    out = os.path.join(HERE, "RESULTS.md")
    render_results(data, out)
    log(f"wrote {out}")
    return 0


def main():
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", help="generate a corpus")
    g.add_argument("--size", default="50M")
    g.add_argument("--out", required=True)
    g.add_argument("--seed", type=int, default=8)
    for name in ("run", "smoke", "report", "startup"):
        p = sub.add_parser(name)
        p.add_argument("--size", default=None if name == "smoke" else "50M", help="2M, 50M, 500M, 2G or bytes; " + corpus.WIDE + ": 100,000 files and a 5 GiB file (the memory target)")
        p.add_argument("--corpus", help="benchmark this folder instead of a generated one (read-only except "
                                        "one file changed and put back)")
        p.add_argument("--seed", type=int, default=8)
        p.add_argument("--runs", type=int, default=3)
        p.add_argument("--tools", help="comma-separated subset of: " + ",".join(TOOL_KEYS))
        p.add_argument("--timeout", type=float, default=1800, help="per command, seconds")
        p.add_argument("--work", help="work folder (kept); default a temp folder removed at the end")
        p.add_argument("--keep", action="store_true", help="keep the temp work folder")
        p.add_argument("--json", help="write the results as JSON here")
        if name == "startup":
            p.add_argument("--installed-only", action="store_true",
                           help="measure the installed pwsh only (no ReadyToRun copy)")
        if name == "report":
            p.add_argument("--from", dest="from_json", help="render RESULTS.md from this JSON, no run")
            p.add_argument("--analysis", help="Markdown file appended to RESULTS.md (targets, profile)")
    a = ap.parse_args()
    if a.cmd == "gen":
        json.dump(corpus.generate(os.path.abspath(a.out), corpus.parse_size(a.size), a.seed), sys.stdout, indent=2)
        print()
        return 0
    if a.cmd == "smoke":
        return cmd_smoke(a)
    if a.cmd == "report":
        return cmd_report(a)
    if a.cmd == "startup":
        import startup
        startup.cmd_startup(a)
        return 0
    cmd_run(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
