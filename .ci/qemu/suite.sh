#!/usr/bin/env bash
# The library's integration tests under Debian's Linux 6.1 (qemu, see run.sh): builds them,
# picks every test binary but those that cannot mean anything in the guest, and runs them
# there. Skipped, and why:
#   layering, compile_fail   read the source tree / run rustc: not kernel behaviour
#   examples, echo_*         run the example binaries through cargo
#   idle_cpu                 CPU-time bounds: software emulation costs every timer tick
#   timers::a_one_second_sleep_costs_under_one_percent_of_a_core   the same (12 ms in 1 s
#                            measured in the guest: three 4 ms ticks of the emulated clock)
#   loom                     a model checker, no kernel
set -euo pipefail
cd "$(dirname "$0")/../.."
skip='^(layering|compile_fail|examples|echo_load|echo_ten_thousand|idle_cpu|loom)$'
mapfile -t bins < <(
    cargo test -p safer-ring --tests --no-run --message-format=json 2>/dev/null |
        python3 -c '
import json, re, sys
skip = re.compile(sys.argv[1])
skip_tests = {"timers": "a_one_second_sleep_costs_under_one_percent_of_a_core"}
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    if m["target"]["kind"] == ["test"] and not skip.match(m["target"]["name"]):
        name = m["target"]["name"]
        extra = f"::--skip {skip_tests[name]}" if name in skip_tests else ""
        print(m["executable"] + extra)
' "$skip"
)
echo "qemu suite: ${#bins[@]} test binaries under Linux 6.1"
exec "$(dirname "$0")/run.sh" "${bins[@]}"
