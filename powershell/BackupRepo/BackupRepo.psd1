@{
    RootModule           = 'bin/BackupRepo.dll'
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Core')
    GUID                 = '5b0c6a4e-3f1d-4d7e-9a52-0c8b7f2e61a9'
    Author               = 'BackupRepo contributors'
    CompanyName          = 'BackupRepo'
    Copyright            = '(c) BackupRepo contributors. MIT License.'
    Description          = 'Fast, safe repository backups to ZIP: hashes a repository, skips the backup when nothing changed, and otherwise writes one timestamped archive to several destinations, with progress, -WhatIf, -Verbose, retention, verification and typed results. A native (Rust) engine does the work.'
    PowerShellVersion    = '7.4'
    FormatsToProcess     = @('BackupRepo.Format.ps1xml')
    FunctionsToExport    = @()
    CmdletsToExport      = @(
        'Backup-Repo'
        'Get-RepoBackup'
        'Remove-RepoBackup'
        'Test-RepoBackup'
        'Restore-RepoBackup'
        'Compare-RepoBackup'
    )
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('backup', 'zip', 'repository', 'git', 'retention', 'Linux', 'Windows', 'macOS')
            ProjectUri   = 'https://example.invalid/backup-repo'
            LicenseUri   = 'https://example.invalid/backup-repo/blob/main/LICENSE'
            ReleaseNotes = '0.1.0: Backup-Repo (progress, -WhatIf, -Verbose, -KeepLast, -Verify, typed results), Get-RepoBackup (history and -Summary), Remove-RepoBackup (retention on demand), Test-RepoBackup, Restore-RepoBackup, Compare-RepoBackup, and the drop-in backup-repo.ps1.'
        }
    }
}
