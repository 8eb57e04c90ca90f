# Never lose a backup, through the module and the drop-in: two repositories
# with one folder name, the clock's UTC offset dropping (TZ=CEST-2, then
# TZ=CET-1: the newest backup has the older name), and a destination inside
# the source. Each backup runs in a fresh pwsh so that TZ applies.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    function Invoke-Backup {
        <# Backup-Repo in a fresh pwsh, in $In, with $Arguments; returns the result as JSON-friendly text. #>
        param([string]$In, [string]$Arguments, [hashtable]$Environment = @{})
        $command = "Import-Module '$ModuleManifest'; `$r = Backup-Repo $Arguments -ErrorVariable errs -ErrorAction SilentlyContinue; " +
            "[pscustomobject]@{ Status = `"`$(`$r.Status)`"; Archives = @(`$r.Destinations.ArchivePath); Reasons = @(`$r.Destinations.Reason); Errors = @(`$errs | ForEach-Object { `"`$_`" }) } | ConvertTo-Json -Compress"
        $run = Invoke-Pwsh -Command $command -WorkingDirectory $In -Environment $Environment
        $run.ExitCode | Should -Be 0 -Because $run.StdErr
        $run.StdOut | ConvertFrom-Json
    }

    function Invoke-DropIn {
        param([string]$In, [string[]]$Arguments = @(), [hashtable]$Environment = @{})
        Invoke-Pwsh -File $DropIn -ArgumentList $Arguments -WorkingDirectory $In -Environment $Environment
    }

    function Get-Zip { param([string]$Folder) @(Get-ChildItem -LiteralPath $Folder -Filter '*.zip' -File | Sort-Object Name | ForEach-Object Name) }
}

AfterAll { Remove-TestHome }

Describe 'Never lose a backup (module)' {
    It 'keeps two same-name repositories apart: -KeepLast on one never deletes the other''s backups' {
        $one = New-TestRepo -Parent (New-TestDestination -Name "one-$([guid]::NewGuid().ToString('N').Substring(0,6))") -Name 'app'
        $two = New-TestRepo -Parent (New-TestDestination -Name "two-$([guid]::NewGuid().ToString('N').Substring(0,6))") -Name 'app'
        Set-Content -LiteralPath (Join-Path $two 'only-two.txt') -Value 'two'
        $dest = New-TestDestination
        $first = Backup-Repo -Path $one -Destination $dest
        $first.Status | Should -Be 'Created'
        Start-Sleep -Milliseconds 1100
        $second = Backup-Repo -Path $two -Destination $dest -KeepLast 1
        $second.Status | Should -Be 'Created'
        $second.SourceId | Should -Not -Be $first.SourceId
        $first.Destinations[0].ArchivePath | Should -Exist
        $third = Backup-Repo -Path $one -Destination $dest -KeepLast 1
        $third.Status | Should -Be 'Skipped' -Because 'one/app is unchanged since its own backup'

        $listed = Get-RepoBackup -Destination $dest -Repository app
        @($listed).Count | Should -Be 2
        ($listed.Source | Sort-Object) | Should -Be (@($one, $two) | Sort-Object)
        ($listed | Format-Table | Out-String -Width 400) | Should -Match ([regex]::Escape($two))
    }

    It 'keeps the newest backup with -KeepLast 1 after the UTC offset drops (TZ=CEST-2, then TZ=CET-1)' {
        $repo = New-TestRepo -Name 'tzapp'
        $dest = New-TestDestination
        $summer = Invoke-Backup -In $repo -Arguments "-Destination '$dest' -KeepLast 1" -Environment @{ TZ = 'CEST-2' }
        $summer.Status | Should -Be 'Created'
        Set-Content -LiteralPath (Join-Path $repo 'src/main.py') -Value 'changed'
        $winter = Invoke-Backup -In $repo -Arguments "-Destination '$dest' -KeepLast 1" -Environment @{ TZ = 'CET-1' }
        $winter.Status | Should -Be 'Created'
        # The new backup's name is an hour "older" than the first one's.
        (Split-Path -Leaf $winter.Archives[0]) | Should -BeLessThan (Split-Path -Leaf $summer.Archives[0])
        Get-Zip (Join-Path $dest 'tzapp') | Should -Be @(Split-Path -Leaf $winter.Archives[0])
    }

    It 'refuses a destination inside the source, however it is spelled' -ForEach @(
        @{ Spelling = '.' }, @{ Spelling = './bk' }, @{ Spelling = 'bk/../bk2' }
    ) {
        $repo = New-TestRepo
        $outside = New-TestDestination
        $r = Invoke-Backup -In $repo -Arguments "-Destination '$Spelling', '$outside'"
        $r.Status | Should -Be 'Partial'
        $r.Reasons[0] | Should -Match 'inside the source'
        $r.Errors -join "`n" | Should -Match 'inside the source'
        @(Get-ChildItem -LiteralPath $repo -Recurse -Filter '*.zip').Count | Should -Be 0
    }

    It 'resolves a relative destination in the config file against the file''s folder, never the current one' {
        $repo = New-TestRepo -Name 'cfgapp'
        $configDir = New-TestDestination
        $config = Join-Path $configDir 'config.json'
        Set-Content -LiteralPath $config -Value '{ "destinations": ["backups-here"] }'
        $r = Invoke-Backup -In $repo -Arguments "-ConfigPath '$config'"
        $r.Status | Should -Be 'Created'
        $r.Archives[0] | Should -BeLike (Join-Path $configDir 'backups-here/cfgapp/*')
        Test-Path -LiteralPath (Join-Path $repo 'backups-here') | Should -BeFalse
    }
}

