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
        $secret = 'S3CRET' + [guid]::NewGuid().ToString('N')
        $r = Backup-Repo -Path $other -Destination $dest -MetricsLog (Join-Path $MetricsDir "backup-$otherName.jsonl") -PushgatewayUrl "http://u:$secret@127.0.0.1:$(Get-FreePort)/base/$secret" -WarningVariable w
        $r.Status | Should -Be 'Created'
        ($w | Out-String) | Should -Match 'push to the Pushgateway failed: cannot push metrics to the Pushgateway at .http://127\.0\.0\.1:\d+/….: connection failed'
        ($w | Out-String) | Should -Not -Match $secret
        $r.Warnings -join "`n" | Should -Match 'Pushgateway'
    }

    It 'https: the OS certificate store decides; a trusted certificate pushes' -Skip:(-not (Get-Command openssl -ErrorAction SilentlyContinue)) {
        # A second, real Pushgateway serving TLS (its --web.config.file) with a
        # self-signed certificate for 127.0.0.1.
        $tls = Join-Path $TestHome 'tls'
        $null = New-Item -ItemType Directory -Force -Path $tls
        & openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj '/CN=127.0.0.1' `
            -addext 'subjectAltName=IP:127.0.0.1' -keyout (Join-Path $tls 'key.pem') -out (Join-Path $tls 'cert.pem') 2>$null
        $LASTEXITCODE | Should -Be 0
        "tls_server_config:`n  cert_file: $(Join-Path $tls 'cert.pem')`n  key_file: $(Join-Path $tls 'key.pem')`n" | Set-Content -LiteralPath (Join-Path $tls 'web.yml')
        $port = Get-FreePort
        $psi = [Diagnostics.ProcessStartInfo]::new('/usr/bin/prometheus-pushgateway')
        $psi.ArgumentList.Add("--web.listen-address=127.0.0.1:$port")
        $psi.ArgumentList.Add("--web.config.file=$(Join-Path $tls 'web.yml')")
        $psi.ArgumentList.Add("--persistence.file=$(Join-Path $tls 'pushgateway.data')")
        $psi.RedirectStandardError = $true
        $psi.RedirectStandardOutput = $true
        $psi.UseShellExecute = $false
        $gw = [Diagnostics.Process]::Start($psi)
        $gw.BeginErrorReadLine(); $gw.BeginOutputReadLine()
        try {
            $url = "https://127.0.0.1:$port"
            $deadline = (Get-Date).AddSeconds(20)
            do {
                Start-Sleep -Milliseconds 200
                $up = try { (Invoke-WebRequest "$url/-/ready" -UseBasicParsing -TimeoutSec 2 -SkipCertificateCheck).StatusCode -eq 200 } catch { $false }
            } until ($up -or (Get-Date) -gt $deadline)
            $up | Should -BeTrue

            # Not trusted by this process: refused, the push never happens unverified.
            { Export-RepoBackupMetrics -PushgatewayUrl $url -MetricsLogDirectory $MetricsDir -ErrorAction Stop } |
                Should -Throw -ExpectedMessage '*TLS handshake failed*'

            # Trusted (SSL_CERT_FILE is the OS store's file for .NET on Linux): pushed.
            $script = "Import-Module '$ModuleManifest'; Export-RepoBackupMetrics -PushgatewayUrl '$url' -MetricsLogDirectory '$MetricsDir'; 'pushed'"
            $saved = $env:SSL_CERT_FILE
            $env:SSL_CERT_FILE = Join-Path $tls 'cert.pem'
            try { $out = & $PwshPath -NoProfile -NonInteractive -Command $script 2>&1 } finally { $env:SSL_CERT_FILE = $saved }
            ($out | Out-String) | Should -Match 'pushed'
            $m = (Invoke-WebRequest "$url/metrics" -UseBasicParsing -SkipCertificateCheck).Content
            $m | Should -Match "backup_repo_runs_total\{[^}]*job=`"backup_repo`"[^}]*repo=`"$repoName`""
        } finally {
            $gw.Kill(); $gw.WaitForExit(5000)
        }
    }
}

Describe 'Export-RepoBackupMetrics -PushgatewayUrl against a recording server' {
    BeforeAll {
        $script:Record = Join-Path $TestHome 'push-requests.jsonl'
        $psi = [Diagnostics.ProcessStartInfo]::new('python3')
        $psi.ArgumentList.Add((Join-Path $PSScriptRoot 'webhook-server.py'))
        $psi.ArgumentList.Add($Record)
        $psi.RedirectStandardOutput = $true
        $psi.UseShellExecute = $false
        $script:Recorder = [Diagnostics.Process]::Start($psi)
        $script:RecorderPort = [int]$Recorder.StandardOutput.ReadLine()
    }

    AfterAll {
        if ($Recorder -and -not $Recorder.HasExited) { $Recorder.Kill(); $Recorder.WaitForExit(5000) }
    }

    It 'PUTs text 0.0.4 to the base URL + /metrics/job/JOB/repo/REPO, with Basic authentication' {
        Export-RepoBackupMetrics -PushgatewayUrl "http://bob:pa55word@127.0.0.1:$RecorderPort/ok/gw/" -Job nightly -MetricsLogDirectory $MetricsDir
        $req = @(Get-Content -LiteralPath $Record | ForEach-Object { $_ | ConvertFrom-Json } | Where-Object path -eq "/ok/gw/metrics/job/nightly/repo/$repoName")
        $req | Should -HaveCount 1
        $req[0].method | Should -Be 'PUT'
        $req[0].content_type | Should -Be 'text/plain; version=0.0.4; charset=utf-8'
        $req[0].authorization | Should -Be ('Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('bob:pa55word')))
        $req[0].body | Should -Match "# TYPE backup_repo_runs_total counter"
        $req[0].body | Should -Match "backup_repo_runs_total\{repo=`"$repoName`",status=`"success`"\} 1"
    }

    It "a refusal names the status; the server's reason phrase and body are redacted like the URL" {
        $secret = 'S3CRET' + [guid]::NewGuid().ToString('N')
        $err = { Export-RepoBackupMetrics -PushgatewayUrl "http://u:$secret@127.0.0.1:$RecorderPort/reason/$secret" -MetricsLogDirectory $MetricsDir -ErrorAction Stop } |
            Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Match '^BackupRepo\.'
        $err.Exception.Message | Should -Match "the Pushgateway at 'http://127\.0\.0\.1:$RecorderPort/…' answered 400 Unknown hook /…/…/metrics/job/backup_repo/repo/"
        $err.Exception.Message | Should -Not -Match $secret
    }

    It 'refuses a URL that is not http or https, without showing it' {
        { Export-RepoBackupMetrics -PushgatewayUrl 'ftp://u:S3CRETx@gw/x' -MetricsLogDirectory $MetricsDir -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*'ftp://gw/…': not an http:// or https:// URL*"
    }
}
