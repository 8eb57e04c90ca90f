# Prometheus from PowerShell: the /metrics endpoint (Start/Stop-RepoBackupExporter),
# the textfile and the Pushgateway push (Export-RepoBackupMetrics, Backup-Repo
# -PrometheusTextfile/-PushgatewayUrl), with Debian's real prometheus-pushgateway.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    function Get-FreePort {
        $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p
    }

    function Test-PortFree([int]$Port) {
        $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $Port)
        try { $l.Start(); $true } catch { $false } finally { $l.Stop() }
    }

    # No disk-space warnings from the real disk's usage: the tests expect none.
    @{ disk_warning_percent = 100 } | ConvertTo-Json | Set-Content -LiteralPath $env:BACKUP_REPO_CONFIG

    # Two runs of one repository logged into a private metrics folder.
    $script:MetricsDir = Join-Path $TestHome 'exporter-metrics'
    $script:repo = New-TestRepo
    $script:repoName = Split-Path -Leaf $repo
    $script:dest = New-TestDestination
    $script:Log = Join-Path $MetricsDir "backup-$repoName.jsonl"
    $script:first = Backup-Repo -Path $repo -Destination $dest -MetricsLog $Log
    $script:second = Backup-Repo -Path $repo -Destination $dest -MetricsLog $Log
}

AfterAll {
    if ($script:Gateway -and -not $Gateway.HasExited) { $Gateway.Kill(); $Gateway.WaitForExit(5000) }
    Remove-TestHome
}

Describe 'Start-RepoBackupExporter / Stop-RepoBackupExporter' {
    It 'serves /metrics from the metrics logs, and Stop frees the port' {
        $port = Get-FreePort
        $e = Start-RepoBackupExporter -Address "127.0.0.1:$port" -MetricsLogDirectory $MetricsDir
        try {
            $e | Should -BeOfType [BackupRepo.Exporter]
            $e.Url | Should -Be "http://127.0.0.1:$port/metrics"
            $e.Port | Should -Be $port
            $e.LogDirectory | Should -Be $MetricsDir
            $e.Running | Should -BeTrue
            $resp = Invoke-WebRequest -Uri $e.Url -UseBasicParsing
            $resp.StatusCode | Should -Be 200
            $text = $resp.Content
            $text | Should -Match "backup_repo_last_success_timestamp_seconds\{repo=`"$repoName`"\} \d+"
            $text | Should -Match "backup_repo_runs_total\{repo=`"$repoName`",status=`"success`"\} 1"
            $text | Should -Match "backup_repo_runs_total\{repo=`"$repoName`",status=`"skipped`"\} 1"
            $text | Should -Match 'backup_repo_archive_bytes'
            $text | Should -Match 'backup_repo_destination_free_bytes\{repo="[^"]+",destination="[^"]+"\}'
            Test-PortFree $port | Should -BeFalse
        } finally {
            $e | Stop-RepoBackupExporter
        }
        $e.Running | Should -BeFalse
        Test-PortFree $port | Should -BeTrue
        { Invoke-WebRequest -Uri $e.Url -UseBasicParsing -TimeoutSec 2 } | Should -Throw
    }

    It 'reads the logs at every scrape: a new run shows at once' {
        $e = Start-RepoBackupExporter -Address 127.0.0.1:0 -MetricsLogDirectory $MetricsDir
        try {
            $e.Port | Should -BeGreaterThan 0
            $before = (Invoke-WebRequest -Uri $e.Url -UseBasicParsing).Content
            $before | Should -Match "status=`"skipped`"\} 1"
            $null = Backup-Repo -Path $repo -Destination $dest -MetricsLog $Log
            (Invoke-WebRequest -Uri $e.Url -UseBasicParsing).Content | Should -Match "status=`"skipped`"\} 2"
        } finally {
            Stop-RepoBackupExporter -Exporter $e
        }
    }

    It 'an address in use is a terminating error naming it' {
        $e = Start-RepoBackupExporter -Address 127.0.0.1:0 -MetricsLogDirectory $MetricsDir
        try {
            { Start-RepoBackupExporter -Address "127.0.0.1:$($e.Port)" -MetricsLogDirectory $MetricsDir -ErrorAction Stop } |
                Should -Throw -ErrorId 'BackupRepo.ExporterNotStarted,BackupRepo.Commands.StartRepoBackupExporterCommand'
        } finally {
            $e | Stop-RepoBackupExporter
        }
    }

    It 'defaults to the module''s metrics folder ($env:BACKUP_REPO_METRICS_DIR)' {
        $e = Start-RepoBackupExporter -Address 127.0.0.1:0
        try {
            $e.LogDirectory | Should -Be $env:BACKUP_REPO_METRICS_DIR
        } finally {
            $e | Stop-RepoBackupExporter
        }
    }

    It '-WhatIf on Stop leaves it running' {
        $e = Start-RepoBackupExporter -Address 127.0.0.1:0 -MetricsLogDirectory $MetricsDir
        try {
            $e | Stop-RepoBackupExporter -WhatIf
            $e.Running | Should -BeTrue
        } finally {
            $e | Stop-RepoBackupExporter
        }
    }
}

