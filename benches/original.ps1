# The original backup-repo.ps1's method, reproduced for the benchmark (see
# docs/COMPATIBILITY.md): one file enumeration with the original's
# exclusion rules, then for EACH destination: build a ZIP with .NET
# ZipArchive at CompressionLevel Optimal, SHA-256 the new ZIP and the newest
# older ZIP in that folder, and delete the new one when the hashes are equal
# ("skipped (unchanged)"). Three destinations = three builds + six hashes.
#
# Deviations, on purpose and small: the rules are matched against the path
# relative to the source (the original used the full path, so a temp folder
# named e.g. "build" would exclude everything); glob rules like *.pyc become
# the regex ".pyc" (an unescaped dot, the original's bug, kept).
# With -CompressArchive it builds each ZIP with Compress-Archive instead (the
# cmdlet a PowerShell user reaches for first), same hashing afterwards.
param(
    [Parameter(Mandatory)] [string] $Source,
    [Parameter(Mandatory)] [string[]] $Destination,
    [switch] $CompressArchive
)
$ErrorActionPreference = 'Stop'
# `pwsh -File` passes "a,b" as one string: accept both forms.
$Destination = @($Destination | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
Add-Type -AssemblyName System.IO.Compression, System.IO.Compression.FileSystem

$excludes = @('.venv', 'venv', 'env', '.env', '__pycache__', '.mypy_cache', '.ruff_cache', '.pytest_cache',
    'htmlcov', 'node_modules', '*.pyc', '*.pyo', '*.pyd', '.DS_Store', 'Thumbs.db', '.windsurf', '.cursor',
    '*.log', '.vbox', '*.vdi', '*.vmdk', '*.vhd', '*.vbox', '*.vbox-prev', 'MagicMock', 'sandboxes',
    'quarantine', 'analysis', 'backups', '*.dxt', 'samples/metadata.db', 'samples/test_library.db',
    'test_data/*.db', 'dist', 'build', '*.whl', '*.tar.gz') | ForEach-Object { $_ -replace '^\*', '' -replace '/\*', '/.*' }

$root = (Resolve-Path -LiteralPath $Source).ProviderPath.TrimEnd('/', '\')
$repo = Split-Path -Leaf $root
$files = [System.Collections.Generic.List[object]]::new()
foreach ($f in Get-ChildItem -LiteralPath $root -Recurse -File -Force -Attributes !ReparsePoint) {
    $rel = $f.FullName.Substring($root.Length + 1).Replace('\', '/')
    $skip = $false
    foreach ($p in $excludes) { if ($rel -match $p) { $skip = $true; break } }
    if (-not $skip) { $files.Add([pscustomobject]@{ Full = $f.FullName; Rel = $rel }) }
}

$stamp = Get-Date -Format 'yyyy-MM-dd_HH-mm-ss'
$created = 0; $skipped = 0
foreach ($destRoot in $Destination) {
    $dest = Join-Path $destRoot $repo
    New-Item -ItemType Directory -Force -Path $dest | Out-Null
    $zipPath = Join-Path $dest "${repo}_backup_$stamp.zip"
    if ($CompressArchive) {
        # Compress-Archive keeps folder structure only for folders it is given
        # and has no exclusions, so a user gives it the top-level items (with
        # .git) minus excluded top-level names; nested __pycache__ stay in.
        # Compress-Archive 1.2.x fails on hidden (dot) FILES given to it
        # ("Could not find item"), so top-level dot-files (.gitignore) are left
        # out; dot-folders such as .git work.
        $top = Get-ChildItem -LiteralPath $root -Force | Where-Object {
            $n = $_.Name
            -not ($excludes | Where-Object { $n -match "^$_$" }) -and ($_.PSIsContainer -or -not $n.StartsWith('.'))
        } | ForEach-Object FullName
        Compress-Archive -LiteralPath $top -DestinationPath $zipPath -CompressionLevel Optimal
    } else {
        $zip = [System.IO.Compression.ZipFile]::Open($zipPath, [System.IO.Compression.ZipArchiveMode]::Create)
        try {
            foreach ($f in $files) {
                [void][System.IO.Compression.ZipFileExtensions]::CreateEntryFromFile(
                    $zip, $f.Full, $f.Rel, [System.IO.Compression.CompressionLevel]::Optimal)
            }
        } finally { $zip.Dispose() }
    }
    $newHash = (Get-FileHash -LiteralPath $zipPath -Algorithm SHA256).Hash
    $prev = Get-ChildItem -LiteralPath $dest -Filter "${repo}_backup_*.zip" |
        Where-Object FullName -ne $zipPath | Sort-Object LastWriteTime -Descending | Select-Object -First 1
    if ($prev -and (Get-FileHash -LiteralPath $prev.FullName -Algorithm SHA256).Hash -eq $newHash) {
        Remove-Item -LiteralPath $zipPath
        $skipped++
    } else { $created++ }
}
"files=$($files.Count) created=$created skipped=$skipped"
