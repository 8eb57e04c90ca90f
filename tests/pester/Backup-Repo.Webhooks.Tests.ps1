# Backup-Repo -WebhookUrl against a real HTTP server on 127.0.0.1 that records
# every request (webhook-server.py): each message format, retries, a server
# that is down or slow, secrets kept out of warnings and verbose output, and
# disk-space warnings.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    $script:Record = Join-Path $TestHome 'webhook-requests.jsonl'
    $psi = [Diagnostics.ProcessStartInfo]::new('python3')
    $psi.ArgumentList.Add((Join-Path $PSScriptRoot 'webhook-server.py'))
    $psi.ArgumentList.Add($Record)
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    $script:Server = [Diagnostics.Process]::Start($psi)
    $script:Port = [int]$Server.StandardOutput.ReadLine()
    $script:Base = "http://127.0.0.1:$Port"

    function Get-Request([string]$PathLike = '*') {
        if (-not (Test-Path -LiteralPath $Record)) { return @() }
        @(Get-Content -LiteralPath $Record | ForEach-Object { $_ | ConvertFrom-Json } | Where-Object path -like $PathLike)
    }

    function Get-FreePort {
        $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p
    }

    # Messages depend on the real disk's usage (a disk_space_warning above 90 %):
    # only the test that asks for one gets one.
    @{ disk_warning_percent = 100 } | ConvertTo-Json | Set-Content -LiteralPath $env:BACKUP_REPO_CONFIG

    # One repository, a fresh destination per run: every run creates an archive.
    $script:repo = New-TestRepo
    $script:repoName = Split-Path -Leaf $repo
}

AfterAll {
    if ($Server -and -not $Server.HasExited) { $Server.Kill(); $Server.WaitForExit(5000) }
    Remove-TestHome
}