Describe 'Never lose a backup (drop-in)' {
    It 'keeps two same-name repositories apart with -KeepLast' {
        $one = New-TestRepo -Parent (New-TestDestination -Name "one-$([guid]::NewGuid().ToString('N').Substring(0,6))") -Name 'dapp'
        $two = New-TestRepo -Parent (New-TestDestination -Name "two-$([guid]::NewGuid().ToString('N').Substring(0,6))") -Name 'dapp'
        Set-Content -LiteralPath (Join-Path $two 'only-two.txt') -Value 'two'
        $dest = New-TestDestination
        (Invoke-DropIn -In $one -Arguments '-Destination', $dest).ExitCode | Should -Be 0
        Start-Sleep -Milliseconds 1100
        $r = Invoke-DropIn -In $two -Arguments '-Destination', $dest, '-KeepLast', '1'
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        @(Get-Zip (Join-Path $dest 'dapp')).Count | Should -Be 2
        # -List counts this repository's backups only, and says whose they are.
        $list = Invoke-DropIn -In $two -Arguments '-List', '-OutputFormat', 'json', '-Destination', $dest
        $list.ExitCode | Should -Be 0 -Because $list.StdErr
        $rows = @($list.StdOut | ConvertFrom-Json)
        $rows.Count | Should -Be 1
        $rows[0].count | Should -Be 1
        $rows[0].source | Should -Be $two
        (Invoke-DropIn -In $one -Arguments '-List', '-Destination', $dest).StdOut | Should -Match ("Source:\s+" + [regex]::Escape($one))
    }

    It 'keeps the newest backup after TZ=CEST-2 then TZ=CET-1' {
        $repo = New-TestRepo -Name 'dtz'
        $dest = New-TestDestination
        (Invoke-DropIn -In $repo -Arguments '-Destination', $dest, '-KeepLast', '1' -Environment @{ TZ = 'CEST-2' }).ExitCode | Should -Be 0
        $summer = Get-Zip (Join-Path $dest 'dtz')
        Set-Content -LiteralPath (Join-Path $repo 'src/main.py') -Value 'changed'
        $r = Invoke-DropIn -In $repo -Arguments '-Destination', $dest, '-KeepLast', '1', '-OutputFormat', 'json' -Environment @{ TZ = 'CET-1' }
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $left = Get-Zip (Join-Path $dest 'dtz')
        @($left).Count | Should -Be 1
        $left | Should -Not -Be $summer
    }

    It 'refuses -Destination . (the repository itself)' {
        $repo = New-TestRepo
        $r = Invoke-DropIn -In $repo -Arguments '-Destination', '.'
        $r.ExitCode | Should -Not -Be 0
        ($r.StdOut + $r.StdErr) | Should -Match 'inside the source'
        @(Get-ChildItem -LiteralPath $repo -Recurse -Filter '*.zip').Count | Should -Be 0
    }
}
