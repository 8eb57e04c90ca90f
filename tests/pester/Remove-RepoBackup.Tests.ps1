# Remove-RepoBackup: retention on demand. -WhatIf deletes nothing and shows each
# decision; -Confirm:$false deletes exactly the planned ones, never a foreign
# file, never the newest.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'history.ps1')

    function New-Fixture {
        $repo = New-FixedRepo
        $name = Split-Path -Leaf $repo
        $dest = New-TestDestination
        $archives = @(New-BackupSeries -Repo $repo -Destination $dest -Count 4)
        $foreign = @(Add-ForeignFile -Folder (Join-Path $dest $name) -RepoName $name)
        [pscustomobject]@{ Repo = $repo; Name = $name; Dest = $dest; Archives = $archives; Foreign = $foreign }
    }
}

AfterAll { Remove-TestHome }

Describe 'Remove-RepoBackup' {
    BeforeAll {
        $script:f = New-Fixture
    }

    It 'is a high-impact ShouldProcess command with the retention rules' {
        $cmd = Get-Command Remove-RepoBackup
        $cmd.Parameters.Keys | Should -Contain 'WhatIf'
        $cmd.Parameters.Keys | Should -Contain 'Confirm'
        foreach ($p in 'KeepLast', 'KeepWithin', 'KeepDaily', 'KeepWeekly', 'KeepMonthly', 'Repository', 'Destination', 'PassThru') {
            $cmd.Parameters.Keys | Should -Contain $p
        }
        $cmd.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false).ConfirmImpact | Should -Be 'High'
    }

    It 'refuses to run without a rule' {
        { Remove-RepoBackup -Repository $f.Name -Destination $f.Dest -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupRepo.NoRetentionRule,BackupRepo.Commands.RemoveRepoBackupCommand'
    }

    It '-WhatIf deletes nothing and shows each decision with its reason' {
        $before = Get-Listing $f.Dest
        $r = Invoke-Pwsh -Command "Import-Module '$ModuleManifest'; Remove-RepoBackup -Repository '$($f.Name)' -Destination '$($f.Dest)' -KeepLast 2 -WhatIf -Verbose"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        Get-Listing $f.Dest | Should -Be $before
        foreach ($old in $f.Archives[0..1]) {
            $r.StdOut | Should -Match ('What if: Performing the operation "Delete backup \(.+\)" on target "' + [regex]::Escape($old) + '"')
        }
        foreach ($kept in $f.Archives[2..3]) {
            $r.StdOut | Should -Match ('VERBOSE: Keep ' + [regex]::Escape($kept) + ' \(.+\)')
            $r.StdOut | Should -Not -Match ('on target "' + [regex]::Escape($kept) + '"')
        }
        foreach ($x in $f.Foreign) { $r.StdOut | Should -Not -Match ([regex]::Escape($x)) }
    }

    It '-Confirm asks (a non-interactive session cannot answer, so nothing is deleted)' {
        $before = Get-Listing $f.Dest
        $r = Invoke-Pwsh -Command "Import-Module '$ModuleManifest'; Remove-RepoBackup -Repository '$($f.Name)' -Destination '$($f.Dest)' -KeepLast 1"
        $r.StdErr | Should -Match 'NonInteractive|prompt'
        Get-Listing $f.Dest | Should -Be $before
    }

    It '-Confirm:$false deletes exactly the planned ones; -PassThru returns them' {
        $removed = @(Remove-RepoBackup -Repository $f.Name -Destination $f.Dest -KeepLast 2 -Confirm:$false -PassThru -ErrorVariable err)
        $err | Should -BeNullOrEmpty
        @($removed.Path | Sort-Object) | Should -Be @($f.Archives[0..1] | Sort-Object)
        foreach ($d in $removed) {
            $d | Should -BeOfType ([BackupRepo.RetentionDecision])
            $d.Keep | Should -BeFalse
            $d.Reasons | Should -Not -BeNullOrEmpty
            $d.Path | Should -Not -Exist
        }
        foreach ($kept in $f.Archives[2..3]) { $kept | Should -Exist }
        foreach ($x in $f.Foreign) { $x | Should -Exist }
        @(Get-RepoBackup -Repository $f.Name -Destination $f.Dest).Count | Should -Be 2
    }

    It 'outputs nothing without -PassThru' {
        $null = Backup-Repo -Path $f.Repo -Destination $f.Dest -Force
        $out = Remove-RepoBackup -Repository $f.Name -Destination $f.Dest -KeepLast 2 -Confirm:$false
        $out | Should -BeNullOrEmpty
        @(Get-RepoBackup -Repository $f.Name -Destination $f.Dest).Count | Should -Be 2
    }

    It 'never deletes the newest, even with a rule that keeps nothing recent' {
        $g = New-Fixture
        $null = Remove-RepoBackup -Repository $g.Name -Destination $g.Dest -KeepWithin '0h' -Confirm:$false
        $g.Archives[-1] | Should -Exist
        foreach ($x in $g.Foreign) { $x | Should -Exist }
        @(Get-RepoBackup -Repository $g.Name -Destination $g.Dest).Path | Should -Be $g.Archives[-1]
    }

    It 'reports an invalid -KeepWithin as an error and deletes nothing' {
        $before = Get-Listing $f.Dest
        Remove-RepoBackup -Repository $f.Name -Destination $f.Dest -KeepWithin '30x' -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.InvalidArgument*'
        "$($err[0])" | Should -Match '-KeepWithin'
        Get-Listing $f.Dest | Should -Be $before
    }

    It 'takes the repository from the current folder' {
        $g = New-Fixture
        Push-Location $g.Repo
        try { $removed = @(Remove-RepoBackup -Destination $g.Dest -KeepLast 3 -Confirm:$false -PassThru) } finally { Pop-Location }
        $removed.Path | Should -Be $g.Archives[0]
    }

    It 'has a table view for its decisions' {
        Get-FormatData -TypeName BackupRepo.RetentionDecision | Should -Not -BeNullOrEmpty
    }
}
