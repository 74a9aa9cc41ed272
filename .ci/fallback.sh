#!/usr/bin/env bash
# The whole test suite again on the fallback backend (io_uring emulated by worker threads
# and an epoll reactor with plain system calls): SAFER_RING_BACKEND=fallback makes every
# ring the tests build (but those asking for io_uring by name) a fallback ring. Tests of
# what only io_uring has (its setup flags, multishot and zero-copy forms, MSG_RING, pinned
# memory, CQ overflow) skip there through `common::kernel_only`, each logged with its
# reason and listed below. Not run here: compile_fail (no ring), layering (reads the
# sources), loom (models, no backend), and the library's unit tests (they test the core
# against a fake kernel and io_uring's own paths).
set -euo pipefail
cd "$(dirname "$0")/.."
skips="$(mktemp)"
args=()
for t in tests/*.rs; do
    name="$(basename "$t" .rs)"
    case "$name" in compile_fail | layering | loom) continue ;; esac
    args+=(--test "$name")
done
SAFER_RING_BACKEND=fallback SAFER_RING_SKIP_LOG="$skips" cargo test -q --no-fail-fast "${args[@]}"
SAFER_RING_BACKEND=fallback SAFER_RING_SKIP_LOG="$skips" cargo test -q --features futures-io --test futures_io
SAFER_RING_BACKEND=fallback SAFER_RING_SKIP_LOG="$skips" cargo test -q -p safer-ring-cli
echo "fallback: $(sort -u "$skips" | wc -l) tests skipped as io_uring-only:"
sort -u "$skips" | sed 's/^/  /'
rm -f "$skips"
