# Compare-RepoBackup: added, removed and modified paths with sizes, between two
# backups (manifests only) or a backup and its source.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'history.ps1')
    $script:repo = New-FixedRepo
    $script:repoName = Split-Path -Leaf $repo
    $script:dest = New-TestDestination
    $script:old = @(New-BackupSeries -Repo $repo -Destination $dest -Count 1)[0]
    # Changes: one added, one removed, one modified (different size).
    Set-Content -LiteralPath (Join-Path $repo 'src/added.py') -Value 'new = True'
    Remove-Item -LiteralPath (Join-Path $repo 'environment.py')
    Set-Content -LiteralPath (Join-Path $repo 'README.md') -Value 'rewritten, and longer than before...........................'
    $script:new = (Backup-Repo -Path $repo -Destination $dest).Destinations[0].ArchivePath
}

AfterAll { Remove-TestHome }

Describe 'Compare-RepoBackup' {
    It 'lists added, removed and modified paths between two backups, with sizes' {
        $c = @(Compare-RepoBackup -ReferencePath $old -DifferencePath $new)
        $c | ForEach-Object { $_ | Should -BeOfType ([BackupRepo.BackupChange]) }
        $c.Count | Should -Be 3
        $added = $c | Where-Object Path -eq 'src/added.py'
        $added.Change | Should -Be ([BackupRepo.ChangeKind]::Added)
        $added.OldSize | Should -BeNullOrEmpty
        $added.NewSize | Should -Be (Get-Item -LiteralPath (Join-Path $repo 'src/added.py')).Length
        $removed = $c | Where-Object Path -eq 'environment.py'
        $removed.Change | Should -Be 'Removed'
        $removed.NewSize | Should -BeNullOrEmpty
        $removed.OldSize | Should -BeGreaterThan 0
        $modified = $c | Where-Object Path -eq 'README.md'
        $modified.Change | Should -Be 'Modified'
        $modified.NewSize | Should -Be (Get-Item -LiteralPath (Join-Path $repo 'README.md')).Length
        $modified.OldSize | Should -Not -Be $modified.NewSize
        $c[0].Reference | Should -Be $old
        $c[0].Difference | Should -Be $new
    }

    It 'nothing between a backup and itself' {
        Compare-RepoBackup -ReferencePath $new -DifferencePath $new | Should -BeNullOrEmpty
    }

    It 'compares a backup with the source folder' {
        Set-Content -LiteralPath (Join-Path $repo 'later.md') -Value 'after the last backup'
        try {
            $c = @(Compare-RepoBackup -Path $new -Source $repo)
            $c.Count | Should -Be 1
            $c[0].Path | Should -Be 'later.md'
            $c[0].Change | Should -Be 'Added'
            $c[0].Difference | Should -Be $repo
            # The old backup against the source: the three changes plus the new file.
            @(Compare-RepoBackup -Path $old -Source $repo).Count | Should -Be 4
        } finally {
            Remove-Item -LiteralPath (Join-Path $repo 'later.md')
        }
    }

    It 'takes the backup from the pipeline (Get-RepoBackup | Compare-RepoBackup -Source)' {
        $c = Get-RepoBackup -Repository $repoName -Destination $dest | Sort-Object Created | Select-Object -First 1 | Compare-RepoBackup -Source $repo
        @($c).Count | Should -Be 3
    }

    It 'a missing archive is BackupRepo.PathNotFound; a foreign zip is BackupRepo.BadArchive' {
        Compare-RepoBackup -ReferencePath (Join-Path $TestHome 'nope.zip') -DifferencePath $new -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.PathNotFound,*'
        $plain = Join-Path $TestHome 'plain.txt'
        Set-Content -LiteralPath $plain -Value 'x'
        $foreign = Join-Path $TestHome 'foreign.zip'
        Compress-Archive -LiteralPath $plain -DestinationPath $foreign -Force
        Compare-RepoBackup -ReferencePath $foreign -DifferencePath $new -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.BadArchive,*'
    }

    It 'has a table view' {
        (Compare-RepoBackup -ReferencePath $old -DifferencePath $new | Format-Table | Out-String) | Should -Match 'Change\s+OldSize\s+NewSize\s+Path'
    }
}
