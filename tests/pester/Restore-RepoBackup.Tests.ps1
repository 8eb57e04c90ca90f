# Restore-RepoBackup: a round trip equals the source byte for byte (.git, a
# unicode name, an empty file), refuses to overwrite without -Force, -WhatIf
# writes nothing, the newest backup by default, and the pipeline from the issue.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'history.ps1')
    $script:repo = New-FixedRepo
    $script:repoName = Split-Path -Leaf $repo
    $script:dest = New-TestDestination
    $script:archives = @(New-BackupSeries -Repo $repo -Destination $dest -Count 2)

    function Get-SourceHash {
        <# The source's files as a backup holds them: without the default exclusions the fixture uses. #>
        param([string]$Root)
        Get-TreeHash $Root | Where-Object { $_ -notmatch '^(node_modules/|src/__pycache__/)' }
    }

    function New-Target { Join-Path $TestHome ('restore-' + [guid]::NewGuid().ToString('N').Substring(0, 6)) }
}

AfterAll { Remove-TestHome }

Describe 'Restore-RepoBackup' {
    It 'restores the source byte for byte, .git and a unicode name included' {
        $target = New-Target
        $r = Restore-RepoBackup -Path $archives[-1] -Destination $target -ErrorVariable err
        $err | Should -BeNullOrEmpty
        $r | Should -BeOfType ([BackupRepo.RestoreResult])
        $r.Archive | Should -Be $archives[-1]
        $r.Target | Should -Be $target
        $r.Refused | Should -BeNullOrEmpty
        Join-Path $target '.git/HEAD' | Should -Exist
        Join-Path $target 'docs/ünïcode 日本.md' | Should -Exist
        (Get-Item -LiteralPath (Join-Path $target 'empty.txt')).Length | Should -Be 0
        $restored = Get-TreeHash $target
        $restored | Should -Be (Get-SourceHash $repo)
        $r.FilesRestored | Should -Be $restored.Count
    }

    It 'restores file times' {
        $target = New-Target
        $null = Restore-RepoBackup -Path $archives[-1] -Destination $target
        $src = (Get-Item -LiteralPath (Join-Path $repo 'src/main.py')).LastWriteTimeUtc
        $dst = (Get-Item -LiteralPath (Join-Path $target 'src/main.py')).LastWriteTimeUtc
        [math]::Abs(($src - $dst).TotalSeconds) | Should -BeLessThan 2
    }

    It 'refuses a folder that is not empty without -Force, and writes nothing' {
        $target = New-Target
        $null = New-Item -ItemType Directory -Force -Path $target
        Set-Content -LiteralPath (Join-Path $target 'README.md') -Value 'mine'
        $before = Get-Listing $target
        $r = Restore-RepoBackup -Path $archives[-1] -Destination $target -ErrorVariable err -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.TargetNotEmpty,*'
        Get-Listing $target | Should -Be $before
        Get-Content -LiteralPath (Join-Path $target 'README.md') | Should -Be 'mine'
    }

    It '-Force restores into it, replacing existing files' {
        $target = New-Target
        $null = New-Item -ItemType Directory -Force -Path $target
        Set-Content -LiteralPath (Join-Path $target 'README.md') -Value 'mine'
        $r = Restore-RepoBackup -Path $archives[-1] -Destination $target -Force
        $r.Refused | Should -BeNullOrEmpty
        Get-TreeHash $target | Should -Be (Get-SourceHash $repo)
    }

    It '-WhatIf writes nothing' {
        $target = New-Target
        $r = Restore-RepoBackup -Path $archives[-1] -Destination $target -WhatIf
        $r | Should -BeNullOrEmpty
        $target | Should -Not -Exist
    }

    It 'Get-RepoBackup | Sort-Object Created | Select-Object -First 1 | Restore-RepoBackup -Destination ./r restores the oldest' {
        $work = New-Target
        $null = New-Item -ItemType Directory -Force -Path $work
        Push-Location $work
        try {
            $r = Get-RepoBackup -Repository $repoName -Destination $dest | Sort-Object Created | Select-Object -First 1 | Restore-RepoBackup -Destination ./r
        } finally { Pop-Location }
        $r.Archive | Should -Be $archives[0]
        $r.Target | Should -Be (Join-Path $work 'r')
        Get-Content -LiteralPath (Join-Path $work 'r/README.md') -Raw | Should -Not -Match 'change 2'
    }

    It 'restores the newest backup of the current repository by default' {
        $target = New-Target
        $env:BACKUP_REPO_DESTINATIONS = $dest
        Push-Location $repo
        try { $r = Restore-RepoBackup -Destination $target } finally { Pop-Location; $env:BACKUP_REPO_DESTINATIONS = $null }
        $r.Archive | Should -Be $archives[-1]
    }

    It 'writes a non-terminating error for each refused entry ($? is false), lists it, and Test-RepoBackup fails the archive' {
        # A hand-made archive with our manifest and an entry that escapes the target.
        Add-Type -AssemblyName System.IO.Compression, System.IO.Compression.FileSystem
        $evil = Join-Path $TestHome 'evil.zip'
        Copy-Item -LiteralPath $archives[-1] -Destination $evil
        $zip = [IO.Compression.ZipFile]::Open($evil, 'Update')
        try {
            $e = $zip.CreateEntry('../escaped.txt')
            $w = [IO.StreamWriter]::new($e.Open()); $w.Write('x'); $w.Dispose()
        } finally { $zip.Dispose() }
        $target = New-Target
        $r = Restore-RepoBackup -Path $evil -Destination $target -ErrorVariable err -ErrorAction SilentlyContinue
        $ok = $?
        $ok | Should -BeFalse
        $r.Refused.Path | Should -Contain '../escaped.txt'
        $mine = @($err | Where-Object { "$_" -match 'escaped\.txt' })
        $mine.Count | Should -Be 1
        $mine[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.EntryNotRestored,*'
        $r.FilesRestored | Should -BeGreaterThan 0 -Because 'the rest is restored'
        Join-Path $TestHome 'escaped.txt' | Should -Not -Exist
        # Verify agrees with restore: it fails the archive, naming the entry.
        $v = Test-RepoBackup -Path $evil -ErrorAction SilentlyContinue
        $v.Ok | Should -BeFalse
        $v.Errors | Where-Object { $_ -match '\.\./escaped\.txt' } | Should -Not -BeNullOrEmpty
    }

    It 'has a table view' {
        Get-FormatData -TypeName BackupRepo.RestoreResult | Should -Not -BeNullOrEmpty
    }
}
