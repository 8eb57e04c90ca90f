# The config file and the environment, through the module: the engine reads
# and resolves them (one parser, one set of rules), so the answers here are
# the C ABI's (tests/c/backup_repo_test.c runs the same cases through it).

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
}

AfterAll { Remove-TestHome }

Describe 'The config file' {
    It 'accepts comments and trailing commas, for Backup-Repo and Get-RepoBackup alike' {
        $repo = New-TestRepo -Name 'cfgcomments'
        $dir = New-TestDestination
        $config = Join-Path $dir 'config.json'
        Set-Content -LiteralPath $config -Value @'
{
  // backups go next to this file
  "destinations": ["backups",],
  /* and never the docs */
  "exclude": ["*.md"],
}
'@
        $r = Backup-Repo -Path $repo -ConfigPath $config
        $r.Status | Should -Be 'Created'
        $r.Destinations[0].Root | Should -Be (Join-Path $dir 'backups')
        Get-ZipEntry -Path $r.Destinations[0].ArchivePath | Should -Not -Contain 'README.md'
        $env:BACKUP_REPO_CONFIG = $config
        try {
            $listed = Get-RepoBackup -Repository cfgcomments -ErrorVariable errs
            $errs | Should -BeNullOrEmpty
            @($listed).Count | Should -Be 1
            $listed.Path | Should -Be $r.Destinations[0].ArchivePath
        } finally {
            Remove-Item Env:BACKUP_REPO_CONFIG
        }
    }

    It 'names the file, the line and the key of a typo, and suggests the known key' {
        $repo = New-TestRepo
        $config = Join-Path (New-TestDestination) 'config.json'
        Set-Content -LiteralPath $config -Value "{`n  `"destination`": [`"/tmp/x`"]`n}"
        { Backup-Repo -Path $repo -ConfigPath $config -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*'$config', line 2, key 'destination': unknown key; did you mean 'destinations'?*"
    }

    It 'refuses a file too large to be a config, without reading it' {
        $repo = New-TestRepo
        $config = Join-Path (New-TestDestination) 'config.json'
        $f = [IO.File]::Create($config); $f.SetLength(2MB); $f.Dispose()
        { Backup-Repo -Path $repo -ConfigPath $config -ErrorAction Stop } | Should -Throw -ExpectedMessage '*more than a config file can be*'
    }
}

Describe 'The environment the engine sees' {
    It 'is the session''s: $env:BACKUP_REPO_DESTINATIONS set here reaches the engine' {
        $repo = New-TestRepo
        $a = New-TestDestination
        $env:BACKUP_REPO_DESTINATIONS = $a
        try {
            (Backup-Repo -Path $repo).Destinations.Root | Should -Be $a
        } finally {
            Remove-Item Env:BACKUP_REPO_DESTINATIONS
        }
    }

    It 'gives one metrics folder to every layer: $env:BACKUP_REPO_METRICS_DIR, else the config file''s' {
        $repo = New-TestRepo -Name 'metricsdir'
        $dest = New-TestDestination
        $metrics = New-TestDestination
        $config = Join-Path (New-TestDestination) 'config.json'
        Set-Content -LiteralPath $config -Value (@{ metrics_log_dir = $metrics } | ConvertTo-Json)
        $run = Invoke-Pwsh -File $DropIn -ArgumentList '-Destination', $dest -WorkingDirectory $repo -Environment @{ BACKUP_REPO_CONFIG = $config; BACKUP_REPO_METRICS_DIR = $null }
        $run.ExitCode | Should -Be 0 -Because $run.StdErr
        Join-Path $metrics 'backup-metricsdir.jsonl' | Should -Exist
        $other = New-TestDestination
        Set-Content -LiteralPath (Join-Path $repo 'src/main.py') -Value 'changed'
        $run = Invoke-Pwsh -File $DropIn -ArgumentList '-Destination', $dest -WorkingDirectory $repo -Environment @{ BACKUP_REPO_CONFIG = $config; BACKUP_REPO_METRICS_DIR = $other }
        $run.ExitCode | Should -Be 0 -Because $run.StdErr
        Join-Path $other 'backup-metricsdir.jsonl' | Should -Exist
    }
}
