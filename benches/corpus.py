#!/usr/bin/env python3
"""Deterministic generator of a realistic repository for the benchmarks.

What "realistic" means here, and why each part exists:
- source files of typical sizes (log-normal, median ~4 KB) built from code-like
  lines, so deflate sees the redundancy of real code (ratio ~3-5x), not random
  bytes and not trivially repeated text;
- docs (Markdown), JSON/YAML/TOML configs, deep folder chains;
- binaries that do not compress (png/jpg-like random data, real .zip/.gz made
  from text) and some that compress a little (.so-like: zeros + random), so
  that "store what does not compress" matters as it does in real repositories;
- a REAL .git made with the git CLI: a few commits of the tree, large blobs
  that lived in history and were deleted later (as real repositories carry),
  then `git gc`, so that most bytes (~60-75 %) sit in one already-compressed pack;
- node_modules/ and __pycache__/ (ignored by .gitignore) that every tool
  must exclude.

Same seed and size give the same working tree and the same commits (dates and
identities are fixed); only the pack's internal layout may vary with git's
threading.
"""
import argparse
import gzip
import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile

SIZES = {"2M": 2 << 20, "50M": 50 << 20, "500M": 500 << 20, "2G": 2 << 30}

WORDS = (
    "data value result index count item items config path name file files buffer "
    "request response client server handler context state cache key keys token "
    "user session options settings tracer error errors message payload stream "
    "reader writer parser node tree entry entries archive backup source target "
    "input output offset length size total start end begin next prev parent child "
    "list map set queue stack table row column record field schema model view "
    "update create delete fetch load save read write open close flush sync"
).split()
TYPES = "int str bool float bytes list dict None Optional[str] Path u64 usize String".split()


