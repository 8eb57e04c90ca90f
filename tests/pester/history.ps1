# Dot-sourced after common.ps1 by the history cmdlets' tests (Get-, Remove-,
# Test-, Restore-, Compare-RepoBackup): repositories with fixed content and
# series of backups made with Backup-Repo -Force.

function New-FixedRepo {
    <# A repository with fixed content: .git (HEAD, config, an object), sources,
       a unicode name, an empty file, a nested folder and some binary bytes. #>
    param([string]$Name = ('hist-' + [guid]::NewGuid().ToString('N').Substring(0, 6)))
    $root = New-TestRepo -Name $Name
    $null = New-Item -ItemType Directory -Force -Path (Join-Path $root '.git/objects/ab'), (Join-Path $root 'docs'), (Join-Path $root 'src/pkg/deep')
    Set-Content -LiteralPath (Join-Path $root '.git/config') -Value "[core]`n`trepositoryformatversion = 0"
    [IO.File]::WriteAllBytes((Join-Path $root '.git/objects/ab/cdef0123'), [byte[]](0..255))
    Set-Content -LiteralPath (Join-Path $root 'docs/ünïcode 日本.md') -Value 'unicode name'
    Set-Content -LiteralPath (Join-Path $root 'src/pkg/deep/module.py') -Value ("x = 1`n" * 100)
    Set-Content -LiteralPath (Join-Path $root 'pyproject.toml') -Value '[project]'
    $null = New-Item -ItemType File -Force -Path (Join-Path $root 'empty.txt')
    $root
}

function New-BackupSeries {
    <# -Count backups of -Repo in -Destination (one second apart, as a real series
       is), each after a small change; returns the archive paths, oldest first. #>
    param([string]$Repo, [string[]]$Destination, [int]$Count = 3)
    for ($i = 1; $i -le $Count; $i++) {
        if ($i -gt 1) {
            Start-Sleep -Milliseconds 1100
            Add-Content -LiteralPath (Join-Path $Repo 'README.md') -Value "change $i"
        }
        $r = Backup-Repo -Path $Repo -Destination $Destination -Force
        if ($r.Status -ne 'Created') { throw "backup $i of $Repo was $($r.Status)" }
        $r.Destinations | ForEach-Object ArchivePath
    }
}

function Add-ForeignFile {
    <# Files in a repository's backup folder that are not our backups: a text
       file, a plain ZIP named like ours (no manifest), a name that only looks
       similar. Returns their paths. #>
    param([string]$Folder, [string]$RepoName)
    $null = New-Item -ItemType Directory -Force -Path $Folder
    $notes = Join-Path $Folder 'notes.txt'
    Set-Content -LiteralPath $notes -Value 'not a backup'
    $plain = Join-Path $TestHome ('plain-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.txt')
    Set-Content -LiteralPath $plain -Value 'inside a foreign zip'
    $foreign = Join-Path $Folder "${RepoName}_backup_2020-01-01_00-00-00.zip"
    Compress-Archive -LiteralPath $plain -DestinationPath $foreign
    $lookalike = Join-Path $Folder "${RepoName}_backup_latest.zip"
    Copy-Item -LiteralPath $foreign -Destination $lookalike
    $notes, $foreign, $lookalike
}

function Get-TreeHash {
    <# Relative path -> SHA256 of every file under -Root (hidden included), sorted. #>
    param([string]$Root)
    $rootFull = (Resolve-Path -LiteralPath $Root).ProviderPath.TrimEnd('/', '\')
    Get-ChildItem -LiteralPath $rootFull -Recurse -File -Force | ForEach-Object {
        $rel = $_.FullName.Substring($rootFull.Length + 1).Replace('\', '/')
        '{0} {1}' -f $rel, (Get-FileHash -LiteralPath $_.FullName -Algorithm SHA256).Hash
    } | Sort-Object
}
