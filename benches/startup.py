"""Fresh-pwsh start-up of BackupRepo on an unchanged repository: issue 8's
"within 0.3 s of pwsh's own start-up" and "Import-Module + -WhatIf < 0.5 s".

Two PowerShells are measured, each against its own `exit 0`:
  installed  the pwsh found on PATH. Here that is the dotnet global tool,
             whose assemblies are IL only: every PowerShell method a run
             touches for the first time is JIT-compiled.
  r2r        a ReadyToRun copy of that same PowerShell, compiled with
             crossgen2. PowerShell's official packages (MSI, zip, tar.gz),
             which Windows users install, ship ReadyToRun assemblies.
The cost a module adds is mostly PowerShell's own code that `Import-Module`,
parameter binding and output run for the first time, so it depends on which
of the two a user has. Per case the JIT-compiled method count is recorded too
(DOTNET_JitStdOutFile), which is the profile behind the difference.

Used by `scripts/bench startup`; the smoke run covers the installed pwsh.
"""
import glob
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time

import harness

CASES = ("base", "module", "dropin", "whatif")
LABELS = {
    "base": "`pwsh -NoProfile -Command 'exit 0'`",
    "module": "`Import-Module BackupRepo; Backup-Repo` (unchanged: skipped)",
    "dropin": "`pwsh -File backup-repo.ps1 -OutputFormat json` (unchanged: skipped)",
    "whatif": "`Import-Module BackupRepo; Backup-Repo -WhatIf`",
}


def installed_pwsh_dir():
    """The folder holding the installed pwsh's pwsh.dll and
    System.Management.Automation.dll (a dotnet global tool keeps them in its
    store; a package install next to the pwsh executable)."""
    real = os.path.dirname(os.path.realpath(harness.PWSH))
    candidates = [real] + sorted(glob.glob(os.path.join(
        os.path.dirname(harness.PWSH), ".store", "powershell", "*", "powershell", "*", "tools", "*", "any", "*")))
    for d in candidates:
        if os.path.exists(os.path.join(d, "pwsh.dll")) and os.path.exists(
                os.path.join(d, "System.Management.Automation.dll")):
            return d
    return None


def runtime_for(pwsh_dir):
    """(version, folder) of the installed Microsoft.NETCore.App that runs
    pwsh: the newest with the major version its runtimeconfig asks for."""
    with open(os.path.join(pwsh_dir, "pwsh.runtimeconfig.json")) as f:
        cfg = json.load(f)["runtimeOptions"]
    frameworks = cfg.get("frameworks") or [cfg["framework"]]
    want = next(fw["version"] for fw in frameworks if fw["name"] == "Microsoft.NETCore.App").split(".")[0]
    out = subprocess.run(["dotnet", "--list-runtimes"], capture_output=True, text=True, check=True).stdout
    found = []
    for m in re.finditer(r"^Microsoft\.NETCore\.App (\S+) \[(.+)\]$", out, re.M):
        ver, root = m.group(1), m.group(2)
        if ver.split(".")[0] == want and "-" not in ver:
            found.append((tuple(int(x) for x in ver.split(".")), ver, os.path.join(root, ver)))
    if not found:
        raise RuntimeError(f"no Microsoft.NETCore.App {want}.x runtime for {pwsh_dir}")
    _, ver, path = max(found)
    return ver, path


def rid():
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
    return f"linux-{arch}", arch


