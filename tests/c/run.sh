#!/usr/bin/env bash
# Build the release library, compile tests/c/backup_repo_test.c against
# include/backup_repo.h with warnings as errors and ASan/UBSan, and run it.
# Uses ${CARGO_TARGET_DIR:-target}; the program's exit status is this script's.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
cargo build --release --quiet
lib="$target/release"
out="$target/c-test"
mkdir -p "$out"
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsanitize=address,undefined -fno-omit-frame-pointer -g \
  -I include tests/c/backup_repo_test.c -L "$lib" -lbackup_repo -lpthread -o "$out/backup_repo_test"
# Rust's panic messages from engine stubs go to stderr; keep them visible.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  "$out/backup_repo_test"