Describe 'Export-RepoBackupMetrics' {
    It 'returns the Prometheus text' {
        $text = Export-RepoBackupMetrics -MetricsLogDirectory $MetricsDir
        $text | Should -BeOfType [string]
        $text | Should -Match '# TYPE backup_repo_runs_total counter'
        $text | Should -Match "backup_repo_last_success_timestamp_seconds\{repo=`"$repoName`"\}"
    }

    It '-Path writes the textfile for node_exporter' {
        $prom = Join-Path $TestHome 'textfile/backup_repo.prom'
        $f = Export-RepoBackupMetrics -Path $prom -MetricsLogDirectory $MetricsDir
        $f | Should -BeOfType [IO.FileInfo]
        $f.FullName | Should -Be $prom
        Get-Content -Raw $prom | Should -Match "backup_repo_runs_total\{repo=`"$repoName`",status=`"success`"\}"
        Get-ChildItem -LiteralPath (Split-Path $prom) | Should -HaveCount 1 -Because 'no temporary file is left behind'
    }

    It '-Path -WhatIf writes nothing' {
        $prom = Join-Path $TestHome 'textfile-whatif/backup_repo.prom'
        Export-RepoBackupMetrics -Path $prom -MetricsLogDirectory $MetricsDir -WhatIf
        $prom | Should -Not -Exist
    }

    It 'Backup-Repo -PrometheusTextfile refreshes the textfile after the run' {
        $prom = Join-Path $TestHome 'textfile2/backup_repo.prom'
        $r = Backup-Repo -Path $repo -Destination $dest -MetricsLog $Log -PrometheusTextfile $prom -WarningVariable w
        $w | Should -BeNullOrEmpty
        Get-Content -Raw $prom | Should -Match "backup_repo_runs_total\{repo=`"$repoName`""
    }
}

Describe 'Pushgateway' -Skip:(-not (Test-Path /usr/bin/prometheus-pushgateway)) {
    BeforeAll {
        $script:GatewayPort = Get-FreePort
        $psi = [Diagnostics.ProcessStartInfo]::new('/usr/bin/prometheus-pushgateway')
        $psi.ArgumentList.Add("--web.listen-address=127.0.0.1:$GatewayPort")
        $psi.ArgumentList.Add("--persistence.file=$(Join-Path $TestHome 'pushgateway.data')")
        $psi.RedirectStandardError = $true
        $psi.RedirectStandardOutput = $true
        $psi.UseShellExecute = $false
        $script:Gateway = [Diagnostics.Process]::Start($psi)
        $Gateway.BeginErrorReadLine(); $Gateway.BeginOutputReadLine()
        $script:GatewayUrl = "http://127.0.0.1:$GatewayPort"
        $deadline = (Get-Date).AddSeconds(20)
        do {
            Start-Sleep -Milliseconds 200
            $up = try { (Invoke-WebRequest "$GatewayUrl/-/ready" -UseBasicParsing -TimeoutSec 2).StatusCode -eq 200 } catch { $false }
        } until ($up -or (Get-Date) -gt $deadline)
        if (-not $up) { throw "the Pushgateway did not start on port $GatewayPort" }
    }

    It 'Export-RepoBackupMetrics -PushgatewayUrl pushes one group per repository' {
        Export-RepoBackupMetrics -PushgatewayUrl $GatewayUrl -MetricsLogDirectory $MetricsDir
        $m = (Invoke-WebRequest "$GatewayUrl/metrics" -UseBasicParsing).Content
        $m | Should -Match "backup_repo_last_success_timestamp_seconds\{[^}]*job=`"backup_repo`"[^}]*repo=`"$repoName`"[^}]*\}"
    }

    It 'Backup-Repo -PushgatewayUrl pushes after the run, under -Job backup_repo' {
        $other = New-TestRepo
        $otherName = Split-Path -Leaf $other
        $r = Backup-Repo -Path $other -Destination $dest -MetricsLog (Join-Path $MetricsDir "backup-$otherName.jsonl") -PushgatewayUrl $GatewayUrl -WarningVariable w
        $r.Status | Should -Be 'Created'
        $w | Should -BeNullOrEmpty
        $m = (Invoke-WebRequest "$GatewayUrl/metrics" -UseBasicParsing).Content
        $m | Should -Match "backup_repo_runs_total\{[^}]*repo=`"$otherName`"[^}]*status=`"success`"[^}]*\} 1"
    }

    It 'a Pushgateway that is down is a warning, never a failed backup' {
        $other = New-TestRepo
        $otherName = Split-Path -Leaf $other
        $r = Backup-Repo -Path $other -Destination $dest -MetricsLog (Join-Path $MetricsDir "backup-$otherName.jsonl") -PushgatewayUrl "http://127.0.0.1:$(Get-FreePort)" -WarningVariable w
        $r.Status | Should -Be 'Created'
        ($w | Out-String) | Should -Match 'Pushgateway'
    }
}
