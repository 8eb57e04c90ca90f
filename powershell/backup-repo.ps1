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
    .\scripts\backup-repo.ps1
.EXAMPLE
    .\scripts\backup-repo.ps1 -OutputFormat json > backup-result.json
.EXAMPLE
    .\scripts\backup-repo.ps1 -WhatIf -Verbose
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
$OutputFormat = $OutputFormat.ToLowerInvariant()
$json = $OutputFormat -eq 'json'

# --- the original's repository check ---------------------------------------
# .NET calls rather than cmdlets on this path: each first use of a cmdlet
# module (Management, Utility) costs pwsh tens of milliseconds to load.
$repoRoot = $ExecutionContext.SessionState.Path.CurrentFileSystemLocation.ProviderPath
$isRepo = [IO.Directory]::Exists([IO.Path]::Combine($repoRoot, '.git')) -or
          [IO.File]::Exists([IO.Path]::Combine($repoRoot, '.git')) -or
          [IO.File]::Exists([IO.Path]::Combine($repoRoot, 'pyproject.toml')) -or
          [IO.File]::Exists([IO.Path]::Combine($repoRoot, 'package.json'))
if (-not $isRepo) {
    [Console]::Error.WriteLine('Must run from repository root')
    exit 1
}
$repoName = [IO.Path]::GetFileName([IO.Path]::TrimEndingDirectorySeparator($repoRoot))

# --- the module: beside this script (a checkout: BackupRepo/ next to it; the
# package: this script sits in the module folder), else the installed one ---
# (Plain loops rather than .Where/.ForEach script blocks: each block is
# compiled on its first run, which a fresh pwsh pays on every backup.)
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

# Write-Host's own path (an information record tagged PSHOST: shown by the
# host, redirectable with 6>, silenced by -InformationAction Ignore) without
# its first-use cost: Write-Host and ConvertTo-Json live in
# Microsoft.PowerShell.Utility, whose loading was a third of a run.
function Say([string]$Text = '', [string]$Color) {
    if ($json) { return }
    $message = [System.Management.Automation.HostInformationMessage]@{ Message = $Text }
    if ($Color) { $message.ForegroundColor = $Color }
    $PSCmdlet.WriteInformation($message, [string[]]'PSHOST')
}

function Get-MegaBytes([double]$Bytes) { [math]::Round($Bytes / 1MB, 2) }

# The JSON on standard output. When this script is the whole process and its
# output goes to a file or a pipe, written there directly: as pipeline output
# it would go through pwsh's formatter, whose first use costs a fresh pwsh
# ~0.05 s. To a console (pwsh writes it as Unicode, [Console]::Out in the
# console's code page) and in a session it is pipeline output, so
# "> backup-result.json" and "$r = & backup-repo.ps1" work as before.
function Write-Json($Value) {
    $text = [BackupRepo.PlainJson]::Serialize($Value)
    if ($wholeProcess -and [Console]::IsOutputRedirected) { [Console]::Out.WriteLine($text) } else { $text }
}

# Each error's message, once. -ErrorVariable holds error records and, for a
# terminating error, the exception itself, whose text would carry a stack
# trace; a catch block then sees the same error again.
function Get-ErrorMessages($Errors) {
    $messages = [Collections.Generic.List[string]]::new()
    foreach ($e in $Errors) {
        $text = if ($e -is [Management.Automation.ErrorRecord]) {
            if ($e.ErrorDetails -and $e.ErrorDetails.Message) { $e.ErrorDetails.Message } else { $e.Exception.Message }
        } elseif ($e -is [Exception]) { $e.Message } else { "$e" }
        if ($text -and -not $messages.Contains($text)) { $messages.Add($text) }
    }
    , $messages
}

function Get-MetricsLogPath {
    # [Environment] rather than $env:, which throws (and catches) an exception
    # inside pwsh for every variable that is not set: the first costs a fresh pwsh.
    $dir = [Environment]::GetEnvironmentVariable('BACKUP_REPO_METRICS_DIR')
    if (-not $dir -and $IsWindows) {
        $appData = [Environment]::GetEnvironmentVariable('APPDATA')
        if (-not $appData) { $appData = [Environment]::GetFolderPath('ApplicationData') }
        $dir = [IO.Path]::Combine($appData, 'backup-metrics')
    } elseif (-not $dir) {
        $data = [Environment]::GetEnvironmentVariable('XDG_DATA_HOME')
        if (-not $data) { $data = [IO.Path]::Combine($HOME, '.local/share') }
        $dir = [IO.Path]::Combine($data, 'backup-repo/metrics')
    }
    [IO.Path]::Combine($dir, "backup-$repoName.jsonl")
}

