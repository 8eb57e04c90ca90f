#!/usr/bin/env bash
# Build the release library, compile tests/c/backup_repo_test.c and
# tests/c/misuse_test.c against include/backup_repo.h with warnings as
# errors, and run them: with ASan/UBSan by default, or, with
# `run.sh valgrind`, without sanitizers under valgrind (leaks and invalid
# accesses are failures). Uses ${CARGO_TARGET_DIR:-target}; exits non-zero
# when any program fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
mode="${1:-asan}"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
cargo build --release --quiet
lib="$target/release"
out="$target/c-test/$mode"
mkdir -p "$out"
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -I include)
case "$mode" in
  asan) cflags+=(-fsanitize=address,undefined -fno-omit-frame-pointer); runner=() ;;
  valgrind)
    command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 1; }
    runner=(valgrind -q --error-exitcode=1 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite,indirect) ;;
  *) echo "usage: $0 [asan|valgrind]"; exit 2 ;;
esac
status=0
for prog in backup_repo_test misuse_test; do
  gcc "${cflags[@]}" "tests/c/$prog.c" -L "$lib" -lbackup_repo -lpthread -o "$out/$prog"
  echo "--- $prog ($mode)"
  # Rust's panic messages from engine stubs go to stderr; keep them visible.
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "${runner[@]}" "$out/$prog" || status=1
done
exit $status
