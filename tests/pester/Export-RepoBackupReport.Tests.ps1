# Export-RepoBackupReport: a self-contained HTML report, rendered in headless
# Chromium (Debian's chromium): the page must run without script errors, draw
# its four charts and make no network request.

BeforeDiscovery {
    $script:HasChromium = [bool](@('/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome') | Where-Object { Test-Path -LiteralPath $_ })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    $script:Chromium = @('/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome') |
        Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1

    function Invoke-Chromium {
        <# Headless Chromium on a file; returns stdout (the DOM with -DumpDom). #>
        param([string]$File, [string]$Screenshot, [switch]$DumpDom)
        $profileDir = Join-Path $TestHome ('chromium-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
        $psi = [Diagnostics.ProcessStartInfo]::new($Chromium)
        foreach ($a in '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
            "--user-data-dir=$profileDir", '--window-size=1280,1600', '--virtual-time-budget=5000') {
            $psi.ArgumentList.Add($a)
        }
        if ($Screenshot) { $psi.ArgumentList.Add("--screenshot=$Screenshot") }
        if ($DumpDom) { $psi.ArgumentList.Add('--dump-dom') }
        $psi.ArgumentList.Add([Uri]::new($File).AbsoluteUri)
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $p = [Diagnostics.Process]::Start($psi)
        $err = $p.StandardError.ReadToEndAsync()
        $out = $p.StandardOutput.ReadToEnd()
        if (-not $p.WaitForExit(90000)) { $p.Kill(); throw 'chromium did not finish in 90 s' }
        $null = $err.Result
        $out
    }

    # History: three repositories, several runs each (created, unchanged, a
    # bigger one), into two destinations, logged in a private folder.
    $script:MetricsDir = Join-Path $TestHome 'report-metrics'
    $dests = @(New-TestDestination -Name 'desktop'; New-TestDestination -Name 'nas')
    foreach ($name in 'alpha', 'beta') {
        $repo = New-TestRepo -Name $name
        $log = Join-Path $MetricsDir "backup-$name.jsonl"
        $null = Backup-Repo -Path $repo -Destination $dests -MetricsLog $log
        $null = Backup-Repo -Path $repo -Destination $dests -MetricsLog $log          # unchanged: skipped
        Add-BulkData -Root $repo -MB 1
        $null = Backup-Repo -Path $repo -Destination $dests -MetricsLog $log          # bigger
    }
    # A line the original script wrote (its nine keys only), and a broken line.
    Add-Content -LiteralPath (Join-Path $MetricsDir 'backup-gamma.jsonl') -Value @(
        '{"timestamp":"2026-01-02T03:04:05Z","repo":"gamma","status":"failed","locations_created":0,"locations_skipped":0,"size_mb":0,"duration_seconds":1.5,"file_count":0,"duplicate_detected":false}'
        '{"timestamp":"2026-01-03T03:04:05Z","repo":"gamma","status":"success","locations_created":2,"locations_skipped":0,"size_mb":1.25,"duration_seconds":2.5,"file_count":40,"duplicate_detected":false}'
        'not json </script><script>document.title="pwned"</script>'
    )
    $script:Html = Join-Path $TestHome 'out/report.html'
    $script:Written = Export-RepoBackupReport -Path $Html -MetricsLogDirectory $MetricsDir -Title 'Backups <test>' -WarningVariable reportWarnings
    $script:ReportWarnings = $reportWarnings
}

AfterAll { Remove-TestHome }

Describe 'Export-RepoBackupReport' {
    It 'writes one self-contained HTML file' {
        $Written | Should -BeOfType [IO.FileInfo]
        $Written.FullName | Should -Be $Html
        $page = Get-Content -Raw -LiteralPath $Html
        $page | Should -Match '^<!DOCTYPE html>'
        $page | Should -Not -Match '<script[^>]+src='
        $page | Should -Not -Match '<link[^>]+href='
        $page | Should -Not -Match 'https?://(?!www\.w3\.org/2000/svg|adaptivecards)' -Because 'nothing is fetched'
        $page | Should -Match 'Backups &lt;test&gt;'
        Get-ChildItem -LiteralPath (Split-Path $Html) | Should -HaveCount 1 -Because 'no .partial file is left'
    }

    It 'embeds every run record, skipping lines that are not records (with a warning)' {
        $page = Get-Content -Raw -LiteralPath $Html
        $json = [regex]::Match($page, '(?s)<script type="application/json" id="br-data">(.*?)</script>').Groups[1].Value
        $runs = $json | ConvertFrom-Json
        $runs | Should -HaveCount 8
        ($runs.repo | Sort-Object -Unique) | Should -Be @('alpha', 'beta', 'gamma')
        ($ReportWarnings | Out-String) | Should -Match 'Skipped 1 line'
        $page | Should -Not -Match 'pwned'
    }

    It 'renders in headless Chromium: no script error, 4 charts drawn, the runs table filled' -Skip:(-not $HasChromium) {
        $dom = Invoke-Chromium -File $Html -DumpDom
        $dom | Should -Match '<div id="br-status" data-state="ok" data-charts="4" data-runs="8"'
        $dom | Should -Not -Match 'data-state="error"'
        $dom | Should -Not -Match '<title>error'
        $dom | Should -Match '<title>ok:4'
        ([regex]::Matches($dom, '<svg[^>]*class="drawn"')).Count | Should -Be 4
        ([regex]::Matches($dom, '<circle ')).Count | Should -BeGreaterOrEqual 5 -Because 'one point per archive created'
        ([regex]::Matches($dom, '<span class="st ')).Count | Should -Be 8 -Because 'one table row per run'
        $dom | Should -Match 'alpha'
        $dom | Should -Match 'desktop'
    }

    It 'takes a non-trivial screenshot' -Skip:(-not $HasChromium) {
        $png = Join-Path $TestHome 'report.png'
        $null = Invoke-Chromium -File $Html -Screenshot $png
        $png | Should -Exist
        $bytes = [IO.File]::ReadAllBytes($png)
        $bytes[1..3] | Should -Be ([byte[]][char[]]'PNG')
        # Width and height from the IHDR chunk.
        $w = [Net.IPAddress]::NetworkToHostOrder([BitConverter]::ToInt32($bytes, 16))
        $h = [Net.IPAddress]::NetworkToHostOrder([BitConverter]::ToInt32($bytes, 20))
        $w | Should -Be 1280
        $h | Should -Be 1600
        $bytes.Length | Should -BeGreaterThan 40KB -Because 'charts, text and a table, not a blank page'
    }

    It 'the page reports a script error through its marker (the check can fail)' -Skip:(-not $HasChromium) {
        $broken = Join-Path $TestHome 'broken.html'
        (Get-Content -Raw -LiteralPath $Html) -replace 'function chartStatus\(\) \{', 'function chartStatus() { undefinedFunction();' |
            Set-Content -LiteralPath $broken
        $dom = Invoke-Chromium -File $broken -DumpDom
        $dom | Should -Match 'data-state="error"'
        $dom | Should -Match 'error: .*undefinedFunction'
    }

    It '-Repository filters, with wildcards; -Since drops older runs' {
        $one = Join-Path $TestHome 'alpha.html'
        $null = Export-RepoBackupReport -Path $one -MetricsLogDirectory $MetricsDir -Repository 'al*' -WarningAction SilentlyContinue
        $json = [regex]::Match((Get-Content -Raw $one), '(?s)id="br-data">(.*?)</script>').Groups[1].Value
        ($json | ConvertFrom-Json).repo | Sort-Object -Unique | Should -Be 'alpha'
        $recent = Join-Path $TestHome 'recent.html'
        $null = Export-RepoBackupReport -Path $recent -MetricsLogDirectory $MetricsDir -Since ([datetime]'2026-01-02T12:00:00Z') -WarningAction SilentlyContinue
        $json = [regex]::Match((Get-Content -Raw $recent), '(?s)id="br-data">(.*?)</script>').Groups[1].Value
        @($json | ConvertFrom-Json | Where-Object repo -eq 'gamma') | Should -HaveCount 1
    }

    It 'an empty folder gives a report with no runs (and a warning), still valid' -Skip:(-not $HasChromium) {
        $empty = Join-Path $TestHome 'empty.html'
        $null = Export-RepoBackupReport -Path $empty -MetricsLogDirectory (Join-Path $TestHome 'no-metrics-here') -WarningVariable w
        ($w | Out-String) | Should -Match 'No metrics log'
        $dom = Invoke-Chromium -File $empty -DumpDom
        $dom | Should -Match 'data-state="ok"'
        $dom | Should -Match 'No runs recorded'
    }

    It '-WhatIf writes nothing' {
        $p = Join-Path $TestHome 'whatif/report.html'
        Export-RepoBackupReport -Path $p -MetricsLogDirectory $MetricsDir -WhatIf -WarningAction SilentlyContinue
        $p | Should -Not -Exist
    }
}
