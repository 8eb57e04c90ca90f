<#
.SYNOPSIS
    Back up the current repository: the drop-in replacement for the old backup-repo.ps1.

.DESCRIPTION
    Run from the repository root (a folder holding .git, pyproject.toml or
    package.json). Keeps the original script's switches and output, and calls
    the BackupRepo module's Backup-Repo, which does the work: the archive is
    built once and placed in every destination; destinations whose newest
    backup has the same content are skipped.

    Text mode prints a summary with statistics and a restore hint; JSON mode
    writes one object with the original keys (repo, timestamp, status,
    created, skipped, size_mb, duration_seconds, file_count, locations) to
    standard output, so "> backup-result.json" works. Every run appends one
    line to the metrics log ($env:APPDATA\backup-metrics\backup-<repo>.jsonl
    on Windows, $XDG_DATA_HOME/backup-repo/metrics elsewhere, or
    $env:BACKUP_REPO_METRICS_DIR).

    Exit code: 0 when the run succeeded, was skipped (unchanged) or was
    partial (some destination failed, as the original); 1 when the folder is
    not a repository or nothing could be placed anywhere.

.PARAMETER IncludeBuild
    Keep build output (dist, build, *.whl, *.tar.gz).
.PARAMETER List
    List the existing backups per destination (Get-RepoBackup -Summary): count,
    oldest, newest, total and average size, compression ratio, frequency,
    duplicate statistics from the metrics log and the newest backup's file
    types. With -OutputFormat json: a JSON array, one object per destination.
.PARAMETER OutputFormat
    text (default) or json.
.PARAMETER KeepLast
    After a successful run keep the newest N backups per destination.
.PARAMETER Verify
    Verify every archive written (Backup-Repo -Verify) and print each result.
.PARAMETER WebhookUrl
    Announce the run to these webhooks (Backup-Repo -WebhookUrl): Slack, Teams
    or Discord messages chosen from each URL's host, plain JSON otherwise. A
    webhook that fails is a warning; it never fails the backup.
.PARAMETER Destination
    Destination roots; default: the config file's, else the platform defaults (see about_BackupRepo).

.EXAMPLE
    .\backup-repo.ps1
.EXAMPLE
    .\backup-repo.ps1 -OutputFormat json > backup-result.json
.EXAMPLE
    .\backup-repo.ps1 -WhatIf -Verbose
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [switch]$IncludeBuild,
    [switch]$List,
    [ValidateSet('text', 'json', IgnoreCase = $true)]
    [string]$OutputFormat = 'text',
    [ValidateRange(1, [int]::MaxValue)]
    [int]$KeepLast,
    [switch]$Verify,
    [string[]]$WebhookUrl,
    [string[]]$Destination
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

# --- the module: beside this script (a checkout: BackupRepo/ next to it; the
# package: this script sits in the module folder), else the installed one ---
# .NET calls rather than cmdlets, and plain loops rather than .Where/.ForEach
# script blocks: each first use costs a fresh pwsh, and a scheduled backup is
# a fresh pwsh every time.
$beside = $null
foreach ($candidate in 'BackupRepo/BackupRepo.psd1', 'BackupRepo.psd1') {
    $path = [IO.Path]::Combine($PSScriptRoot, $candidate)
    if ([IO.File]::Exists($path)) { $beside = $path; break }
}
# When this script is the whole pwsh process (pwsh -File backup-repo.ps1, as a
# scheduler runs it), the module's assembly is imported without its manifest:
# the manifest's table views would cost ~0.1 s to load and format nothing here,
# and the session ends with the script. In a session that goes on, the full
# module, so its views are there for whatever runs next.
# pwsh runs the first .ps1 on its command line; what follows it is that
# script's own arguments (a wrapper's argument naming this script included).
$namesThisScript = $false
$noExit = $false
foreach ($arg in [Environment]::GetCommandLineArgs()) {
    if ($arg -like '-noe*') { $noExit = $true }
    elseif ($arg -like '*.ps1') {
        try { $namesThisScript = [IO.Path]::GetFullPath($arg) -eq $PSCommandPath } catch { }
        break
    }
}
$wholeProcess = $namesThisScript -and -not $noExit
$assembly = if ($beside) { [IO.Path]::Combine([IO.Path]::GetDirectoryName($beside), 'bin', 'BackupRepo.dll') }
if ($wholeProcess -and $assembly -and [IO.File]::Exists($assembly) -and -not (Get-Module BackupRepo)) {
    Import-Module $assembly -ErrorAction Stop -Verbose:$false
} elseif ($beside) {
    Import-Module $beside -ErrorAction Stop -Verbose:$false
} else {
    Import-Module BackupRepo -ErrorAction Stop -Verbose:$false
}

# --- the run -----------------------------------------------------------------
# The module's BackupRepo.DropIn does the work around the one call below: the
# original's repository check, the call's parameters, the text or JSON printed
# and the exit code. (As script, each of its statements was compiled on its
# first run: ~0.1 s of every fresh pwsh.) The call stays here, so -WhatIf,
# -Verbose, progress and Ctrl+C reach Backup-Repo as PowerShell passes them.
$run = [BackupRepo.DropIn]::Start($PSCmdlet, $OutputFormat, [bool]$WhatIfPreference, $wholeProcess)
if (-not $run) { exit 1 }
$errors = @()
$warnings = @()
$out = $null
if ($List) {
    $listParams = $run.ListParameters($Destination)
    try {
        $out = Get-RepoBackup @listParams -ErrorAction SilentlyContinue -ErrorVariable +errors
    } catch {
        $errors += $_
    }
    $code = $run.List($out, $errors)
} else {
    $params = $run.BackupParameters($IncludeBuild, $KeepLast, $Verify, $WebhookUrl, $Destination)
    try {
        $out = Backup-Repo @params -ErrorAction SilentlyContinue -ErrorVariable +errors -WarningVariable +warnings
    } catch {
        $errors += $_
    }
    $code = $run.Finish($out, $errors, $warnings, $Verify)
}
# A whole-process run that succeeded just ends (pwsh then exits with 0):
# `exit` is an exception that pwsh records and logs as a command failure,
# ~0.02 s in a fresh process. In a session, `exit` sets $LASTEXITCODE.
if ($code -ne 0 -or -not $wholeProcess) { exit $code }