# --- -List: Get-RepoBackup -Summary ------------------------------------------
if ($List) {
    $listParams = @{ Summary = $true; Repository = $repoName; MetricsLogDirectory = [IO.Path]::GetDirectoryName((Get-MetricsLogPath)) }
    # No -Destination: the engine's defaults (config file, $env:BACKUP_REPO_DESTINATIONS, platform).
    if ($Destination) { $listParams.Destination = $Destination }
    $listErrors = @()
    $summaries = @()
    try {
        $summaries = @(Get-RepoBackup @listParams -ErrorAction SilentlyContinue -ErrorVariable +listErrors)
    } catch {
        $listErrors += $_
    }
    foreach ($message in (Get-ErrorMessages $listErrors)) { [Console]::Error.WriteLine("ERROR: $message") }
    $rows = foreach ($s in $summaries) {
        [ordered]@{
            name              = $s.Destination
            path              = $s.Folder
            count             = $s.Count
            oldest            = if ($s.Oldest) { $s.Oldest.ToString('yyyy-MM-dd HH:mm:ss') } else { $null }
            newest            = if ($s.Newest) { $s.Newest.ToString('yyyy-MM-dd HH:mm:ss') } else { $null }
            total_mb          = Get-MegaBytes $s.TotalBytes
            average_mb        = Get-MegaBytes $s.AverageBytes
            compression_ratio = if ($null -ne $s.CompressionRatio) { [math]::Round($s.CompressionRatio, 4) } else { $null }
            per_day           = [math]::Round($s.Frequency.PerDay, 2)
            per_week          = [math]::Round($s.Frequency.PerWeek, 2)
            duplicates        = if ($s.Duplicates) {
                [ordered]@{
                    runs              = $s.Duplicates.Runs
                    skipped_unchanged = $s.Duplicates.SkippedUnchanged
                    created           = $s.Duplicates.Created
                    failed            = $s.Duplicates.Failed
                    duplicate_rate    = [math]::Round($s.Duplicates.DuplicateRate, 4)
                }
            } else { $null }
            file_types        = @($s.FileTypes | ForEach-Object { [ordered]@{ type = $_.Label; files = $_.Files; mb = Get-MegaBytes $_.Bytes } })
        }
    }
    if ($json) {
        Write-Json @($rows)
    } else {
        Say "Backups of $repoName" Cyan
        foreach ($r in $rows) {
            Say ''
            Say "  $($r.name): $($r.path)"
            if ($r.count -eq 0) { Say '    no backups'; continue }
            Say "    Backups:  $($r.count)"
            Say "    Oldest:   $($r.oldest)"
            Say "    Newest:   $($r.newest)"
            Say "    Total:    $($r.total_mb) MB"
            Say "    Average:  $($r.average_mb) MB"
            if ($null -ne $r.compression_ratio) { Say ("    Ratio:    {0:P0} of the original size" -f $r.compression_ratio) }
            Say ("    Frequency: {0:N2} per day, {1:N2} per week" -f $r.per_day, $r.per_week)
            if ($r.duplicates) {
                Say ("    Unchanged: {0} of {1} runs skipped as duplicates ({2:P0})" -f $r.duplicates.skipped_unchanged, $r.duplicates.runs, $r.duplicates.duplicate_rate)
            }
            if ($r.file_types.Count -gt 0) {
                Say ("    Newest by type: " + (@($r.file_types).Where({ $_ }, 'First', 5).ForEach({ "$($_.type) $($_.files)" }) -join ', '))
            }
        }
    }
    exit ($listErrors.Count -gt 0 -and $summaries.Count -eq 0 ? 1 : 0)
}

# --- the backup --------------------------------------------------------------
$dryRun = [bool]$WhatIfPreference
$params = @{ Path = $repoRoot; InformationAction = 'Ignore' }
if ($Destination) { $params.Destination = $Destination }
if ($IncludeBuild) { $params.IncludeBuild = $true }
if ($KeepLast) { $params.KeepLast = $KeepLast }
if ($Verify) { $params.Verify = $true }
# Backup-Repo sends the messages (Slack/Teams/Discord from the URL's host, else JSON), with
# a short timeout and retries; a failed webhook is a warning that shows the URL redacted.
if ($WebhookUrl) { $params.WebhookUrl = $WebhookUrl }
if (-not $dryRun) {
    $metricsLog = Get-MetricsLogPath
    $null = [IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($metricsLog))
    $params.MetricsLog = $metricsLog
}

