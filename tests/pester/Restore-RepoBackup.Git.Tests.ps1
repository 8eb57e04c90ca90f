# A restored backup is the repository again, for git too (#19), through the
# module: the issue's reproduction (git init, a commit, git gc, Backup-Repo,
# Restore-RepoBackup, git status), links and empty folders in the result and
# -Verbose, a linked worktree named as such, and the archive opening in .NET's
# ZipFile and Expand-Archive. The whole git matrix is tests/restore_git.rs.

BeforeDiscovery {
    $script:NoGit = -not (Get-Command git -CommandType Application -ErrorAction SilentlyContinue)
    if ($NoGit) { Write-Warning 'git is not installed: the git restore tests are skipped' }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    # git isolated from the machine's configuration, with a fixed identity.
    $env:GIT_CONFIG_NOSYSTEM = '1'
    $env:GIT_CONFIG_GLOBAL = '/dev/null'
    $env:GIT_AUTHOR_NAME = $env:GIT_COMMITTER_NAME = 'T'
    $env:GIT_AUTHOR_EMAIL = $env:GIT_COMMITTER_EMAIL = 't@example.invalid'

    function New-Target { Join-Path $TestHome ('restore-' + [guid]::NewGuid().ToString('N').Substring(0, 6)) }

    function Invoke-Git {
        <# git in the folder given first, with the other arguments as they are
           (a simple function, so `-c` is not taken for a parameter); its
           output lines; throws when it fails. #>
        $dir = $args[0]
        $rest = @($args | Select-Object -Skip 1)
        $out = & git -C $dir @rest 2>&1
        if ($LASTEXITCODE -ne 0) { throw "git $rest in ${dir}: $out" }
        $out
    }

    function Get-GitView {
        <# What the issue compares: status, fsck, refs, stashes. #>
        param([string]$Dir)
        [pscustomobject]@{
            Status  = (Invoke-Git $Dir status --porcelain=v2 --branch --untracked-files=all --ignored) -join "`n"
            Fsck    = (Invoke-Git $Dir fsck --full --strict) -join "`n"
            Refs    = (Invoke-Git $Dir for-each-ref) -join "`n"
            Stashes = (Invoke-Git $Dir stash list) -join "`n"
        }
    }

    function New-GitRepo {
        <# git init, one commit (a file and a committed symlink), git gc: no loose refs. #>
        $dir = Join-Path $TestHome ('git-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
        $null = Invoke-Git $TestHome -c init.defaultBranch=main init -q $dir
        Set-Content -LiteralPath (Join-Path $dir 'README.md') -Value '# repo'
        $null = New-Item -ItemType SymbolicLink -Path (Join-Path $dir 'readme-link') -Target 'README.md'
        $null = Invoke-Git $dir add -A
        $null = Invoke-Git $dir commit -q -m first
        $null = Invoke-Git $dir gc -q
        $dir
    }
}

AfterAll {
    Remove-TestHome
    'GIT_CONFIG_NOSYSTEM', 'GIT_CONFIG_GLOBAL', 'GIT_AUTHOR_NAME', 'GIT_COMMITTER_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_EMAIL' |
        ForEach-Object { Remove-Item -LiteralPath "env:$_" -ErrorAction SilentlyContinue }
}

Describe 'Restore-RepoBackup of a git repository' -Skip:$NoGit {
    It 'git init, a commit, git gc, Backup-Repo, Restore-RepoBackup: git status works and agrees with the source' {
        $src = New-GitRepo
        @(Get-ChildItem -LiteralPath (Join-Path $src '.git/refs/heads') -Force).Count | Should -Be 0 -Because 'git gc packed the refs'
        $before = Get-GitView $src
        $b = Backup-Repo -Path $src -Destination (New-TestDestination)
        $b.Status | Should -Be 'Created'
        $b.LinksStored | Should -Be 1
        $b.FoldersStored | Should -BeGreaterOrEqual 2 -Because '.git/refs/heads and .git/refs/tags are empty'
        $archive = $b.Destinations[0].ArchivePath

        (Test-RepoBackup -Path $archive).Ok | Should -BeTrue
        $target = New-Target
        $r = Restore-RepoBackup -Path $archive -Destination $target -ErrorVariable err
        $err | Should -BeNullOrEmpty
        $r.Refused | Should -BeNullOrEmpty
        $r.LinksRestored | Should -Be 1
        $r.FoldersRestored | Should -Be $b.FoldersStored
        Join-Path $target '.git/refs/heads' | Should -Exist
        (Get-Item -LiteralPath (Join-Path $target 'readme-link')).LinkTarget | Should -Be 'README.md'
        # Before git touches the copy (git status refreshes the index it finds).
        Compare-RepoBackup -Path $archive -Source $target | Should -BeNullOrEmpty
        (Test-RepoBackup -Path $archive -Source $target).Ok | Should -BeTrue

        & git -C $target status *> $null
        $LASTEXITCODE | Should -Be 0 -Because 'the restored folder is a git repository'
        $after = Get-GitView $target
        $after.Status | Should -Be $before.Status
        $after.Fsck | Should -Be $before.Fsck
        $after.Refs | Should -Be $before.Refs
        $after.Stashes | Should -Be $before.Stashes
    }

    It '-Verbose says how many links and empty folders were stored' {
        $src = New-GitRepo
        $verbose = Backup-Repo -Path $src -Destination (New-TestDestination) -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        $verbose.Message | Where-Object { $_ -match '1 symbolic links stored as links, \d+ empty folders stored' } | Should -Not -BeNullOrEmpty
    }

    It 'a linked worktree: the result and -Verbose say its objects live in the main repository' {
        $main = New-GitRepo
        $linked = Join-Path $TestHome ('linked-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
        $null = Invoke-Git $main worktree add -q -b feature $linked
        $out = Backup-Repo -Path $linked -Destination (New-TestDestination) -Verbose 4>&1
        $b = $out | Where-Object { $_ -is [BackupRepo.BackupResult] }
        $b.Status | Should -Be 'Created'
        (Resolve-Path -LiteralPath $b.LinkedGitDir).ProviderPath | Should -Be (Resolve-Path -LiteralPath (Join-Path $main '.git/worktrees') | Join-Path -ChildPath (Split-Path -Leaf $linked))
        $out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'objects live in the main repository' } |
            Should -Not -BeNullOrEmpty
        $target = New-Target
        $null = Restore-RepoBackup -Path $b.Destinations[0].ArchivePath -Destination $target
        & git -C $target status *> $null
        $LASTEXITCODE | Should -Be 0 -Because 'the main repository is still there'
    }
}

Describe '.NET and Expand-Archive open an archive with link and folder entries' -Skip:$NoGit {
    BeforeAll {
        Add-Type -AssemblyName System.IO.Compression, System.IO.Compression.FileSystem
        $script:src = New-GitRepo
        $null = New-Item -ItemType Directory -Path (Join-Path $src 'empty/deeper')
        $script:archive = (Backup-Repo -Path $src -Destination (New-TestDestination)).Destinations[0].ArchivePath
    }

    It 'ZipFile reads every entry; the link is an entry holding its target' {
        $zip = [IO.Compression.ZipFile]::OpenRead($archive)
        try {
            $names = $zip.Entries.FullName
            $names | Should -Contain 'empty/deeper/'
            $names | Should -Contain '.git/refs/tags/'
            $link = $zip.GetEntry('readme-link')
            $r = [IO.StreamReader]::new($link.Open()); try { $r.ReadToEnd() | Should -Be 'README.md' } finally { $r.Dispose() }
            ($link.ExternalAttributes -shr 16) -band 0xF000 | Should -Be 0xA000 -Because 'S_IFLNK'
        } finally { $zip.Dispose() }
    }

    It 'ZipFile.ExtractToDirectory and Expand-Archive extract it, empty folders included' {
        foreach ($how in 'ZipFile', 'Expand-Archive') {
            $out = New-Target
            if ($how -eq 'ZipFile') { [IO.Compression.ZipFile]::ExtractToDirectory($archive, $out) }
            else { Expand-Archive -LiteralPath $archive -DestinationPath $out }
            Join-Path $out 'empty/deeper' | Should -Exist
            Join-Path $out '.git/refs/tags' | Should -Exist
            Join-Path $out 'readme-link' | Should -Exist
            # .NET knows no link entries: it writes a file holding the target (README says so).
            $item = Get-Item -LiteralPath (Join-Path $out 'readme-link') -Force
            if ($item.LinkType) { $item.LinkTarget | Should -Be 'README.md' }
            else { Get-Content -LiteralPath $item.FullName -Raw | Should -Be 'README.md' -Because "$how writes the target as the file's content" }
        }
    }
}
