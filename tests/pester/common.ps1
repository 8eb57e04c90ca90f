# Dot-sourced by every *.Tests.ps1 (in BeforeAll): imports the BUILT module
# (powershell/BackupRepo with bin/, never the sources) and offers temporary
# repositories and destinations. Nothing here touches the user's config,
# cache or metrics: every test run gets its own folders.

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).ProviderPath
$script:ModuleDir = Join-Path $RepoRoot 'powershell/BackupRepo'
$script:ModuleManifest = Join-Path $ModuleDir 'BackupRepo.psd1'
$script:DropIn = Join-Path $RepoRoot 'powershell/backup-repo.ps1'

if (-not (Test-Path -LiteralPath (Join-Path $ModuleDir 'bin/BackupRepo.dll'))) {
    throw "The module is not built ($ModuleDir/bin/BackupRepo.dll missing): run scripts/build."
}

# Isolation: no user config, a private stat cache, data and metrics dir.
$script:TestHome = Join-Path ([IO.Path]::GetTempPath()) ("br-pester-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Force -Path $TestHome
$env:BACKUP_REPO_CONFIG = Join-Path $TestHome 'no-config.json'
$env:XDG_CACHE_HOME = Join-Path $TestHome 'cache'
$env:XDG_DATA_HOME = Join-Path $TestHome 'data'
$env:XDG_CONFIG_HOME = Join-Path $TestHome 'config'
$env:BACKUP_REPO_METRICS_DIR = Join-Path $TestHome 'metrics'
$env:BACKUP_REPO_DESTINATIONS = $null

Import-Module $ModuleManifest -Force

# The pwsh to start child sessions with (a dotnet global tool runs as `dotnet pwsh.dll`,
# so the current process's path is not it).
$script:PwshPath = @(
    (Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty Source)
    (Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh'))
) | Where-Object { $_ -and (Test-Path -LiteralPath $_) } | Select-Object -First 1

function New-TestRepo {
    <# A repository: .git/HEAD, sources, environment.py (kept: the original's bug),
       node_modules and __pycache__ (excluded), and optionally bulk data. #>
    param(
        [string]$Parent = $TestHome,
        [string]$Name = ('repo-' + [guid]::NewGuid().ToString('N').Substring(0, 6)),
        [int]$BulkMB = 0,
        [switch]$NoGit
    )
    $root = Join-Path $Parent $Name
    $null = New-Item -ItemType Directory -Force -Path $root
    if (-not $NoGit) {
        $null = New-Item -ItemType Directory -Force -Path (Join-Path $root '.git/refs/heads')
        Set-Content -LiteralPath (Join-Path $root '.git/HEAD') -Value 'ref: refs/heads/main'
    }
    $null = New-Item -ItemType Directory -Force -Path (Join-Path $root 'src'), (Join-Path $root 'node_modules/left-pad'), (Join-Path $root 'src/__pycache__')
    Set-Content -LiteralPath (Join-Path $root 'README.md') -Value "# $Name`n`nA test repository."
    Set-Content -LiteralPath (Join-Path $root 'src/main.py') -Value ("print('hello')`n" * 50)
    Set-Content -LiteralPath (Join-Path $root 'environment.py') -Value 'SETTINGS = {}'
    Set-Content -LiteralPath (Join-Path $root 'node_modules/left-pad/index.js') -Value 'module.exports = 1'
    Set-Content -LiteralPath (Join-Path $root 'src/__pycache__/main.cpython-312.pyc') -Value 'bytecode'
    if ($BulkMB -gt 0) { Add-BulkData -Root $root -MB $BulkMB }
    $root
}

function Add-BulkData {
    <# Text-like, compressible-but-not-trivially data, in 1 MB files. #>
    param([string]$Root, [int]$MB)
    $dir = Join-Path $Root 'data'
    $null = New-Item -ItemType Directory -Force -Path $dir
    $rng = [Random]::new(42)
    $words = 'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'theta', 'kappa', 'lambda', 'sigma', 'omega'
    for ($i = 0; $i -lt $MB; $i++) {
        $bytes = [byte[]]::new(1MB)
        $rng.NextBytes($bytes)
        # Half random, half words: real work for deflate.
        $text = [Text.Encoding]::ASCII.GetBytes((1..40000 | ForEach-Object { $words[$rng.Next($words.Count)] }) -join ' ')
        [Array]::Copy($text, 0, $bytes, 0, [Math]::Min($text.Length, 600KB))
        [IO.File]::WriteAllBytes((Join-Path $dir ("blob{0:d4}.dat" -f $i)), $bytes)
    }
}

function New-TestDestination {
    param([string]$Name = ('dest-' + [guid]::NewGuid().ToString('N').Substring(0, 6)))
    $d = Join-Path $TestHome $Name
    $null = New-Item -ItemType Directory -Force -Path $d
    $d
}

function Get-Listing {
    <# Every file and folder under the given roots, with size and time: compared before/after. #>
    param([string[]]$Path)
    foreach ($p in $Path) {
        if (-not (Test-Path -LiteralPath $p)) { "missing $p"; continue }
        Get-ChildItem -LiteralPath $p -Recurse -Force | Sort-Object FullName | ForEach-Object {
            '{0}|{1}|{2:o}' -f $_.FullName, ($_.PSIsContainer ? 'dir' : $_.Length), $_.LastWriteTimeUtc
        }
    }
}

function Get-ZipEntry {
    param([string]$Path)
    Add-Type -AssemblyName System.IO.Compression.FileSystem
    $zip = [IO.Compression.ZipFile]::OpenRead($Path)
    try { $zip.Entries.FullName } finally { $zip.Dispose() }
}

function Invoke-Pwsh {
    <# Run a command in a fresh pwsh; returns exit code, stdout and stderr. #>
    param([string]$Command, [string]$File, [string[]]$ArgumentList = @(), [string]$WorkingDirectory = $PWD.ProviderPath, [hashtable]$Environment = @{})
    $psi = [Diagnostics.ProcessStartInfo]::new($PwshPath)
    $psi.ArgumentList.Add('-NoProfile')
    $psi.ArgumentList.Add('-NonInteractive')
    if ($File) {
        $psi.ArgumentList.Add('-File'); $psi.ArgumentList.Add($File)
    } else {
        $psi.ArgumentList.Add('-Command'); $psi.ArgumentList.Add($Command)
    }
    foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
    $psi.WorkingDirectory = $WorkingDirectory
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    foreach ($k in $Environment.Keys) {
        if ($null -eq $Environment[$k]) { $null = $psi.Environment.Remove($k) } else { $psi.Environment[$k] = $Environment[$k] }
    }
    $p = [Diagnostics.Process]::Start($psi)
    $stderr = $p.StandardError.ReadToEndAsync()
    $stdout = $p.StandardOutput.ReadToEnd()
    $p.WaitForExit()
    [pscustomobject]@{ ExitCode = $p.ExitCode; StdOut = $stdout; StdErr = $stderr.Result }
}

function Remove-TestHome {
    if ($TestHome -and (Test-Path -LiteralPath $TestHome)) {
        Remove-Item -LiteralPath $TestHome -Recurse -Force -ErrorAction SilentlyContinue
    }
}