def parse_size(text):
    text = text.strip().upper()
    if text in SIZES:
        return SIZES[text]
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1] in mult:
        return int(float(text[:-1]) * mult[text[-1]])
    return int(text)


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        # A pool of code lines: files are runs of these with local edits, which
        # gives the mix of repetition and novelty that real source has.
        self.pool = [self._line() for _ in range(40000)]

    def ident(self):
        r = self.r
        n = r.choice((1, 1, 2, 2, 3))
        return "_".join(r.choice(WORDS) for _ in range(n))

    def _line(self):
        r, i = self.r, self.ident
        indent = " " * (4 * r.choice((0, 1, 1, 2, 2, 2, 3, 3, 4)))
        t = r.randrange(14)
        if t == 0:
            s = f"def {i()}(self, {i()}: {r.choice(TYPES)}, {i()}={r.randrange(100)}) -> {r.choice(TYPES)}:"
        elif t == 1:
            s = f"{i()} = {i()}.{i()}({i()}, {i()}={r.choice(('True', 'False', 'None', str(r.randrange(4096))))})"
        elif t == 2:
            s = f"if {i()} is not None and len({i()}) > {r.randrange(64)}:"
        elif t == 3:
            s = f"return {i()}[{r.randrange(16)}] + {i()}"
        elif t == 4:
            s = f"# {' '.join(r.choice(WORDS) for _ in range(r.randrange(4, 14)))}."
        elif t == 5:
            s = f"for {i()} in {i()}.{i()}():"
        elif t == 6:
            s = f'raise {r.choice(("ValueError", "KeyError", "RuntimeError"))}(f"invalid {i()}: {{{i()}!r}}")'
        elif t == 7:
            s = f"let {i()}: {r.choice(TYPES)} = {i()}.{i()}()?;"
        elif t == 8:
            s = f"self.{i()} = {i()}"
        elif t == 9:
            s = f'logger.debug("{" ".join(r.choice(WORDS) for _ in range(r.randrange(3, 8)))} %s", {i()})'
        elif t == 10:
            s = f"{i()}.append(({i()}, {r.randrange(1 << 16):#06x}))"
        elif t == 11:
            s = f"assert {i()} == {i()}, {r.randrange(1000)}"
        elif t == 12:
            s = f"import {i().split('_')[0]}" if r.random() < 0.5 else f"from {self.ident()} import {i()}"
        else:
            s = ""
        return indent + s

    def text(self, size):
        """Code-like text of about `size` bytes."""
        r, pool = self.r, self.pool
        out, n = [], 0
        while n < size:
            start = r.randrange(len(pool))
            for k in range(r.randrange(3, 25)):
                line = pool[(start + k) % len(pool)]
                if r.random() < 0.15:
                    line = line + f"  # {self.ident()} {r.randrange(10000)}"
                out.append(line)
                n += len(line) + 1
        return ("\n".join(out) + "\n").encode()[:max(size, 1)]

    def prose(self, size):
        r = self.r
        out, n = [], 0
        while n < size:
            if r.random() < 0.1:
                line = "#" * r.randint(1, 3) + " " + " ".join(r.choice(WORDS).capitalize() for _ in range(r.randint(2, 5)))
            else:
                line = " ".join(r.choice(WORDS) for _ in range(r.randint(8, 20))).capitalize() + "."
            out.append(line)
            n += len(line) + 1
        return ("\n".join(out) + "\n").encode()[:size]

    def json_doc(self, size):
        r = self.r
        obj, n = {}, 0
        while n < size:
            k = self.ident()
            v = {"name": self.ident(), "enabled": r.random() < 0.5, "limit": r.randrange(1 << 20),
                 "tags": [r.choice(WORDS) for _ in range(r.randrange(1, 6))]}
            obj[f"{k}_{len(obj)}"] = v
            n += 90 + len(k)
        return json.dumps(obj, indent=2).encode()

    def random_bytes(self, size):
        return self.r.randbytes(size)

    def half_binary(self, size):
        """Like an executable: runs of zeros and tables between random code."""
        r, out, n = self.r, bytearray(), 0
        while n < size:
            k = r.randrange(256, 8192)
            out += r.randbytes(k) if r.random() < 0.5 else bytes(k)
            n += k
        return bytes(out[:size])

    def zip_of_text(self, size):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            i = 0
            while buf.tell() < size:
                info = zipfile.ZipInfo(f"part{i}.txt", date_time=(2024, 1, 1, 0, 0, 0))
                z.writestr(info, self.text(16384) + self.r.randbytes(2048), zipfile.ZIP_DEFLATED)
                i += 1
        return buf.getvalue()

    def gz_of_text(self, size):
        # Text plus some noise, so the result is a real gzip of about `size`.
        raw = self.text(size * 2) + self.r.randbytes(size // 2)
        return gzip.compress(raw, 6, mtime=0)

    def lognormal(self, median, sigma, lo, hi):
        v = int(self.r.lognormvariate(0, sigma) * median)
        return max(lo, min(hi, v))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def folder(g, depth_max=9):
    """A folder path; some chains are deep (real projects nest)."""
    r = g.r
    top = r.choice(["src", "src", "src", "lib", "tests", "tools", "packages", "docs", "internal"])
    depth = min(depth_max, int(r.expovariate(0.45)) + 1)
    parts = [top] + [r.choice(WORDS) + ("s" if r.random() < 0.2 else "") for _ in range(depth)]
    return "/".join(parts)


def tree_files(g, budget, wt_fraction_text=0.82):
    """Plan the working tree: [(rel, kind, size)] summing to about `budget`."""
    r = g.r
    files, used = [], 0
    folders = [folder(g) for _ in range(max(8, budget // (96 << 10)))]
    exts = [(".py", 30), (".rs", 15), (".ts", 15), (".js", 8), (".cs", 8), (".c", 4), (".h", 4),
            (".go", 6), (".sh", 2), (".ps1", 3), (".sql", 2), (".css", 3)]
    population, weights = zip(*exts)
    text_budget = int(budget * wt_fraction_text)
    while used < text_budget:
        kind = r.random()
        if kind < 0.80:
            ext = r.choices(population, weights)[0]
            size = g.lognormal(4000, 1.0, 60, 250_000)
            rel = f"{r.choice(folders)}/{g.ident()}{ext}"
            files.append((rel, "code", size))
        elif kind < 0.90:
            size = g.lognormal(6000, 0.9, 200, 120_000)
            files.append((f"docs/{r.choice(WORDS)}/{g.ident()}.md", "prose", size))
        else:
            size = g.lognormal(2500, 1.2, 50, 400_000)
            ext = r.choice([".json", ".json", ".yaml", ".toml"])
            files.append((f"{r.choice(folders)}/{g.ident()}{ext}", "json", size))
        used += size
    # Binaries and already-compressed files: the rest of the budget.
    while used < budget:
        kind = r.random()
        if kind < 0.35:
            size = g.lognormal(40_000, 1.2, 500, 2_000_000)
            files.append((f"assets/{r.choice(WORDS)}/{g.ident()}.png", "random", size))
        elif kind < 0.55:
            size = g.lognormal(80_000, 1.0, 2000, 3_000_000)
            files.append((f"assets/photos/{g.ident()}.jpg", "random", size))
        elif kind < 0.70:
            size = g.lognormal(200_000, 1.0, 4096, 4_000_000)
            files.append((f"vendor/{g.ident()}.zip", "zip", size))
        elif kind < 0.80:
            size = g.lognormal(100_000, 1.0, 4096, 2_000_000)
            files.append((f"testdata/{g.ident()}.json.gz", "gz", size))
        else:
            size = g.lognormal(150_000, 1.0, 4096, 4_000_000)
            files.append((f"bin/{g.ident()}.so", "half", size))
        used += size
    # Deduplicate names (a later file with the same name replaces nothing).
    seen, out = set(), []
    for rel, kind, size in files:
        while rel in seen:
            base, ext = os.path.splitext(rel)
            rel = f"{base}_{len(seen)}{ext}"
        seen.add(rel)
        out.append((rel, kind, size))
    return out


def content(g, kind, size):
    return {
        "code": g.text, "prose": g.prose, "json": g.json_doc, "random": g.random_bytes,
        "zip": g.zip_of_text, "gz": g.gz_of_text, "half": g.half_binary,
    }[kind](size)


def git(out, *args, env=None):
    subprocess.run(["git", "-C", out, *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def generate(out, total, seed):
    g = Gen(seed)
    r = g.r
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    # Byte plan: the pack should hold ~65 % of the bytes. Pack = compressed
    # working tree + compressed edits + history-only blobs (random, stored).
    # Working tree ~ 25 %, excluded folders ~ 4 %, history blobs fill the rest.
    wt_budget = int(total * 0.27)
    excluded_budget = int(total * 0.04)
    history_budget = int(total * 0.55)

    env = dict(os.environ, GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.invalid",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.invalid",
               # No system or user config leaks in (hooks, signing, autocrlf).
               GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
    subprocess.run(["git", "init", "-q", "-b", "main", out], check=True, env=env)
    git(out, "config", "core.autocrlf", "false", env=env)
    git(out, "config", "gc.auto", "0", env=env)
    git(out, "config", "pack.threads", "2", env=env)

    def commit(msg, n):
        e = dict(env, GIT_AUTHOR_DATE=f"2024-01-{n + 1:02d}T12:00:00Z",
                 GIT_COMMITTER_DATE=f"2024-01-{n + 1:02d}T12:00:00Z")
        git(out, "add", "-A", env=e)
        git(out, "commit", "-q", "--no-verify", "-m", msg, env=e)

    files = tree_files(g, wt_budget)
    write(f"{out}/.gitignore", b"node_modules/\n__pycache__/\n*.pyc\n")
    write(f"{out}/README.md", g.prose(6000))
    write(f"{out}/package.json", json.dumps({"name": "bench-repo", "version": "1.0.0",
                                               "dependencies": {w: "^1.0.0" for w in WORDS[:12]}}, indent=2).encode())
    write(f"{out}/pyproject.toml", b'[project]\nname = "bench-repo"\nversion = "1.0.0"\n')
    for rel, kind, size in files:
        write(f"{out}/{rel}", content(g, kind, size))

    # History-only blobs: big assets committed, then deleted (real repos carry
    # these in their packs). Spread over commits so the pack is realistic.
    history = []
    used = 0
    while used < history_budget:
        size = g.lognormal(1_500_000, 0.8, 100_000, 24_000_000)
        size = min(size, history_budget - used) if history_budget - used > 100_000 else size
        history.append((f"old_assets/{g.ident()}_{len(history)}.bin", size))
        used += size
    chunks = [history[i::3] for i in range(3)]

    ncommits = 5
    for n in range(ncommits):
        if n < 3:
            for rel, size in chunks[n]:
                write(f"{out}/{rel}", g.random_bytes(size))
        if n == 3:
            shutil.rmtree(f"{out}/old_assets", ignore_errors=True)
        if n > 0:
            # Edit ~15 % of the source files: append and replace some lines.
            for rel, kind, size in r.sample(files, max(1, len(files) * 15 // 100)):
                if kind in ("code", "prose", "json"):
                    p = f"{out}/{rel}"
                    with open(p, "rb") as f:
                        data = f.read()
                    cut = r.randrange(len(data) + 1)
                    write(p, data[:cut] + g.text(r.randrange(100, 3000)) + data[cut + r.randrange(200):])
        commit(f"commit {n}: work on {g.ident()}", n)
    git(out, "gc", "-q", "--prune=now", env=env)

    # Ignored folders that every tool must leave out.
    used = 0
    i = 0
    while used < excluded_budget:
        pkg = f"node_modules/{g.ident().replace('_', '-')}{i}"
        for k in range(r.randrange(2, 12)):
            size = g.lognormal(3000, 1.0, 100, 80_000)
            write(f"{out}/{pkg}/{'lib/' if k % 2 else ''}{g.ident()}{k}.js", g.text(size))
            used += size
        i += 1
    pyc = [rel for rel, kind, _ in files if rel.endswith(".py")][:200]
    for rel in pyc:
        d, base = os.path.split(rel)
        size = g.lognormal(3000, 0.8, 200, 40_000)
        write(f"{out}/{d}/__pycache__/{base[:-3]}.cpython-312.pyc", g.half_binary(size))
        used += size
    return describe(out)


# The memory target's tree (issue 8): many small files and one huge one.
WIDE = "100k+5G"


def generate_wide(out, seed, files=100_000, big=5 << 30):
    """`files` small source files (300 B - 6 KB) in 1,000 folders plus one
    `big`-byte file, sparse (zeros: cheap to make and to compress, so the run
    measures memory and bookkeeping, not deflate), and a `.git` marker."""
    g = random.Random(seed)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, ".git"))
    write(os.path.join(out, ".git", "HEAD"), b"ref: refs/heads/main\n")
    words = [b"def", b"return", b"value", b"self", b"import", b"for", b"in", b"range", b"data", b"None"]
    for i in range(files):
        size = g.randint(300, 6000)
        line = b" ".join(g.choice(words) for _ in range(12)) + b"\n"
        body = (b"# file %d\n" % i) + line * (size // len(line) + 1)
        write(os.path.join(out, "src", f"d{i // 100:04d}", f"f{i % 100:03d}.py"), body[:size])
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    with open(os.path.join(out, "data", "big.bin"), "wb") as f:
        f.truncate(big)
    info = describe(out)
    info["name"] = f"{files:,} files + one {big / (1 << 30):g} GiB file (sparse), seed {seed}"
    return info


def describe(root):
    """File count and bytes: total, in .git, in its packs, excluded folders."""
    total = files = git_bytes = pack_bytes = excl_bytes = excl_files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        parts = rel.split(os.sep)
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            if os.path.islink(p):
                continue
            s = os.path.getsize(p)
            total += s
            files += 1
            if parts[0] == ".git":
                git_bytes += s
                if fn.endswith(".pack"):
                    pack_bytes += s
            if "node_modules" in parts or "__pycache__" in parts or fn.endswith(".pyc"):
                excl_bytes += s
                excl_files += 1
    return {"root": root, "files": files, "bytes": total, "git_bytes": git_bytes,
            "pack_bytes": pack_bytes, "excluded_files": excl_files, "excluded_bytes": excl_bytes,
            "selected_files": files - excl_files, "selected_bytes": total - excl_bytes}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="50M", help="2M, 50M, 500M, 2G or a byte count (K/M/G suffix)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--describe", action="store_true", help="only describe an existing folder")
    a = ap.parse_args()
    info = describe(a.out) if a.describe else generate(os.path.abspath(a.out), parse_size(a.size), a.seed)
    json.dump(info, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