def crossgen2(major):
    """The crossgen2 of runtime `major` from the NuGet cache; when missing,
    publishing a one-line program ReadyToRun makes the SDK download it (the
    SDK picks the pack version that goes with its runtime)."""
    r, _ = rid()
    pattern = os.path.join(os.path.expanduser("~/.nuget/packages"), f"microsoft.netcore.app.crossgen2.{r}",
                           f"{major}.*", "tools", "crossgen2")
    if not glob.glob(pattern):
        with tempfile.TemporaryDirectory(prefix="br-crossgen-") as d:
            with open(os.path.join(d, "hello.csproj"), "w") as f:
                f.write(f"""<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><OutputType>Exe</OutputType>
<TargetFramework>net{major}.0</TargetFramework><RuntimeIdentifier>{r}</RuntimeIdentifier>
<SelfContained>false</SelfContained><PublishReadyToRun>true</PublishReadyToRun></PropertyGroup></Project>""")
            with open(os.path.join(d, "Program.cs"), "w") as f:
                f.write("System.Console.WriteLine(1);\n")
            p = subprocess.run(["dotnet", "publish", d, "-o", os.path.join(d, "out"), "--nologo", "-v", "quiet"],
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError("could not get crossgen2: " + (p.stdout + p.stderr).strip()[-400:])
    found = sorted(glob.glob(pattern), key=lambda p: [int(x) for x in p.split(os.sep)[-3].split(".") if x.isdigit()])
    if not found:
        raise RuntimeError(f"crossgen2 not found at {pattern}")
    return found[-1]


def r2r_pwsh(cache_root):
    """A ReadyToRun copy of the installed PowerShell, made once per version
    under `cache_root` (about a minute of crossgen2 on 2 cores); returns the
    folder holding its pwsh.dll."""
    src = installed_pwsh_dir()
    if src is None:
        raise RuntimeError(f"cannot find pwsh.dll beside {harness.PWSH}")
    fw_ver, fw_dir = runtime_for(src)
    with open(os.path.join(src, "pwsh.deps.json"), "rb") as f:
        # (hashlib, not hash(): str hashes differ between Python processes.)
        stamp = json.dumps({"pwsh": src, "deps": hashlib.sha256(f.read()).hexdigest(), "runtime": fw_ver})
    out = os.path.join(cache_root, "pwsh-r2r")
    done = os.path.join(out, ".r2r-stamp")
    if os.path.exists(done) and open(done).read() == stamp:
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, out, symlinks=True)
    cg = crossgen2(fw_ver.split(".")[0])
    _, arch = rid()
    failed = []
    for dll in sorted(glob.glob(os.path.join(src, "*.dll"))):
        name = os.path.basename(dll)
        tmp = os.path.join(out, name + ".r2r")
        p = subprocess.run([cg, "-r", os.path.join(fw_dir, "*.dll"), "-r", os.path.join(src, "*.dll"),
                            "--targetos", "linux", "--targetarch", arch, "-O", dll, "-o", tmp],
                           capture_output=True, text=True)
        if p.returncode == 0:
            os.replace(tmp, os.path.join(out, name))
        else:  # keep the IL assembly: it still runs, JIT-compiled
            failed.append(name)
            if os.path.exists(tmp):
                os.remove(tmp)
    if failed:
        harness.log(f"crossgen2 left {len(failed)} assemblies as IL: {', '.join(failed)}")
    with open(done, "w") as f:
        f.write(stamp)
    return out


def commands(src, dests, pwsh):
    """Per case: (argv, cwd, expected text in stdout)."""
    dest_list = ",".join(harness.q(d) for d in dests)
    imp = f"$ErrorActionPreference='Stop'; Import-Module {harness.q(harness.PSD1)}; "
    flags = ["-NoProfile", "-NonInteractive"]
    return {
        "base": (pwsh + flags + ["-Command", "exit 0"], src, ""),
        "module": (pwsh + flags + ["-Command", imp + f"$r = Backup-Repo -Path {harness.q(src)} -Destination "
                                   f"{dest_list}; \"status=$($r.Status)\""], src, "status=Skipped"),
        "dropin": (pwsh + flags + ["-File", os.path.join(harness.ROOT, "powershell", "backup-repo.ps1"),
                                   "-OutputFormat", "json"], src, '"skipped"'),
        "whatif": (pwsh + flags + ["-Command", imp + f"$null = Backup-Repo -Path {harness.q(src)} "
                                   "-Destination /nonexistent/x -WhatIf"], src, ""),
    }


def run_checked(argv, cwd, env, expect, what):
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if p.returncode != 0 or expect not in p.stdout:
        raise RuntimeError(f"{what}: exit {p.returncode}, expected {expect!r} in the output: "
                           f"{(p.stdout + p.stderr).strip()[-300:]}")


