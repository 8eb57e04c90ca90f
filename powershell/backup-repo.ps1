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
    List the existing backups per destination: count, oldest, newest, total and average size.
.PARAMETER OutputFormat
    text (default) or json.
.PARAMETER KeepLast
    After a successful run keep the newest N backups per destination.
.PARAMETER Verify
    Verify every archive written.
.PARAMETER WebhookUrl
    POST the run's JSON summary to these URLs.
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
$repoRoot = (Get-Location -PSProvider FileSystem).ProviderPath
$isRepo = (Test-Path -LiteralPath (Join-Path $repoRoot '.git')) -or
          (Test-Path -LiteralPath (Join-Path $repoRoot 'pyproject.toml')) -or
          (Test-Path -LiteralPath (Join-Path $repoRoot 'package.json'))
if (-not $isRepo) {
    [Console]::Error.WriteLine('Must run from repository root')
    exit 1
}
$repoName = Split-Path -Leaf $repoRoot

# --- the module: beside this script (a checkout: BackupRepo/ next to it; the
# package: this script sits in the module folder), else the installed one ---
$beside = @('BackupRepo/BackupRepo.psd1', 'BackupRepo.psd1') | ForEach-Object { Join-Path $PSScriptRoot $_ } |
    Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
if ($beside) {
    Import-Module $beside -ErrorAction Stop -Verbose:$false
} else {
    Import-Module BackupRepo -ErrorAction Stop -Verbose:$false
}

function Say([string]$Text = '', [string]$Color) {
    if ($json) { return }
    if ($Color) { Write-Host $Text -ForegroundColor $Color } else { Write-Host $Text }
}

function Get-MegaBytes([double]$Bytes) { [math]::Round($Bytes / 1MB, 2) }

function Get-MetricsLogPath {
    $dir = if ($env:BACKUP_REPO_METRICS_DIR) {
        $env:BACKUP_REPO_METRICS_DIR
    } elseif ($IsWindows) {
        Join-Path $env:APPDATA 'backup-metrics'
    } else {
        $data = if ($env:XDG_DATA_HOME) { $env:XDG_DATA_HOME } else { Join-Path $HOME '.local/share' }
        Join-Path $data 'backup-repo/metrics'
    }
    Join-Path $dir "backup-$repoName.jsonl"
}

function Get-DestinationRoot {
    if ($Destination) { return $Destination }
    $config = if ($env:BACKUP_REPO_CONFIG) { $env:BACKUP_REPO_CONFIG }
              elseif ($IsWindows) { Join-Path $env:APPDATA 'backup-repo/config.json' }
              elseif ($IsMacOS) { Join-Path $HOME 'Library/Application Support/backup-repo/config.json' }
              else { Join-Path ($env:XDG_CONFIG_HOME ? $env:XDG_CONFIG_HOME : (Join-Path $HOME '.config')) 'backup-repo/config.json' }
    if (Test-Path -LiteralPath $config) {
        $c = Get-Content -Raw -LiteralPath $config | ConvertFrom-Json
        if ($c.PSObject.Properties['destinations'] -and $c.destinations) { return @($c.destinations) }
    }
    if ($env:BACKUP_REPO_DESTINATIONS) {
        return @($env:BACKUP_REPO_DESTINATIONS -split [regex]::Escape([IO.Path]::PathSeparator) | Where-Object { $_ })
    }
    if ($IsWindows) {
        @((Join-Path ([Environment]::GetFolderPath('Desktop')) 'repo backup'), 'N:\backup\dev\repos2') +
            @(if ($env:OneDrive) { Join-Path $env:OneDrive 'repo-backups' })
    } elseif ($IsMacOS) {
        @(Join-Path $HOME 'Library/Application Support/backup-repo/backups')
    } else {
        $data = if ($env:XDG_DATA_HOME) { $env:XDG_DATA_HOME } else { Join-Path $HOME '.local/share' }
        @(Join-Path $data 'backup-repo/backups')
    }
}

# --- -List -----------------------------------------------------------------
if ($List) {
    # TODO: switch to Get-RepoBackup once the history issue lands; this reads the folders directly.
    $rows = foreach ($root in Get-DestinationRoot) {
        $dir = Join-Path $root $repoName
        $files = @(Get-ChildItem -LiteralPath $dir -Filter "${repoName}_backup_*.zip" -File -ErrorAction SilentlyContinue |
                   Sort-Object LastWriteTime)
        $total = [double]0
        foreach ($f in $files) { $total += $f.Length }
        [pscustomobject]@{
            name       = Split-Path -Leaf $root
            path       = $dir
            count      = $files.Count
            oldest     = if ($files) { $files[0].LastWriteTime.ToString('yyyy-MM-dd HH:mm:ss') } else { $null }
            newest     = if ($files) { $files[-1].LastWriteTime.ToString('yyyy-MM-dd HH:mm:ss') } else { $null }
            total_mb   = Get-MegaBytes ([double]$total)
            average_mb = if ($files) { Get-MegaBytes ($total / $files.Count) } else { 0 }
        }
    }
    if ($json) {
        Write-Output (ConvertTo-Json -InputObject @($rows) -Depth 4)
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
        }
    }
    exit 0
}

