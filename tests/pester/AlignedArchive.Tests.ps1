# Archives with aligned entries (data on a 4 KiB boundary, padded in the local
# header's extra field with zipalign's id 0xD935) open and extract with .NET's
# ZipFile and Expand-Archive, byte for byte. (unzip, 7-Zip and Python's
# zipfile are checked in tests/archive_write.rs.)

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
}

AfterAll { Remove-TestHome }

Describe 'An archive with aligned entries' {
    BeforeAll {
        $script:repo = New-TestRepo -Name 'aligned'
        $rng = [Random]::new(7)
        foreach ($size in 70KB, 200KB, (1MB + 17)) {
            $bytes = [byte[]]::new($size)
            $rng.NextBytes($bytes)
            [IO.File]::WriteAllBytes((Join-Path $repo "blob-$size.bin"), $bytes)
        }
        $script:archive = (Backup-Repo -Path $repo -Destination (New-TestDestination)).Destinations[0].ArchivePath
    }

    It 'pads its large entries with the 0xD935 extra field so their data starts on 4 KiB' {
        Add-Type -AssemblyName System.IO.Compression
        $bytes = [IO.File]::ReadAllBytes($archive)
        $zip = [IO.Compression.ZipFile]::OpenRead($archive)
        try {
            $large = $zip.Entries | Where-Object { $_.FullName -like 'blob-*' }
            @($large).Count | Should -Be 3
        } finally { $zip.Dispose() }
        # The zipalign id (D9 35, little-endian 35 D9) appears in the local headers.
        $found = 0
        for ($i = 0; $i -lt $bytes.Length - 1; $i++) { if ($bytes[$i] -eq 0x35 -and $bytes[$i + 1] -eq 0xD9) { $found++ } }
        $found | Should -BeGreaterOrEqual 3
    }

    It 'extracts byte for byte with ZipFile.ExtractToDirectory and Expand-Archive' {
        foreach ($how in 'ZipFile', 'Expand-Archive') {
            $out = Join-Path (New-TestDestination) $how
            if ($how -eq 'ZipFile') { [IO.Compression.ZipFile]::ExtractToDirectory($archive, $out) }
            else { Expand-Archive -LiteralPath $archive -DestinationPath $out }
            foreach ($f in Get-ChildItem -LiteralPath $repo -Filter 'blob-*') {
                (Get-FileHash (Join-Path $out $f.Name)).Hash | Should -Be (Get-FileHash $f.FullName).Hash -Because "$how, $($f.Name)"
            }
        }
    }
}