def jit_count(argv, cwd, env):
    """Methods JIT-compiled by one run: (all, BackupRepo's own)."""
    with tempfile.NamedTemporaryFile(prefix="br-jit-", suffix=".txt", delete=False) as f:
        path = f.name
    try:
        subprocess.run(argv, cwd=cwd, env=dict(env, DOTNET_JitDisasmSummary="1", DOTNET_JitStdOutFile=path),
                       capture_output=True, timeout=300)
        with open(path, errors="replace") as f:
            lines = [ln for ln in f if "JIT compiled" in ln]
        return len(lines), sum(1 for ln in lines if "JIT compiled BackupRepo." in ln)
    finally:
        os.remove(path)


def measure(src, work, runs, flavours, jit=True):
    """Interleaved rounds of every (flavour, case) after one backup that makes
    the repository unchanged; medians, mins and the difference to the
    flavour's own start-up."""
    dests = [os.path.join(work, f"dest{i}") for i in (1, 2, 3)]
    for d in dests:
        os.makedirs(d, exist_ok=True)
    # Like every benchmarked tool (its own HOME: its own stat cache and
    # config), plus the drop-in's destinations.
    os.makedirs(os.path.join(work, "home"), exist_ok=True)
    env = dict(harness.isolated_env(work), BACKUP_REPO_DESTINATIONS=":".join(dests))
    table = {name: commands(src, dests, pwsh) for name, pwsh in flavours.items()}
    first = next(iter(table.values()))["module"]
    run_checked(first[0], first[1], env, "status=", "first backup")
    harness.wait_next_second(time.time())
    for name, cases in table.items():
        for case, (argv, cwd, expect) in cases.items():
            run_checked(argv, cwd, env, expect, f"{name} {case}")
    secs = {(n, c): [] for n in table for c in CASES}
    for _ in range(runs):
        for name, cases in table.items():
            for case, (argv, cwd, _) in cases.items():
                t0 = time.perf_counter()
                subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=300)
                secs[(name, case)].append(time.perf_counter() - t0)
    out = {}
    for name, cases in table.items():
        base = statistics.median(secs[(name, "base")])
        row = {}
        for case in CASES:
            s = secs[(name, case)]
            row[case] = {"median_s": statistics.median(s), "min_s": min(s),
                         "over_base_s": statistics.median(s) - base}
            if jit:
                row[case]["jit_methods"], row[case]["jit_own"] = jit_count(*cases[case][:2], env)
        out[name] = row
    return out


def markdown(data):
    names = list(data["flavours"])
    desc = {"installed": "installed pwsh (dotnet tool, IL only)", "r2r": "the same pwsh, ReadyToRun"}
    head = "| case | " + " | ".join(desc.get(n, n) for n in names) + " |"
    lines = [head, "|---|" + "---|" * len(names)]
    for case in CASES:
        cells = []
        for n in names:
            r = data["flavours"][n][case]
            cell = f"{harness.fmt_s(r['median_s'])} s"
            if case != "base":
                cell += f" (**+{r['over_base_s']:.3f} s**)"
            if "jit_methods" in r:
                cell += f"; {r['jit_methods']:,} methods JIT-compiled"
                if r.get("jit_own"):
                    cell += f" ({r['jit_own']} BackupRepo's)"
            cells.append(cell)
        lines.append(f"| {LABELS[case]} | " + " | ".join(cells) + " |")
    c = data["corpus"]
    lines += ["", f"Median of {data['runs']} interleaved rounds on {c.get('name', '?')} "
                  f"({c.get('selected_files', '?'):,} files selected), {data['date']}; "
                  "\"+\" is the difference to the same pwsh's `exit 0`."]
    return "\n".join(lines)


def cmd_startup(a, smoke=False):
    work = os.path.abspath(a.work) if a.work else tempfile.mkdtemp(prefix="br-startup-")
    os.makedirs(work, exist_ok=True)
    try:
        src, info = harness.prepare_corpus(a, work)
        flavours = {"installed": [harness.PWSH]}
        if not smoke and not a.installed_only:
            cache = os.path.join(os.path.expanduser("~/.cache"), "backup-repo-bench")
            flavours["r2r"] = ["dotnet", os.path.join(r2r_pwsh(cache), "pwsh.dll")]
        data = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "corpus": info, "runs": a.runs,
                "flavours": measure(src, os.path.join(work, "startup"), a.runs, flavours, jit=not smoke)}
        print(markdown(data))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(data, f, indent=2)
        return data
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
