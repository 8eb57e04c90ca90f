# Test-RepoBackup: CRCs and manifest hashes, -Source, a corrupted archive gives
# BackupRepo.VerifyFailed and a result with Ok = false, nothing is modified,
# and the pipelines from Get-RepoBackup and Backup-Repo work.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'history.ps1')
    $script:repo = New-FixedRepo
    $script:repoName = Split-Path -Leaf $repo
    $script:dest = New-TestDestination
    $script:archives = @(New-BackupSeries -Repo $repo -Destination $dest -Count 2)

    function New-CorruptCopy {
        <# A copy of -Path with one byte flipped in the middle. #>
        param([string]$Path)
        $bad = Join-Path $TestHome ('corrupt-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.zip')
        $bytes = [IO.File]::ReadAllBytes($Path)
        $i = [int]($bytes.Length / 2)
        $bytes[$i] = $bytes[$i] -bxor 0xFF
        [IO.File]::WriteAllBytes($bad, $bytes)
        $bad
    }
}

AfterAll { Remove-TestHome }

Describe 'Test-RepoBackup' {
    It 'verifies a good archive: Ok, entries checked, no error' {
        $r = Test-RepoBackup -Path $archives[-1] -ErrorVariable err
        $err | Should -BeNullOrEmpty
        $r | Should -BeOfType ([BackupRepo.VerifyResult])
        $r.Ok | Should -BeTrue
        $r.Archive | Should -Be $archives[-1]
        $r.EntriesChecked | Should -BeGreaterOrEqual 8
        $r.FirstError | Should -BeNullOrEmpty
    }

    It 'reports a corrupted archive: BackupRepo.VerifyFailed (InvalidData) and Ok = false with the first error' {
        $bad = New-CorruptCopy $archives[-1]
        $hash = (Get-FileHash -LiteralPath $bad).Hash
        $r = Test-RepoBackup -Path $bad -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.VerifyFailed,*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $r.Ok | Should -BeFalse
        $r.FirstError | Should -Not -BeNullOrEmpty
        (Get-FileHash -LiteralPath $bad).Hash | Should -Be $hash -Because 'verification never modifies the archive'
    }

    It 'reports a file that is not a ZIP the same way' {
        $junk = Join-Path $TestHome 'junk.zip'
        Set-Content -LiteralPath $junk -Value 'not a zip at all'
        $r = Test-RepoBackup -Path $junk -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.VerifyFailed,*'
        $r.Ok | Should -BeFalse
        $r.FirstError | Should -Not -BeNullOrEmpty
    }

    It 'continues after a bad archive (non-terminating error per archive)' {
        $bad = New-CorruptCopy $archives[0]
        $r = @(Test-RepoBackup -Path $bad, $archives[0] -ErrorAction SilentlyContinue)
        $r.Count | Should -Be 2
        $r[0].Ok | Should -BeFalse
        $r[1].Ok | Should -BeTrue
    }

    It 'a missing archive is BackupRepo.PathNotFound' {
        Test-RepoBackup -Path (Join-Path $TestHome 'nope.zip') -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.PathNotFound,*'
    }

    It '-Source: OK against the unchanged source; once the source changed still OK, with SourceChanged and a warning' {
        $fresh = New-FixedRepo
        $a = @(New-BackupSeries -Repo $fresh -Destination (New-TestDestination) -Count 1)[0]
        (Test-RepoBackup -Path $a -Source $fresh).Ok | Should -BeTrue
        Add-Content -LiteralPath (Join-Path $fresh 'src/main.py') -Value 'changed'
        $r = Test-RepoBackup -Path $a -Source $fresh -ErrorVariable err -WarningVariable warn -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $r.Ok | Should -BeTrue
        $r.SourceChanged | Should -BeTrue
        $r.Source | Should -Be $fresh
        $err | Should -BeNullOrEmpty
        "$warn" | Should -Match 'src/main.py'
    }

    It 'Get-RepoBackup | Test-RepoBackup verifies every backup' {
        $r = @(Get-RepoBackup -Repository $repoName -Destination $dest | Test-RepoBackup)
        $r.Count | Should -Be 2
        $r.Ok | Should -Not -Contain $false
        @($r.Archive | Sort-Object) | Should -Be @($archives | Sort-Object)
    }

    It 'Backup-Repo | Select-Object -ExpandProperty Destinations | Test-RepoBackup verifies what was written' {
        $dests = @(New-TestDestination; New-TestDestination)
        $b = Backup-Repo -Path $repo -Destination $dests -Force
        $r = @($b | Select-Object -ExpandProperty Destinations | Test-RepoBackup)
        $r.Count | Should -Be 2
        @($r.Archive | Sort-Object) | Should -Be @($b.Destinations.ArchivePath | Sort-Object)
        $r.Ok | Should -Not -Contain $false
    }

    It 'takes archives by value and from Get-ChildItem' {
        @($archives | Test-RepoBackup).Count | Should -Be 2
        @(Get-ChildItem -LiteralPath (Join-Path $dest $repoName) -Filter *.zip | Test-RepoBackup).Ok | Should -Not -Contain $false
    }

    It 'has a table view' {
        (Test-RepoBackup -Path $archives[0] | Format-Table | Out-String) | Should -Match 'Entries'
    }
}
