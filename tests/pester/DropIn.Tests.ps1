# powershell/backup-repo.ps1, the drop-in for the original script, run as the
# user runs it: a fresh pwsh, from the repository root. docs/COMPATIBILITY.md is the contract.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    function Invoke-DropIn {
        param([string]$In, [string[]]$Arguments = @(), [hashtable]$Environment = @{})
        Invoke-Pwsh -File $DropIn -ArgumentList $Arguments -WorkingDirectory $In -Environment $Environment
    }

    $script:OriginalJsonKeys = 'repo', 'timestamp', 'status', 'created', 'skipped', 'size_mb', 'duration_seconds', 'file_count', 'locations'
    $script:OriginalMetricsKeys = 'timestamp', 'repo', 'status', 'locations_created', 'locations_skipped', 'size_mb', 'duration_seconds', 'file_count', 'duplicate_detected'
}

AfterAll { Remove-TestHome }

Describe 'backup-repo.ps1 (drop-in)' {
    Context 'without the engine' {
        It 'outside a repository: "Must run from repository root" on stderr, exit 1' {
            $empty = Join-Path $TestHome 'not-a-repo'
            $null = New-Item -ItemType Directory -Force -Path $empty
            Set-Content -LiteralPath (Join-Path $empty 'notes.txt') -Value 'x'
            $r = Invoke-DropIn -In $empty
            $r.ExitCode | Should -Be 1
            $r.StdErr | Should -Match 'Must run from repository root'
            $r.StdOut | Should -BeNullOrEmpty
        }

        It 'counts pyproject.toml and package.json as a repository root too' -ForEach @('pyproject.toml', 'package.json') {
            $dir = Join-Path $TestHome ('marker-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
            $null = New-Item -ItemType Directory -Force -Path $dir
            Set-Content -LiteralPath (Join-Path $dir $_) -Value '{}'
            # -List (Get-RepoBackup -Summary) of an empty destination: past the check, exit 0.
            $r = Invoke-DropIn -In $dir -Arguments '-List', '-Destination', (New-TestDestination)
            $r.StdErr | Should -Not -Match 'Must run from repository root'
            $r.ExitCode | Should -Be 0
        }

        It 'rejects an unknown -OutputFormat' {
            $r = Invoke-DropIn -In (New-TestRepo) -Arguments '-OutputFormat', 'xml'
            $r.ExitCode | Should -Not -Be 0
            $r.StdErr | Should -Match 'OutputFormat'
        }

        It 'a library that cannot be loaded: its message once, no stack trace, exit 1 (backup, JSON and -List)' -ForEach @(
            @{ Arguments = @() }
            @{ Arguments = @('-OutputFormat', 'json') }
            @{ Arguments = @('-List') }
        ) {
            $r = Invoke-DropIn -In (New-TestRepo) -Arguments ($Arguments + @('-Destination', (New-TestDestination))) -Environment @{ BACKUP_REPO_LIBRARY = '/nonexistent/libbackup_repo.so' }
            $r.ExitCode | Should -Be 1
            $all = $r.StdOut + $r.StdErr
            ([regex]::Matches($all, 'ERROR: The BackupRepo native library')).Count | Should -Be 1 -Because $all
            $all | Should -Match 'BACKUP_REPO_LIBRARY'
            $all | Should -Not -Match 'CmdletInvocationException|\bat BackupRepo\.|--- End of inner exception'
            if ($Arguments -contains 'json') {
                ($r.StdOut | ConvertFrom-Json).error | Should -BeLike 'The BackupRepo native library*'
            }
        }

        It 'has the original switches plus -KeepLast, -Verify, -WebhookUrl, and ShouldProcess' {
            $cmd = Get-Command $DropIn
            foreach ($p in 'IncludeBuild', 'List', 'OutputFormat', 'KeepLast', 'Verify', 'WebhookUrl', 'Destination', 'WhatIf', 'Confirm', 'Verbose') {
                $cmd.Parameters.Keys | Should -Contain $p
            }
        }
    }

    Context 'the summary (BackupRepo.DropInSummary, what the script prints)' {
        BeforeAll {
            function New-Result([object[]]$Destinations, [uint64]$ArchiveBytes = 0) {
                $r = [BackupRepo.BackupResult]::new()
                $r.Repository = 'demo'
                $r.Timestamp = [datetime]::new(2026, 12, 3, 10, 0, 0)
                $r.SourceBytes = 3MB
                $r.ArchiveBytes = $ArchiveBytes
                $r.FileCount = 7
                $r.Duration = [timespan]::FromSeconds(1.234)
                $r.Destinations = $Destinations
                $r
            }
            function New-Dest([string]$Name, [BackupRepo.DestinationStatus]$Status, [string]$ArchivePath) {
                $d = [BackupRepo.BackupDestination]::new()
                $d.Name = $Name; $d.Path = "/b/$Name"; $d.Status = $Status; $d.ArchivePath = $ArchivePath
                $d
            }
        }

        It 'statuses as the original: success, skipped, partial, failed, planned' {
            $c = New-Dest 'c' Created '/b/c/x.zip'; $s = New-Dest 's' Skipped '/b/s/x.zip'; $f = New-Dest 'f' Failed
            [BackupRepo.DropInSummary]::Status((New-Result $s, $c), $false) | Should -Be 'success'
            [BackupRepo.DropInSummary]::Status((New-Result $s, $s), $false) | Should -Be 'skipped'
            [BackupRepo.DropInSummary]::Status((New-Result $s, $f), $false) | Should -Be 'partial'
            [BackupRepo.DropInSummary]::Status((New-Result $f, $f), $false) | Should -Be 'failed'
            [BackupRepo.DropInSummary]::Status((New-Result $c), $true) | Should -Be 'planned'
        }

        It 'keys, sizes, locations; an unchanged run reports the existing backup''s size' {
            $zip = Join-Path $TestHome 'summary-existing.zip'
            [IO.File]::WriteAllBytes($zip, [byte[]]::new(1572864))
            $text = [BackupRepo.PlainJson]::Serialize([BackupRepo.DropInSummary]::Of(
                (New-Result (New-Dest 'one' Skipped $zip), (New-Dest 'two' Failed)), $false, $false))
            $text | Should -Match '"timestamp": "2026-12-03_10-00-00"'
            $j = $text | ConvertFrom-Json
            @($j.PSObject.Properties.Name) | Should -Be @($OriginalJsonKeys + 'original_size_mb', 'schema_version', 'fingerprint', 'archive_name', 'pruned')
            $j.status | Should -Be 'partial'
            $j.size_mb | Should -Be 1.5
            $j.original_size_mb | Should -Be 3
            $j.duration_seconds | Should -Be 1.23
            @($j.skipped) | Should -Be @('one')
            @($j.created).Count | Should -Be 0
            $j.locations[0].path | Should -Be $zip
            $j.locations[1].path | Should -Be '/b/two'
            $j.locations[1].status | Should -Be 'failed'
            $j.locations[1].created | Should -BeFalse
        }

        It '-WhatIf and -Verify add their keys; the restore hint names a created archive before an unchanged one' {
            $plan = [BackupRepo.DropInSummary]::Of((New-Result (New-Dest 'a' WouldCreate), (New-Dest 'b' WouldSkip '/b/b/y.zip')), $true, $false)
            $plan['would_create'] | Should -Be @('a')
            $plan['would_skip'] | Should -Be @('b')
            $plan.Contains('verification') | Should -BeFalse
            $r = New-Result (New-Dest 's' Skipped '/b/s/old.zip'), (New-Dest 'c' Created '/b/c/new.zip') -ArchiveBytes 1MB
            $v = [BackupRepo.VerificationResult]::new(); $v.Archive = '/b/c/new.zip'; $v.Ok = $true; $v.EntriesChecked = 5
            $r.Verification = @($v)
            $checked = [BackupRepo.DropInSummary]::Of($r, $false, $true)
            $checked['verification'][0]['entries_checked'] | Should -Be 5
            $checked['size_mb'] | Should -Be 1
            [BackupRepo.DropInSummary]::RestoreArchive($r) | Should -Be '/b/c/new.zip'
            [BackupRepo.DropInSummary]::RestoreArchive((New-Result (New-Dest 'f' Failed '/b/f/z.zip'))) | Should -BeNullOrEmpty
        }
    }

    Context 'a backup' {
        BeforeAll {
            $script:repo = New-TestRepo -BulkMB 1
            $script:repoName = Split-Path -Leaf $repo
            $script:dest = New-TestDestination
            $script:metricsFile = Join-Path $env:BACKUP_REPO_METRICS_DIR "backup-$repoName.jsonl"
            $script:text = Invoke-DropIn -In $repo -Arguments '-Destination', $dest
        }

        It 'text mode: per-destination result, statistics and the restore hint; exit 0' {
            $text.ExitCode | Should -Be 0 -Because $text.StdErr
            $text.StdOut | Should -Match '\[created\]'
            $text.StdOut | Should -Match 'Status: success'
            $text.StdOut | Should -Match 'Size:\s+[\d.,]+ MiB'
            $text.StdOut | Should -Match 'Original size:\s+[\d.,]+ MiB'
            $text.StdOut | Should -Match 'Ratio:\s+[\d.,]+ % of the original size'
            $text.StdOut | Should -Match 'Space saved:'
            $text.StdOut | Should -Match "Expand-Archive -LiteralPath '.+_backup_.+\.zip' -DestinationPath '"

            Get-ChildItem -LiteralPath (Join-Path $dest $repoName) -Filter *.zip | Should -HaveCount 1
        }

        It 'JSON mode (-OutputFormat JSON): one object on stdout with the original keys; unchanged -> skipped' {
            $r = Invoke-DropIn -In $repo -Arguments '-OutputFormat', 'JSON', '-Destination', $dest
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $j = $r.StdOut | ConvertFrom-Json
            @($j).Count | Should -Be 1
            foreach ($k in $OriginalJsonKeys) { $j.PSObject.Properties.Name | Should -Contain $k }
            $j.repo | Should -Be $repoName
            $j.status | Should -Be 'skipped'
            @($j.skipped).Count | Should -Be 1
            @($j.created).Count | Should -Be 0
            $j.locations[0].created | Should -BeFalse
            $j.file_count | Should -BeGreaterThan 0
        }

        It 'appends one metrics line per run with the original keys' {
            $metricsFile | Should -Exist
            $lines = @(Get-Content -LiteralPath $metricsFile | ConvertFrom-Json)
            $lines.Count | Should -Be 2 -Because 'one text run, one JSON run'
            foreach ($m in $lines) {
                foreach ($k in $OriginalMetricsKeys) { $m.PSObject.Properties.Name | Should -Contain $k }
                $m.repo | Should -Be $repoName
                $m.file_count | Should -BeGreaterThan 0
                [datetimeoffset]::Parse($m.timestamp).Offset | Should -Be ([timespan]::Zero) -Because 'timestamps are UTC'
            }
            $lines[0].locations_created | Should -Be 1
            $lines[0].duplicate_detected | Should -BeFalse
            $lines[1].locations_skipped | Should -Be 1
            $lines[1].duplicate_detected | Should -BeTrue
        }

        It 'JSON mode after a change: status success, created and locations filled' {
            Add-Content -LiteralPath (Join-Path $repo 'src/main.py') -Value '# changed'
            $r = Invoke-DropIn -In $repo -Arguments '-OutputFormat', 'json', '-Destination', $dest
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $j = $r.StdOut | ConvertFrom-Json
            $j.status | Should -Be 'success'
            @($j.created).Count | Should -Be 1
            $j.locations[0].created | Should -BeTrue
            $j.locations[0].path | Should -Exist
            $j.size_mb | Should -BeGreaterThan 0
            $j.duration_seconds | Should -BeGreaterOrEqual 0
            [datetime]::ParseExact($j.timestamp, 'yyyy-MM-dd_HH-mm-ss', [cultureinfo]::InvariantCulture) | Should -BeOfType [datetime]
        }

        It 'JSON output and every metrics line validate against the published schemas (schema/)' {
            # Its own repository, so the other tests' run counts stay as they are.
            $own = New-TestRepo
            $ownDest = New-TestDestination
            $r = Invoke-DropIn -In $own -Arguments '-OutputFormat', 'json', '-Destination', $ownDest
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $schemas = Join-Path $RepoRoot 'schema'
            Test-Json -Json $r.StdOut -SchemaFile (Join-Path $schemas 'backup-result.schema.json') -ErrorAction Stop |
                Should -BeTrue
            $logs = @($metricsFile, (Join-Path $env:BACKUP_REPO_METRICS_DIR "backup-$(Split-Path -Leaf $own).jsonl"))
            $lines = @(Get-Content -LiteralPath $logs)
            $lines.Count | Should -BeGreaterThan 2
            foreach ($line in $lines) {
                Test-Json -Json $line -SchemaFile (Join-Path $schemas 'metrics-record.schema.json') -ErrorAction Stop |
                    Should -BeTrue
            }
        }

        It '-List shows count, oldest, newest, total and average per destination' {
            $r = Invoke-DropIn -In $repo -Arguments '-List', '-Destination', $dest
            $r.ExitCode | Should -Be 0
            $r.StdOut | Should -Match 'Backups:\s+2'
            $r.StdOut | Should -Match 'Oldest:'
            $r.StdOut | Should -Match 'Newest:'
            $r.StdOut | Should -Match 'Total:\s+[\d.,]+ MiB'
            $r.StdOut | Should -Match 'Average:\s+[\d.,]+ MiB'
            $j = (Invoke-DropIn -In $repo -Arguments '-List', '-OutputFormat', 'json', '-Destination', $dest).StdOut | ConvertFrom-Json
            $j[0].count | Should -Be 2
        }

        It '-List is Get-RepoBackup -Summary: ratio, frequency, duplicate statistics and file types; JSON is an array of summaries' {
            $r = Invoke-DropIn -In $repo -Arguments '-List', '-Destination', $dest
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.StdOut | Should -Match ([regex]::Escape("$(Split-Path -Leaf $dest): $(Join-Path $dest $repoName)"))
            # Backups made within minutes: no rate (no extrapolation from less than a day).
            $r.StdOut | Should -Match 'Frequency: less than a day of backups'
            $r.StdOut | Should -Match 'Unchanged: 1 of 3 runs skipped as duplicates'
            $r.StdOut | Should -Match 'Newest by type: .*Docs'
            $out = (Invoke-DropIn -In $repo -Arguments '-List', '-OutputFormat', 'json', '-Destination', $dest).StdOut
            $out.TrimStart() | Should -Match '^\['
            $j = @($out | ConvertFrom-Json)
            $j.Count | Should -Be 1
            foreach ($k in 'name', 'path', 'count', 'oldest', 'newest', 'total_mb', 'average_mb', 'compression_ratio', 'per_week', 'duplicates', 'file_types') {
                $j[0].PSObject.Properties.Name | Should -Contain $k
            }
            $j[0].path | Should -Be (Join-Path $dest $repoName)
            $j[0].duplicates.runs | Should -Be 3
            $j[0].duplicates.skipped_unchanged | Should -Be 1
            $j[0].file_types.type | Should -Contain 'Python'
            [datetime]::ParseExact($j[0].newest, 'yyyy-MM-dd HH:mm:ss', $null) | Should -BeGreaterThan ([datetime]::ParseExact($j[0].oldest, 'yyyy-MM-dd HH:mm:ss', $null))
        }

        It '-List writes its dates the same in every culture (fi-FI separates times with dots)' {
            $out = (Invoke-DropIn -In $repo -Arguments '-List', '-OutputFormat', 'json', '-Destination', $dest -Environment @{ LC_ALL = 'fi_FI.UTF-8'; LANG = 'fi_FI.UTF-8' }).StdOut
            $j = @($out | ConvertFrom-Json)
            $j[0].oldest | Should -Match '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$'
            $j[0].newest | Should -Match '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$'
        }

        It '-List of a destination without backups says so (and JSON gives count 0)' {
            $empty = New-TestDestination
            $r = Invoke-DropIn -In $repo -Arguments '-List', '-Destination', $empty
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.StdOut | Should -Match 'no backups'
            $j = @((Invoke-DropIn -In $repo -Arguments '-List', '-OutputFormat', 'json', '-Destination', $empty).StdOut | ConvertFrom-Json)
            $j[0].count | Should -Be 0
        }

        It 'run inside a session: host text is an information record (6> redirects it) and the module keeps its views' {
            # The fast path for `pwsh -File` (the assembly alone, Write-Host's
            # record without loading Microsoft.PowerShell.Utility) must not leak
            # into a session that goes on.
            $r = Invoke-Pwsh -WorkingDirectory $repo -Command @"
`$records = & '$DropIn' -Destination '$dest' 6>&1
`$hosted = @(`$records | Where-Object { `$_ -is [System.Management.Automation.InformationRecord] -and `$_.Tags -contains 'PSHOST' })
"records=`$(`$hosted.Count) status=`$(@(`$hosted.Where({ "`$(`$_.MessageData)" -like 'Status:*' })).Count)"
"views=`$(@(Get-FormatData -TypeName BackupRepo.BackupResult).Count)"
`$silent = & '$DropIn' -Destination '$dest' 6>`$null
"silent=`$(@(`$silent).Count)"
"@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.StdOut | Should -Match 'records=([1-9]\d*) status=1'
            $r.StdOut | Should -Match 'views=1'
            $r.StdOut | Should -Match 'silent=0'
        }

        It 'JSON inside a session is pipeline output (captured, redirected with >) and sets $LASTEXITCODE' {
            # A `pwsh -File` run writes the JSON to standard output itself; a
            # session must still get it as output, and `exit`'s exit code.
            $file = Join-Path $TestHome ('result-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.json')
            $r = Invoke-Pwsh -WorkingDirectory $repo -Command @"
`$global:LASTEXITCODE = 7
`$out = & '$DropIn' -Destination '$dest' -OutputFormat json
[Console]::Out.WriteLine("captured=`$((`$out | ConvertFrom-Json).status) exit=`$LASTEXITCODE")
& '$DropIn' -Destination '$dest' -OutputFormat json > '$file'
"@
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.StdOut.Trim() | Should -Be 'captured=skipped exit=0'
            (Get-Content -LiteralPath $file -Raw | ConvertFrom-Json).status | Should -Be 'skipped'
        }

        It 'run as the whole process: JSON alone on standard output, exit code 0 or 1 from the status' {
            $ok = Invoke-DropIn -In $repo -Arguments '-OutputFormat', 'json', '-Destination', $dest
            $ok.ExitCode | Should -Be 0 -Because $ok.StdErr
            ($ok.StdOut | ConvertFrom-Json).status | Should -Be 'skipped'
            $blocked = Join-Path $TestHome ('file-not-folder-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
            Set-Content -LiteralPath $blocked -Value 'a file where a destination folder should be'
            $failed = Invoke-DropIn -In $repo -Arguments '-OutputFormat', 'json', '-Destination', $blocked
            $failed.ExitCode | Should -Be 1
            ($failed.StdOut | ConvertFrom-Json).status | Should -Be 'failed'
        }

        It 'does not load Microsoft.PowerShell.Utility on its run path (text and JSON)' {
            foreach ($format in 'text', 'json') {
                $r = Invoke-Pwsh -WorkingDirectory $repo -Command "`$null = & '$DropIn' -Destination '$dest' -OutputFormat $format 6>`$null; [Console]::Out.WriteLine('utility=' + @(Get-Module Microsoft.PowerShell.Utility).Count)"
                $r.ExitCode | Should -Be 0 -Because $r.StdErr
                $r.StdOut | Should -Match 'utility=0' -Because "$format mode"
            }
        }

        It '-WhatIf shows the plan and creates nothing' {
            Add-Content -LiteralPath (Join-Path $repo 'README.md') -Value 'again'
            $watched = @($repo, $dest, $env:BACKUP_REPO_METRICS_DIR)
            $before = Get-Listing $watched
            $r = Invoke-DropIn -In $repo -Arguments '-WhatIf', '-Destination', $dest
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.StdOut | Should -Match 'would create'
            $r.StdOut | Should -Match '\d+ files'
            Get-Listing $watched | Should -Be $before
        }

        It 'exit 1 and status failed when no destination can be written' {
            $bad = Join-Path $TestHome ('file-dest-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
            Set-Content -LiteralPath $bad -Value 'file'
            $r = Invoke-DropIn -In $repo -Arguments '-OutputFormat', 'json', '-Destination', $bad
            $r.ExitCode | Should -Be 1
            ($r.StdOut | ConvertFrom-Json).status | Should -Be 'failed'
        }
    }

    Context '-Verbose, -KeepLast, -Verify and -WebhookUrl' {
        BeforeAll {
            $script:repo2 = New-TestRepo
            $script:repo2Name = Split-Path -Leaf $repo2
            $script:dest2 = New-TestDestination
        }

        It '-Verbose lists excluded paths with their rule and the step times' {
            $r = Invoke-DropIn -In $repo2 -Arguments '-Verbose', '-Destination', $dest2
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.StdOut | Should -Match 'VERBOSE: Excluded 1 path \(rule: node_modules\)'
            $r.StdOut | Should -Match 'VERBOSE: Step hash: [\d.]+ s'
        }

        It '-KeepLast N leaves the newest N backups; -Verify checks the new one' {
            foreach ($i in 1..2) {
                Add-Content -LiteralPath (Join-Path $repo2 'README.md') -Value "change $i"
                $r = Invoke-DropIn -In $repo2 -Arguments '-KeepLast', '2', '-Verify', '-Destination', $dest2
                $r.ExitCode | Should -Be 0 -Because $r.StdErr
            }
            Get-ChildItem -LiteralPath (Join-Path $dest2 $repo2Name) -Filter *.zip | Should -HaveCount 2
            $r.StdErr | Should -Not -Match 'Verification'
        }

        It '-Verify prints the verification of each destination (text) and lists it (JSON)' {
            $dest3 = New-TestDestination
            $cmd = "& '$DropIn' -Verify -Destination '$dest2', '$dest3'"
            Add-Content -LiteralPath (Join-Path $repo2 'README.md') -Value 'verify text'
            $r = Invoke-Pwsh -Command $cmd -WorkingDirectory $repo2
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            foreach ($d in $dest2, $dest3) {
                $r.StdOut | Should -Match ('\[verified\] ' + [regex]::Escape((Join-Path $d $repo2Name)) + '.+\(\d+ entries\)')
            }
            Add-Content -LiteralPath (Join-Path $repo2 'README.md') -Value 'verify json'
            $j = (Invoke-Pwsh -Command "$cmd -OutputFormat json" -WorkingDirectory $repo2).StdOut | ConvertFrom-Json
            @($j.verification).Count | Should -Be 2
            $j.verification.ok | Should -Not -Contain $false
        }

        It '-WebhookUrl posts the run through Backup-Repo (plain JSON for an unknown host)' {
            $probe = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $probe.Start(); $port = $probe.LocalEndpoint.Port; $probe.Stop()
            # Listening before the drop-in starts (no wait for the job to get there).
            $listener = [System.Net.HttpListener]::new()
            $listener.Prefixes.Add("http://127.0.0.1:$port/")
            $listener.Start()
            $job = Start-ThreadJob -ArgumentList $listener -ScriptBlock {
                param($listener)
                try {
                    $task = $listener.GetContextAsync()
                    if (-not $task.Wait(60000)) { return 'TIMEOUT' }
                    $ctx = $task.Result
                    $body = [IO.StreamReader]::new($ctx.Request.InputStream).ReadToEnd()
                    $ctx.Response.StatusCode = 200
                    $ctx.Response.Close()
                    "$($ctx.Request.HttpMethod) $($ctx.Request.ContentType)"
                    $body
                } finally {
                    $listener.Stop()
                }
            }
            Add-Content -LiteralPath (Join-Path $repo2 'README.md') -Value 'webhook'
            $r = Invoke-DropIn -In $repo2 -Arguments '-WebhookUrl', "http://127.0.0.1:$port/hook", '-Destination', $dest2
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $got = @($job | Receive-Job -Wait -AutoRemoveJob)
            $got[0] | Should -Match '^POST application/json'
            $payload = $got[1] | ConvertFrom-Json
            $payload.event | Should -Be 'success'
            $payload.repo | Should -Be $repo2Name
            $payload.status | Should -Be 'created'
        }

        It '-WebhookUrl that cannot be reached: a warning with the URL redacted, exit 0' {
            $probe = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $probe.Start(); $port = $probe.LocalEndpoint.Port; $probe.Stop()
            Add-Content -LiteralPath (Join-Path $repo2 'README.md') -Value 'webhook down'
            $r = Invoke-DropIn -In $repo2 -Arguments '-OutputFormat', 'json', '-WebhookUrl', "http://127.0.0.1:$port/hook/SECRET-abc123", '-Destination', $dest2
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            ($r.StdOut | ConvertFrom-Json).status | Should -Be 'success'
            ($r.StdOut + $r.StdErr) | Should -Not -Match 'SECRET-abc123'
        }
    }
}
