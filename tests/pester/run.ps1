#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Run the Pester suites against the BUILT module (scripts/build first).
.DESCRIPTION
    Imports Pester 5.7.1 from the NuGet cache (scripts/setup restores it), runs
    every *.Tests.ps1 here (or those given), prints "Pester: N passed, M failed"
    and exits non-zero when anything failed, so scripts/test and CI fail too.
.EXAMPLE
    pwsh -NoProfile -File tests/pester/run.ps1
.EXAMPLE
    pwsh -NoProfile -File tests/pester/run.ps1 -Path tests/pester/DropIn.Tests.ps1 -FullNameFilter '*JSON*'
#>
[CmdletBinding()]
param(
    [string[]]$Path = @($PSScriptRoot),
    [string[]]$FullNameFilter,
    [string[]]$Tag,
    [string[]]$ExcludeTag,
    [ValidateSet('None', 'Normal', 'Detailed', 'Diagnostic')]
    [string]$Verbosity = 'Detailed'
)
$ErrorActionPreference = 'Stop'

$pesterRoot = Join-Path $HOME '.nuget/packages/pester/5.7.1'
$pester = @('Pester.psd1', 'tools/Pester.psd1') | ForEach-Object { Join-Path $pesterRoot $_ } |
    Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
if (-not $pester) {
    [Console]::Error.WriteLine("Pester 5.7.1 not found under ${pesterRoot}: run scripts/setup.")
    exit 2
}
Import-Module $pester -Force

$config = New-PesterConfiguration
$config.Run.Path = $Path
$config.Run.PassThru = $true
# Run.Exit would leave before the summary line; the exit code is set below instead.
$config.Run.Exit = $false
$config.Run.Throw = $false
$config.Output.Verbosity = $Verbosity
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = Join-Path ([IO.Path]::GetTempPath()) 'backup-repo-pester.xml'
if ($FullNameFilter) { $config.Filter.FullName = $FullNameFilter }
if ($Tag) { $config.Filter.Tag = $Tag }
if ($ExcludeTag) { $config.Filter.ExcludeTag = $ExcludeTag }

# Plain text in messages: a failure's message with colour codes would break the NUnit report.
$PSStyle.OutputRendering = 'PlainText'
$result = Invoke-Pester -Configuration $config
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
"Pester: $($result.PassedCount) passed, $failed failed"
if ($failed -gt 0 -or $result.Result -ne 'Passed') { exit 1 }
exit 0
