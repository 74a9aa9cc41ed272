#!/usr/bin/env bash
# The test binaries that already pass on the fallback backend (io_uring emulated by worker
# threads with plain system calls), run with SAFER_RING_BACKEND=fallback so every ring they
# build (but those asking for io_uring by name) uses it. The rest need what the fallback
# does not emulate yet — registered files and buffers, provided-buffer rings (multishot,
# pools, mailboxes: alloc, multishot, pool, registry, send_file, safer_ring's unit tests,
# net's registered-fd and zero-copy tests), kernel-specific counts or flags (backpressure's
# CQ overflow, chains' per-entry cancels, config's setup flags, setup_flags, tokio_driver's
# DEFER_TASKRUN, ring_pool's MSG_RING wake-ups, degraded's masks, errors' strict-mode
# messages), or timing the worker threads change (drop_in_flight's data-before-cancel
# race, panic_safety's submit slow path): the next steps of the fallback backend.
set -euo pipefail
cd "$(dirname "$0")/.."
on_fallback=(
    accept_errors cancel executor fallback faults fd_reuse file_ops forget proptest_panics
    proptest_streams reentrancy ring_drop stale_cqe stress timeouts timers tokio_io
    tokio_io_hyper tokio_io_tls
)
args=()
for t in "${on_fallback[@]}"; do args+=(--test "$t"); done
SAFER_RING_BACKEND=fallback cargo test -q "${args[@]}"
