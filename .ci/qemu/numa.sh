#!/usr/bin/env bash
# Seed item 17 on a machine with two NUMA nodes, which this one is not: the pool's placement
# test under Debian's Linux 6.1 in a qemu guest with two nodes (run.sh --numa). The test
# places a pool on each node and checks with move_pages(2) that every page is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
pool_test=$(cargo test -p safer-ring --test pool --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "pool":
        print(m["executable"])
')
exec .ci/qemu/run.sh --numa "$pool_test::pool_pages_land_on_the_numa_node_asked_for --nocapture"
