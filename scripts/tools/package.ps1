<#
.SYNOPSIS
    Second half of scripts/package: stamp the packaged manifest, check it, and
    make the .nupkg with PSResourceGet. Prints the .nupkg's path.
.DESCRIPTION
    - ModuleVersion (and PSData.Prerelease) from Cargo.toml's version.
    - PSData.ReleaseNotes: this version's CHANGELOG.md section (else Unreleased).
    - Test-ModuleManifest must pass; bin/BackupRepo.dll must carry the same version.
    - Publish-PSResource to a temporary local file repository (registered under a
      unique name and unregistered afterwards); the .nupkg is copied to -OutDir.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$ModuleFolder,
    [Parameter(Mandatory)][string]$OutDir,
    [Parameter(Mandatory)][string]$Version,
    [Parameter(Mandatory)][string]$ModuleVersion,
    [string]$Prerelease = '',
    [Parameter(Mandatory)][string]$Feed
)
$ErrorActionPreference = 'Stop'
$manifest = Join-Path $ModuleFolder 'BackupRepo.psd1'
$text = Get-Content -Raw -LiteralPath $manifest
$original = $text

# ModuleVersion from Cargo.toml.
$text = [regex]::Replace($text, "(?m)^(\s*ModuleVersion\s*=\s*)'[^']*'", { param($m) "$($m.Groups[1].Value)'$ModuleVersion'" })

# Prerelease label into PSData (the Gallery's form: 0.2.0-rc.1 -> rc1).
$text = [regex]::Replace($text, "(?m)^\s*Prerelease\s*=.*\r?\n", '')
if ($Prerelease) {
    $text = [regex]::Replace($text, "(?m)^(\s*)PSData\s*=\s*@\{[ \t]*\r?\n", { param($m) "$($m.Value)$($m.Groups[1].Value)    Prerelease = '$Prerelease'`n" })
}

# ReleaseNotes: this version's CHANGELOG section, else Unreleased's.
$log = Get-Content -Raw -LiteralPath (Join-Path $ModuleFolder 'CHANGELOG.md')
$section = $null
foreach ($heading in @([regex]::Escape($Version), 'Unreleased')) {
    $m = [regex]::Match($log, "(?ms)^## \[$heading\][^\n]*\n(.*?)(?=^## \[|^\[[^\]]+\]:|\z)")
    if ($m.Success -and $m.Groups[1].Value.Trim()) { $section = $m.Groups[1].Value.Trim(); break }
}
if (-not $section) { throw "CHANGELOG.md has no section for $Version (nor an Unreleased one with content)" }
$notes = ("## $Version`n`n$section") -replace "'", "''"
$re = [regex]::new("(?ms)^(\s*ReleaseNotes\s*=\s*)'(?:[^']|'')*'")
if (-not $re.IsMatch($text)) { throw "$manifest has no ReleaseNotes = '...' to replace" }
$text = $re.Replace($text, { param($m) "$($m.Groups[1].Value)'$notes'" }, 1)
[IO.File]::WriteAllText($manifest, $text, [Text.UTF8Encoding]::new($false))

# Checks.
$m = Test-ModuleManifest -Path $manifest
if ($m.Version.ToString(3) -ne $ModuleVersion) { throw "stamped ModuleVersion is $($m.Version), expected $ModuleVersion" }
$asm = [Reflection.AssemblyName]::GetAssemblyName((Join-Path $ModuleFolder 'bin/BackupRepo.dll')).Version
if ($asm.ToString(3) -ne $ModuleVersion) {
    throw "bin/BackupRepo.dll is version $asm but Cargo.toml says ${Version}: rebuild (scripts/build, or drop --no-build)"
}

# The .nupkg.
if (-not (Get-Module -ListAvailable Microsoft.PowerShell.PSResourceGet)) {
    throw 'Microsoft.PowerShell.PSResourceGet is not available (it ships with PowerShell 7.4+): install it or use a newer pwsh'
}
Import-Module Microsoft.PowerShell.PSResourceGet
$null = New-Item -ItemType Directory -Force -Path $Feed
$name = 'BackupRepoPackage-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
Register-PSResourceRepository -Name $name -Uri $Feed -Trusted
try {
    Publish-PSResource -Path $ModuleFolder -Repository $name
} finally {
    Unregister-PSResourceRepository -Name $name
}
$nupkg = @(Get-ChildItem -LiteralPath $Feed -Filter '*.nupkg')
if ($nupkg.Count -ne 1) { throw "expected one .nupkg in $Feed, found $($nupkg.Count)" }
Get-ChildItem -LiteralPath $OutDir -Filter 'BackupRepo.*.nupkg' | Remove-Item -Force
Copy-Item -LiteralPath $nupkg[0].FullName -Destination $OutDir
(Join-Path $OutDir $nupkg[0].Name)