$started = [datetime]::Now
$errors = @()
$warnings = @()
$result = $null
# JSON mode keeps standard output for the one JSON object: warnings (a webhook
# that failed, a full disk) go to standard error, like errors.
if ($json) { $params.WarningAction = 'SilentlyContinue' }
try {
    foreach ($out in @(Backup-Repo @params -ErrorAction SilentlyContinue -ErrorVariable +errors -WarningVariable +warnings)) {
        if ($out) { $result = $out; break }
    }
} catch {
    $errors += $_
}
if ($json) {
    foreach ($w in $warnings) { [Console]::Error.WriteLine("WARNING: $w") }
}
$errorMessages = Get-ErrorMessages $errors
foreach ($message in $errorMessages) {
    if ($json) { [Console]::Error.WriteLine("ERROR: $message") } else { Say "ERROR: $message" Red }
}

if (-not $result) {
    if ($json) {
        Write-Json ([ordered]@{
            repo = $repoName; timestamp = $started.ToString('o'); status = 'failed'
            created = @(); skipped = @(); size_mb = 0
            duration_seconds = [math]::Round(([datetime]::Now - $started).TotalSeconds, 2)
            file_count = 0; locations = @(); error = $(if ($errorMessages.Count) { $errorMessages[0] } else { '' }); schema_version = 1
        })
    } else {
        Say "Backup of $repoName failed." Red
    }
    exit 1
}

# The original's keys and statuses (schema/backup-result.schema.json), built
# by the module: in a fresh pwsh each script block here was compiled on its
# first run, a sixth of an unchanged run.
$summary = [BackupRepo.DropInSummary]::Of($result, $dryRun, $Verify.IsPresent)
$status = $summary['status']

if ($json) {
    Write-Json $summary
} else {
    if ($dryRun) {
        Say "WhatIf: would back up $repoName ($($result.FileCount) files, $(Get-MegaBytes $result.SourceBytes) MB)" Cyan
        foreach ($d in $result.Destinations) {
            $what = switch ("$($d.Status)") {
                'WouldCreate' { "would create $([IO.Path]::Combine($d.Path, $result.ArchiveName))" }
                'WouldSkip' { 'would skip (unchanged)' }
                default { "$($d.Status) $($d.Reason)" }
            }
            Say "  $($d.Name): $what"
        }
        Say 'Nothing was written.'
        exit 0
    }
    Say "Backup of $repoName ($($result.FileCount) files)" Cyan
    foreach ($d in $result.Destinations) {
        switch ("$($d.Status)") {
            'Created' { Say "  [created] $($d.Name): $($d.ArchivePath)" Green }
            'Skipped' { Say "  [skipped] $($d.Name): unchanged since $([IO.Path]::GetFileName("$($d.ArchivePath)"))" Yellow }
            default { Say "  [failed]  $($d.Name): $($d.Reason)" Red }
        }
    }
    if ($Verify) {
        foreach ($v in $result.Verification) {
            if ($v.Ok) { Say "  [verified] $($v.Archive) ($($v.EntriesChecked) entries)" Green }
            else { Say "  [verify failed] $($v.Archive): $($v.FirstError)" Red }
        }
    }
    Say ''
    Say "Status: $status" ($status -eq 'success' ? 'Green' : $status -eq 'skipped' ? 'Yellow' : 'Red')
    if ($result.ArchiveBytes -gt 0) {
        $ratio = if ($result.SourceBytes) { $result.ArchiveBytes / $result.SourceBytes } else { 1 }
        Say 'Statistics:'
        Say ("  Size:          {0:N2} MB" -f ($result.ArchiveBytes / 1MB))
        Say ("  Original size: {0:N2} MB" -f ($result.SourceBytes / 1MB))
        Say ("  Compression:   {0:N1} %" -f ((1 - $ratio) * 100))
        Say ("  Space saved:   {0:N2} MB" -f (($result.SourceBytes - $result.ArchiveBytes) / 1MB))
        Say ("  Files:         {0}" -f $result.FileCount)
        Say ("  Duration:      {0:N2} s" -f $result.Duration.TotalSeconds)
    }
    $zip = [BackupRepo.DropInSummary]::RestoreArchive($result)
    if ($zip) {
        Say ''
        Say 'To restore:'
        Say "  Expand-Archive -Path `"$zip`" -DestinationPath `"$([IO.Path]::Combine([IO.Path]::GetDirectoryName([IO.Path]::TrimEndingDirectorySeparator($repoRoot)), "$repoName-restored"))`""
    }
}
# A whole-process run that succeeded just ends (pwsh then exits with 0):
# `exit` is an exception that pwsh records and logs as a command failure,
# ~0.02 s in a fresh process. In a session, `exit` sets $LASTEXITCODE.
if ($status -eq 'failed' -or -not $wholeProcess) { exit ($status -eq 'failed' ? 1 : 0) }
