# Export-RepoBackupSchedule and Register-RepoBackupSchedule: Task Scheduler XML
# (the schema's required elements, the exact command line, UTF-16LE file), the
# cron line, systemd units (systemd-analyze verify where available), -WhatIf.
# Registering a Windows task needs Windows and is not tested here.

BeforeDiscovery {
    $script:HasSystemdAnalyze = [bool](Get-Command systemd-analyze -CommandType Application -ErrorAction SilentlyContinue)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    $script:repo = New-TestRepo -Name "it's my repo"
    $script:dest = New-TestDestination -Name 'dest $HOME'
    $script:TaskNs = @{ t = 'http://schemas.microsoft.com/windows/2004/02/mit/task' }
    $script:Manifest = (Resolve-Path $ModuleManifest).ProviderPath

    function ConvertFrom-PwshCommand([string]$Command) {
        # What pwsh -Command would run, as a parsed AST: proves the quoting.
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($Command, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $ast
    }
}

AfterAll { Remove-TestHome }

Describe 'Export-RepoBackupSchedule' {
    Context 'a daily backup with destinations and extra arguments' {
        BeforeAll {
            $script:out = Join-Path $TestHome 'schedule'
            $script:s = Export-RepoBackupSchedule -Path $repo -Destination $dest -Daily 02:30 -ArgumentList '-KeepLast', '10', '-Verify', '-WebhookUrl', 'https://hooks.example/x;$(rm -rf ~)' -OutputDirectory $out -PwshPath /usr/bin/pwsh
        }

        It 'returns a ScheduleDefinition with every form' {
            $s | Should -BeOfType [BackupRepo.ScheduleDefinition]
            # Characters outside [A-Za-z0-9._-] are replaced, and the name's hash keeps it distinct.
            $s.Name | Should -Match '^BackupRepo-it_s_my_repo-[0-9a-f]{8}$'
            $s.Trigger | Should -Be 'daily 02:30'
            $s.Command | Should -Be '/usr/bin/pwsh'
            $s.WorkingDirectory | Should -Be $repo
            foreach ($p in 'TaskXml', 'WindowsArguments', 'Cron', 'Service', 'Timer') { $s.$p | Should -Not -BeNullOrEmpty }
        }

        It 'the command imports this module and backs up exactly this repository, quoting every value' {
            $s.Arguments[0..2] | Should -Be @('-NoProfile', '-NonInteractive', '-Command')
            $ast = ConvertFrom-PwshCommand $s.Arguments[3]
            $cmds = $ast.FindAll({ $args[0] -is [System.Management.Automation.Language.CommandAst] }, $true)
            $cmds | Should -HaveCount 2 -Because 'Import-Module; Backup-Repo and nothing else (no injected subexpression)'
            $cmds[0].CommandElements[0].Value | Should -Be 'Import-Module'
            $cmds[0].CommandElements[1].Value | Should -Be $Manifest -Because 'the module is not installed in PSModulePath: imported by path'
            $b = $cmds[1]
            $b.GetCommandName() | Should -Be 'Backup-Repo'
            $values = @{}
            for ($i = 1; $i -lt $b.CommandElements.Count; $i++) {
                $e = $b.CommandElements[$i]
                if ($e -is [System.Management.Automation.Language.CommandParameterAst]) {
                    $next = if ($i + 1 -lt $b.CommandElements.Count) { $b.CommandElements[$i + 1] }
                    $values[$e.ParameterName] = if ($next -is [System.Management.Automation.Language.StringConstantExpressionAst]) { $next.Value } else { $true }
                }
            }
            $values.Path | Should -Be $repo
            $values.Destination | Should -Be $dest
            $values.KeepLast | Should -Be '10'
            $values.Verify | Should -BeTrue
            $values.WebhookUrl | Should -Be 'https://hooks.example/x;$(rm -rf ~)'
        }

        It 'Task XML: parses, has the schema''s required elements, runs the exact command line' {
            $xml = [xml]$s.TaskXml
            $xml.Task.version | Should -Be '1.2'
            $xml.DocumentElement.NamespaceURI | Should -Be $TaskNs.t
            foreach ($x in '/t:Task/t:RegistrationInfo', '/t:Task/t:Triggers/t:CalendarTrigger/t:StartBoundary', '/t:Task/t:Triggers/t:CalendarTrigger/t:ScheduleByDay/t:DaysInterval',
                '/t:Task/t:Principals/t:Principal', '/t:Task/t:Settings', '/t:Task/t:Actions/t:Exec/t:Command') {
                Select-Xml -Xml $xml -XPath $x -Namespace $TaskNs | Should -Not -BeNullOrEmpty -Because "$x is required"
            }
            (Select-Xml -Xml $xml -XPath '/t:Task/t:Triggers/t:CalendarTrigger/t:StartBoundary' -Namespace $TaskNs).Node.InnerText | Should -Match 'T02:30:00$'
            $exec = (Select-Xml -Xml $xml -XPath '/t:Task/t:Actions/t:Exec' -Namespace $TaskNs).Node
            $exec.Command | Should -Be '/usr/bin/pwsh'
            $exec.Arguments | Should -Be $s.WindowsArguments
            $exec.WorkingDirectory | Should -Be $repo
            $s.WindowsArguments | Should -BeLike "-NoProfile -NonInteractive -Command `"Import-Module *; Backup-Repo -Path *`""
        }

        It 'writes the task as UTF-16LE with a BOM, which [xml] reads back' {
            $file = Join-Path $out "$($s.Name).xml"
            $s.Files | Should -Contain $file
            $bytes = [IO.File]::ReadAllBytes($file)
            $bytes[0..1] | Should -Be @(0xFF, 0xFE)
            ([xml](Get-Content -Raw -LiteralPath $file)).Task.Actions.Exec.Command | Should -Be '/usr/bin/pwsh'
        }

        It 'cron: a daily line that /bin/sh runs as the same argument list' {
            $s.Cron | Should -Match '^30 2 \* \* \* cd '
            Get-Content -Raw -LiteralPath (Join-Path $out "$($s.Name).cron") | Should -Be ($s.Cron + "`n")
            # What sh makes of the command part: the working folder, pwsh and its arguments, word for word.
            $cmd = $s.Cron -replace '^30 2 \* \* \* ', '' -replace '\\%', '%'
            $script = $cmd -replace "^cd (.+?) && ", 'cd $1 && printf "%s\n" '
            $words = @(& /bin/sh -c $script)
            $LASTEXITCODE | Should -Be 0
            $words | Should -Be (@('/usr/bin/pwsh') + $s.Arguments)
        }

        It 'systemd: a oneshot service and a persistent daily timer, both written' {
            $s.Service | Should -Match '(?m)^Type=oneshot$'
            $s.Service | Should -Match ('(?m)^WorkingDirectory=' + [regex]::Escape($repo) + '$')
            $s.Service | Should -Match '(?m)^ExecStart="/usr/bin/pwsh" "-NoProfile" "-NonInteractive" "-Command" '
            $s.Timer | Should -Match '(?m)^OnCalendar=\*-\*-\* 02:30:00$'
            $s.Timer | Should -Match '(?m)^Persistent=true$'
            $s.Timer | Should -Match "(?m)^Unit=$([regex]::Escape($s.Name)).service$"
            Get-Content -Raw (Join-Path $out $s.ServiceFileName) | Should -Be $s.Service
            Get-Content -Raw (Join-Path $out $s.TimerFileName) | Should -Be $s.Timer
        }
    }

    It 'systemd-analyze verify accepts the units' -Skip:(-not $HasSystemdAnalyze) {
        $out = Join-Path $TestHome 'verify'
        # A pwsh that exists (systemd checks ExecStart's binary), a plain repository path.
        $plain = New-TestRepo -Name 'plainrepo'
        $s = Export-RepoBackupSchedule -Path $plain -Hourly -Format Systemd -OutputDirectory $out -PwshPath /bin/sh
        $files = $s.Files
        $files | Should -HaveCount 2
        $text = & systemd-analyze verify @files 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $text
    }

    It '-Hourly and -AtLogon: the matching triggers' {
        $h = Export-RepoBackupSchedule -Path $repo -Hourly
        $h.Cron | Should -Match '^0 \* \* \* \* '
        $h.Timer | Should -Match '(?m)^OnCalendar=hourly$'
        (Select-Xml -Content $h.TaskXml -XPath '//t:TimeTrigger/t:Repetition/t:Interval' -Namespace $TaskNs).Node.InnerText | Should -Be 'PT1H'
        $l = Export-RepoBackupSchedule -Path $repo -AtLogon -User 'CONTOSO\me'
        $l.Cron | Should -Match '^@reboot '
        $l.Timer | Should -Match '(?m)^OnBootSec='
        (Select-Xml -Content $l.TaskXml -XPath '//t:LogonTrigger/t:UserId' -Namespace $TaskNs).Node.InnerText | Should -Be 'CONTOSO\me'
    }

    It '-Format fills only that form; -Name names it' {
        $c = Export-RepoBackupSchedule -Path $repo -Daily 7:05 -Format Cron -Name nightly
        $c.Name | Should -Be 'nightly'
        $c.Cron | Should -Match '^5 7 \* \* \* '
        $c.TaskXml | Should -BeNullOrEmpty
        $c.Service | Should -BeNullOrEmpty
    }

    It 'refuses an impossible time, naming it' {
        { Export-RepoBackupSchedule -Path $repo -Daily 25:00 -ErrorAction Stop } | Should -Throw '*25:00*'
    }

    It 'refuses a folder that does not exist' {
        { Export-RepoBackupSchedule -Path (Join-Path $TestHome 'nope') -Hourly -ErrorAction Stop } | Should -Throw -ErrorId 'BackupRepo.PathNotFound*'
    }

    It '-OutputDirectory -WhatIf writes nothing' {
        $out = Join-Path $TestHome 'schedule-whatif'
        $null = Export-RepoBackupSchedule -Path $repo -Hourly -OutputDirectory $out -WhatIf
        $out | Should -Not -Exist
    }
}

Describe 'Register-RepoBackupSchedule' -Skip:$IsWindows {
    It 'writes systemd user units into -OutputDirectory and says how to enable them' {
        $out = Join-Path $TestHome 'user-units'
        $r = Register-RepoBackupSchedule -Path $repo -Daily 03:15 -OutputDirectory $out -InformationVariable info
        $r.Files | Should -HaveCount 2
        $r.Files | ForEach-Object { $_ | Should -Exist }
        ($info | Out-String) | Should -Match "systemctl --user enable --now $([regex]::Escape($r.Name)).timer"
    }

    It 'defaults to ~/.config/systemd/user ($XDG_CONFIG_HOME/systemd/user)' {
        $r = Register-RepoBackupSchedule -Path $repo -Hourly -InformationAction SilentlyContinue
        $r.Files | Should -Contain (Join-Path $env:XDG_CONFIG_HOME "systemd/user/$($r.Name).timer")
    }

    It '-WhatIf shows the timer, the trigger and the command line, and writes nothing' {
        $out = Join-Path $TestHome 'user-units-whatif'
        $r = Invoke-Pwsh -Command "Import-Module '$ModuleManifest'; Register-RepoBackupSchedule -Path '$($repo -replace "'", "''")' -AtLogon -OutputDirectory '$out' -WhatIf" -Environment @{ BACKUP_REPO_CONFIG = $env:BACKUP_REPO_CONFIG }
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'What if: .*systemd user timer .*\.timer \(atlogon\) running: .*Backup-Repo -Path'
        $out | Should -Not -Exist
    }

    It 'will not replace a unit file it did not write, unless -Force' {
        $out = Join-Path $TestHome 'user-units-foreign'
        $null = New-Item -ItemType Directory -Force -Path $out
        Set-Content -LiteralPath (Join-Path $out 'mine.service') -Value "[Service]`nExecStart=/bin/true"
        { Register-RepoBackupSchedule -Path $repo -Hourly -Name mine -OutputDirectory $out -ErrorAction Stop } | Should -Throw '*mine.service*'
        Get-Content -Raw (Join-Path $out 'mine.service') | Should -Match '/bin/true'
        $r = Register-RepoBackupSchedule -Path $repo -Hourly -Name mine -OutputDirectory $out -Force -InformationAction SilentlyContinue
        Get-Content -Raw (Join-Path $out 'mine.service') | Should -Match 'BackupRepo'
    }
}
