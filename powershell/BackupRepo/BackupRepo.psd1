@{
    RootModule           = 'bin/BackupRepo.dll'
    ModuleVersion        = '0.2.0'
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
        'Export-RepoBackupMetrics'
        'Export-RepoBackupReport'
        'Export-RepoBackupSchedule'
        'Register-RepoBackupSchedule'
        'Start-RepoBackupExporter'
        'Stop-RepoBackupExporter'
    )
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            # What the PowerShell Gallery shows. scripts/package replaces ReleaseNotes
            # with this version's CHANGELOG.md section in the packaged copy.
            Tags         = @('Backup', 'Zip', 'Git', 'Repository', 'BLAKE3', 'Retention', 'Linux', 'Windows', 'MacOS', 'PSEdition_Core')
            ProjectUri   = 'https://example.invalid/backup-repo'
            LicenseUri   = 'https://example.invalid/backup-repo/blob/main/LICENSE'
            ReleaseNotes = 'See CHANGELOG.md.'
            RequireLicenseAcceptance = $false
        }
    }
}
