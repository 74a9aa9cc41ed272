#!/usr/bin/env bash
# Times `safer-ring copy` against `cp` on page-cached data, interleaved round by round.
#
#   cli/scripts/compare.sh WORKDIR [ROUNDS]
#
# In WORKDIR (pick the filesystem to measure; it needs ~2 GiB + 80 MiB per round and tool):
#   1. a 1 GiB file of random bytes: `safer-ring copy` vs `cp`, neither ending in fsync
#      (`cp` uses copy_file_range; the copy splices through pipes on the ring);
#   2. the same with fdatasync: `safer-ring copy --sync` vs `cp && sync -d DST`, each after a
#      `sync` (untimed), so neither waits for the other's writeback;
#   3. a tree of 20 directories x 1,000 files of 4 KiB: `safer-ring copy -r` vs `cp -r`,
#      no fsync.
# The source is read once first (page cache warm). Every round writes to new names and
# nothing is deleted until the end: on ext4, inodes deleted in the last minutes make new
# inode allocation scan (`recently_deleted`), which would skew whichever tool runs after a
# deletion. Prints each time and the median ratio cp / safer-ring (above 1: safer-ring is faster).
set -euo pipefail
work=${1:?usage: compare.sh WORKDIR [ROUNDS]}
rounds=${2:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
cargo build --release -q -p safer-ring-cli --manifest-path "$here/Cargo.toml"
sr=$CARGO_TARGET_DIR/release/safer-ring
mkdir -p "$work"
cd "$work"

if [ ! -f big.src ]; then head -c 1G /dev/urandom > big.src; fi
if [ ! -d tree.src ]; then
    for d in $(seq 0 19); do
        mkdir -p tree.src/d$d
        head -c $((1000 * 4096)) /dev/urandom | split -b 4096 -d -a 3 - tree.src/d$d/f
    done
fi
cat big.src > /dev/null
find tree.src -type f -exec cat {} + > /dev/null
sync

now() { date +%s.%N; }
# time_it NAME CMD...: runs CMD, prints and appends the seconds to NAME.times
time_it() {
    local name=$1 t0 t1
    shift
    t0=$(now)
    "$@"
    t1=$(now)
    echo "$t1 - $t0" | bc -l | tee -a "$name.times" | xargs printf "  %-14s %.3f s\n" "$name"
}
cp_sync() { cp "$1" "$2" && sync -d "$2"; }

rm -f ./*.times
for r in $(seq 1 "$rounds"); do
    echo "round $r"
    time_it sr-file "$sr" copy -q big.src "big.sr.$r"
    time_it cp-file cp big.src "big.cp.$r"
    sync  # the fsync rounds start with nothing else dirty to write back
    time_it cp-file-sync cp_sync big.src "big.cps.$r"
    sync
    time_it sr-file-sync "$sr" copy -q --sync big.src "big.srs.$r"
    time_it cp-tree cp -r tree.src "tree.cp.$r"
    time_it sr-tree "$sr" copy -q -r tree.src "tree.sr.$r"
    cmp big.src "big.sr.$r" && cmp big.src "big.srs.$r" && diff -r tree.src "tree.sr.$r"
    rm -f "big.sr.$r" "big.cp.$r" "big.cps.$r" "big.srs.$r"  # big files: few inodes
    sync
done
echo "every copy verified (cmp, diff -r)"

median() { sort -n "$1.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for what in file file-sync tree; do
    c=$(median "cp-$what") s=$(median "sr-$what")
    printf "%-10s median cp %.3f s, safer-ring %.3f s: cp/safer-ring = %.2f\n" \
        "$what" "$c" "$s" "$(echo "$c / $s" | bc -l)"
done
rm -rf tree.cp.* tree.sr.*