# --- the backup --------------------------------------------------------------
$dryRun = [bool]$WhatIfPreference
$params = @{ Path = $repoRoot; InformationAction = 'Ignore' }
if ($Destination) { $params.Destination = $Destination }
if ($IncludeBuild) { $params.IncludeBuild = $true }
if ($KeepLast) { $params.KeepLast = $KeepLast }
if ($Verify) { $params.Verify = $true }
if (-not $dryRun) {
    $metricsLog = Get-MetricsLogPath
    $null = New-Item -ItemType Directory -Force -Path (Split-Path -Parent $metricsLog) -WhatIf:$false
    $params.MetricsLog = $metricsLog
}

$started = Get-Date
$errors = @()
$result = $null
try {
    $result = Backup-Repo @params -ErrorAction SilentlyContinue -ErrorVariable +errors | Select-Object -First 1
} catch {
    $errors += $_
}
foreach ($e in $errors) {
    if ($json) { [Console]::Error.WriteLine("ERROR: $e") } else { Write-Host "ERROR: $e" -ForegroundColor Red }
}

if (-not $result) {
    if ($json) {
        Write-Output (ConvertTo-Json -Depth 4 -InputObject ([ordered]@{
            repo = $repoName; timestamp = $started.ToString('o'); status = 'failed'
            created = @(); skipped = @(); size_mb = 0
            duration_seconds = [math]::Round(((Get-Date) - $started).TotalSeconds, 2)
            file_count = 0; locations = @(); error = "$($errors | Select-Object -First 1)"
        }))
    } else {
        Say "Backup of $repoName failed." Red
    }
    exit 1
}

$created = @($result.Destinations | Where-Object Status -eq 'Created')
$skipped = @($result.Destinations | Where-Object Status -eq 'Skipped')
$failed = @($result.Destinations | Where-Object Status -eq 'Failed')
# The original's statuses: success when an archive was created, skipped when
# every destination was unchanged, failed when nothing was placed, else partial.
$status = if ($dryRun) { 'planned' }
          elseif ($created.Count -gt 0) { 'success' }
          elseif ($skipped.Count -gt 0 -and $skipped.Count -eq $result.Destinations.Count) { 'skipped' }
          elseif ($created.Count + $skipped.Count -eq 0) { 'failed' }
          else { 'partial' }

# Unchanged: report the size of the backup that already holds this content, as the original did.
$sizeBytes = [double]$result.ArchiveBytes
if ($sizeBytes -eq 0) {
    $existing = $skipped | Where-Object { $_.ArchivePath -and (Test-Path -LiteralPath $_.ArchivePath) } | Select-Object -First 1
    if ($existing) { $sizeBytes = (Get-Item -LiteralPath $existing.ArchivePath).Length }
}

$summary = [ordered]@{
    repo             = $result.Repository
    timestamp        = $result.Timestamp.ToString('o')
    status           = $status
    created          = @($created | ForEach-Object Name)
    skipped          = @($skipped | ForEach-Object Name)
    size_mb          = Get-MegaBytes $sizeBytes
    duration_seconds = [math]::Round($result.Duration.TotalSeconds, 2)
    file_count       = $result.FileCount
    locations        = @($result.Destinations | ForEach-Object {
        [ordered]@{
            name    = $_.Name
            path    = if ($_.ArchivePath) { $_.ArchivePath } else { $_.Path }
            created = $_.Status -eq 'Created'
            status  = "$($_.Status)".ToLowerInvariant()
            reason  = $_.Reason
        }
    })
    original_size_mb = Get-MegaBytes $result.SourceBytes
    fingerprint      = $result.Fingerprint
    archive_name     = $result.ArchiveName
}
if ($dryRun) {
    $summary.would_create = @($result.Destinations | Where-Object Status -eq 'WouldCreate' | ForEach-Object Name)
    $summary.would_skip = @($result.Destinations | Where-Object Status -eq 'WouldSkip' | ForEach-Object Name)
}

if ($WebhookUrl -and -not $dryRun) {
    # TODO: use the engine's Slack/Teams/Discord messages (src/notify.rs) once the C ABI exposes them.
    $body = ConvertTo-Json -InputObject $summary -Depth 4 -Compress
    foreach ($url in $WebhookUrl) {
        try {
            $null = Invoke-RestMethod -Uri $url -Method Post -Body $body -ContentType 'application/json' -TimeoutSec 15
        } catch {
            Write-Warning "Webhook $url failed: $($_.Exception.Message)"
        }
    }
}

if ($json) {
    Write-Output (ConvertTo-Json -InputObject $summary -Depth 4)
} else {
    if ($dryRun) {
        Say "WhatIf: would back up $repoName ($($result.FileCount) files, $(Get-MegaBytes $result.SourceBytes) MB)" Cyan
        foreach ($d in $result.Destinations) {
            $what = switch ("$($d.Status)") {
                'WouldCreate' { "would create $(Join-Path $d.Path $result.ArchiveName)" }
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
            'Skipped' { Say "  [skipped] $($d.Name): unchanged since $(Split-Path -Leaf "$($d.ArchivePath)")" Yellow }
            default { Say "  [failed]  $($d.Name): $($d.Reason)" Red }
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
    $zip = @($created + $skipped | Where-Object ArchivePath | ForEach-Object ArchivePath) | Select-Object -First 1
    if ($zip) {
        Say ''
        Say 'To restore:'
        Say "  Expand-Archive -Path `"$zip`" -DestinationPath `"$(Join-Path (Split-Path -Parent $repoRoot) "$repoName-restored")`""
    }
}
exit ($status -eq 'failed' ? 1 : 0)