Describe 'Backup-Repo -WebhookUrl' {
    Context 'message formats' {
        It 'Slack: a Block Kit message with text and blocks' {
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/ok/slack" -WebhookFormat Slack -WarningVariable w
            $r.Status | Should -Be 'Created'
            $w | Should -BeNullOrEmpty
            $req = Get-Request '/ok/slack'
            $req | Should -HaveCount 1
            $req[0].method | Should -Be 'POST'
            $req[0].content_type | Should -Match '^application/json'
            $body = $req[0].body | ConvertFrom-Json
            $body.text | Should -Match ([regex]::Escape($repoName))
            $body.text | Should -Match 'backed up'
            $body.blocks.Count | Should -BeGreaterOrEqual 2
            $body.blocks[0].type | Should -Be 'section'
            $r.Webhooks | Should -HaveCount 1
            $r.Webhooks[0].Delivered | Should -BeTrue
            $r.Webhooks[0].Format | Should -Be 'slack'
            $r.Webhooks[0].Event | Should -Be 'success'
        }

        It 'Teams: an Adaptive Card attachment' {
            $null = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/ok/teams" -WebhookFormat Teams
            $body = (Get-Request '/ok/teams')[0].body | ConvertFrom-Json
            $body.type | Should -Be 'message'
            $body.attachments[0].contentType | Should -Be 'application/vnd.microsoft.card.adaptive'
            $body.attachments[0].content.type | Should -Be 'AdaptiveCard'
            ($body.attachments[0].content.body | Where-Object type -eq 'FactSet') | Should -Not -BeNullOrEmpty
        }

        It 'Discord: an embed, with mentions disabled' {
            $null = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/ok/discord" -WebhookFormat Discord
            $body = (Get-Request '/ok/discord')[0].body | ConvertFrom-Json
            $body.embeds | Should -HaveCount 1
            $body.embeds[0].fields.name | Should -Contain 'Repository'
            $body.embeds[0].color | Should -BeGreaterThan 0
            $body.allowed_mentions.parse | Should -HaveCount 0
        }

        It 'Json (also what Auto picks for an unknown host): the run as a plain object' {
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/ok/json"
            $body = (Get-Request '/ok/json')[0].body | ConvertFrom-Json
            $body.event | Should -Be 'success'
            $body.repo | Should -Be $repoName
            $body.status | Should -Be 'created'
            $body.archive_name | Should -Be $r.ArchiveName
            $body.archive_bytes | Should -Be $r.ArchiveBytes
            $body.destinations[0].status | Should -Be 'created'
        }

        It 'several URLs each get the message' {
            $null = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/ok/multi-a", "$Base/ok/multi-b" -WebhookFormat Json
            Get-Request '/ok/multi-a' | Should -HaveCount 1
            Get-Request '/ok/multi-b' | Should -HaveCount 1
        }

        It 'the config file''s "webhooks" are used without -WebhookUrl' {
            $cfg = Join-Path $TestHome 'webhook-config.json'
            @{ webhooks = @("$Base/ok/from-config"); disk_warning_percent = 100 } | ConvertTo-Json | Set-Content -LiteralPath $cfg
            $null = Backup-Repo -Path $repo -Destination (New-TestDestination) -ConfigPath $cfg
            (Get-Request '/ok/from-config')[0].body | ConvertFrom-Json | ForEach-Object event | Should -Be 'success'
        }
    }

    Context 'events' {
        It 'an unchanged repository sends a duplicate message' {
            $dest = New-TestDestination
            $null = Backup-Repo -Path $repo -Destination $dest
            $r = Backup-Repo -Path $repo -Destination $dest -WebhookUrl "$Base/ok/duplicate" -WebhookFormat Json
            $r.Status | Should -Be 'Skipped'
            $body = (Get-Request '/ok/duplicate')[0].body | ConvertFrom-Json
            $body.event | Should -Be 'duplicate'
            $body.status | Should -Be 'skipped'
        }

        It 'a destination fuller than -DiskWarningPercent: a warning, and a disk_space_warning message after the outcome' {
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -DiskWarningPercent 0 -WebhookUrl "$Base/ok/disk" -WebhookFormat Json -WarningVariable w
            $r.Status | Should -Be 'Created'
            $r.Destinations[0].Warning | Should -Match '% full'
            ($w | Out-String) | Should -Match '% full'
            $events = Get-Request '/ok/disk' | ForEach-Object { ($_.body | ConvertFrom-Json).event }
            $events | Should -Be @('success', 'disk_space_warning')
        }

        It 'a run that fails in the engine still sends a failure message' {
            $notRepo = New-TestRepo -NoGit
            Remove-Item -LiteralPath (Join-Path $notRepo 'README.md')
            $r = Backup-Repo -Path $notRepo -Destination (New-TestDestination) -WebhookUrl "$Base/ok/failure" -WebhookFormat Json -ErrorVariable e -ErrorAction SilentlyContinue
            $r | Should -BeNullOrEmpty
            $e | Should -Not -BeNullOrEmpty
            $body = (Get-Request '/ok/failure')[0].body | ConvertFrom-Json
            $body.event | Should -Be 'failure'
            $body.status | Should -Be 'failed'
            $body.text | Should -Match 'failed'
        }

        It '-WhatIf sends nothing' {
            $null = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/ok/whatif" -WhatIf
            Get-Request '/ok/whatif' | Should -HaveCount 0
        }
    }

    Context 'delivery' {
        It 'retries a 500 and succeeds on the second attempt' {
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/fail-once/retry" -WebhookFormat Json -WarningVariable w
            $w | Should -BeNullOrEmpty
            $r.Webhooks[0].Delivered | Should -BeTrue
            $r.Webhooks[0].Attempts | Should -Be 2
            (Get-Request '/fail-once/retry').status | Should -Be @(500, 200)
        }

        It 'gives up after 3 attempts on a server that keeps failing: a warning, the backup stands' {
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/always500/x" -WarningVariable w
            $r.Status | Should -Be 'Created'
            $r.Webhooks[0].Attempts | Should -Be 3
            Get-Request '/always500/x' | Should -HaveCount 3
            ($w | Out-String) | Should -Match 'not delivered after 3 attempts: HTTP 500'
        }

        It 'does not retry a 400' {
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/bad-request/x" -WarningVariable w
            $r.Webhooks[0].Attempts | Should -Be 1
            Get-Request '/bad-request/x' | Should -HaveCount 1
            ($w | Out-String) | Should -Match 'HTTP 400'
        }

        It "a server's reason phrase that quotes the URL's secret is redacted like the URL" {
            $secret = 'T0KEN' + [guid]::NewGuid().ToString('N')
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "http://user:pw$secret@127.0.0.1:$Port/reason/$secret" -WarningVariable w
            $r.Status | Should -Be 'Created'
            $r.Webhooks[0].Delivered | Should -BeFalse
            # Every path segment of the URL that is not a well-known one is a secret ('reason' too).
            $r.Webhooks[0].Error | Should -Be 'HTTP 400 Unknown hook /…/…'
            ($w | Out-String) | Should -Match 'HTTP 400 Unknown hook'
            ($w | Out-String) | Should -Not -Match $secret
            ($r | ConvertTo-Json -Depth 5) | Should -Not -Match $secret
            (Get-Request "/reason/$secret")[0].authorization | Should -Be ('Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("user:pw$secret")))
        }

        It 'a server that is down: the backup is Created, a warning with the URL redacted, no secret anywhere, bounded time' {
            $secret = 'T0KEN' + [guid]::NewGuid().ToString('N')
            $url = "http://127.0.0.1:$(Get-FreePort)/hooks/$secret"
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $out = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl $url -WebhookTimeoutSec 2 -Verbose -WarningVariable w 4>&1 3>&1
            $clock.Stop()
            $r = $out | Where-Object { $_ -is [BackupRepo.BackupResult] }
            $r.Status | Should -Be 'Created'
            $r.Webhooks[0].Delivered | Should -BeFalse
            $r.Webhooks[0].Attempts | Should -Be 3
            $warning = $w | Out-String
            $warning | Should -Match 'not delivered'
            $warning | Should -Match 'connection failed'
            $warning | Should -Match '127\.0\.0\.1'
            $warning | Should -Not -Match $secret
            ($out | Out-String) | Should -Not -Match $secret
            ($r | ConvertTo-Json -Depth 5) | Should -Not -Match $secret
            # 3 attempts x 2 s + 0.5 s + 1 s at most (refused connections fail at once).
            $clock.Elapsed.TotalSeconds | Should -BeLessThan ($r.Duration.TotalSeconds + 7.5 + 2)
        }

        It 'a server that does not answer: each attempt times out, the whole thing is bounded' {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "$Base/slow/30/secret-path" -WebhookTimeoutSec 1 -WarningVariable w
            $clock.Stop()
            $r.Status | Should -Be 'Created'
            $r.Webhooks[0].Attempts | Should -Be 3
            ($w | Out-String) | Should -Match 'no response within 1 s'
            ($w | Out-String) | Should -Not -Match 'secret-path'
            # Budget: 3 x 1 s + 0.5 s + 1 s = 4.5 s.
            $clock.Elapsed.TotalSeconds | Should -BeLessThan ($r.Duration.TotalSeconds + 4.5 + 2)
        }

        It 'user:password in the URL becomes Basic authentication and is never shown' {
            $r = Backup-Repo -Path $repo -Destination (New-TestDestination) -WebhookUrl "http://hookuser:s3cr3tpw@127.0.0.1:$Port/ok/auth" -Verbose 4>&1
            $req = Get-Request '/ok/auth'
            $req | Should -HaveCount 1
            $req[0].authorization | Should -Be ('Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('hookuser:s3cr3tpw')))
            ($r | Out-String) | Should -Not -Match 's3cr3tpw'
            (($r | Where-Object { $_ -is [BackupRepo.BackupResult] }).Webhooks.DisplayUrl) | Should -Not -Match 's3cr3tpw'
        }
    }
}
