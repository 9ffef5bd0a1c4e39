#!/usr/bin/env bash
# Runs the crash-consistency test (tests/integration/crash_consistency_test.cc) for many cycles:
# sluiced is SIGKILLed at a random moment while clients write to it, restarted on the same data
# dir, and everything it acknowledged is checked. CI runs 20 cycles per scenario; this runs 1,000
# (or the number given) and prints the totals of every scenario it ran.
#
#   tools/crash_loop.sh [CYCLES] [GTEST_FILTER]
#
#   CYCLES        cycles per scenario (default 1000)
#   GTEST_FILTER  scenarios (default: the main one, CrashConsistencyTest.NativeProducerAcksAll;
#                 '*' for all: NativeProducerAcksAll, LibrdkafkaIdempotent, KillDuringSegmentRoll,
#                 KillDuringRetentionDeletion, KillDuringTopicCreateDelete)
#
# Environment: SLUICE_CRASH_SEED replays a seed (printed by every run); BUILD_DIR (default
# build/) holds bin/crash_consistency_test, built with
#   cmake --build build --target crash_consistency_test sluiced
# The full output goes to $BUILD_DIR/crash_loop.log. Exit status: the test binary's.
set -euo pipefail

cycles="${1:-1000}"
filter="${2:-CrashConsistencyTest.NativeProducerAcksAll}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
bin="$build/bin/crash_consistency_test"
log="$build/crash_loop.log"

if [[ ! -x "$bin" ]]; then
  echo "crash_loop: $bin not found; build it with:" >&2
  echo "  cmake --build $build --target crash_consistency_test sluiced" >&2
  exit 2
fi
if ! [[ "$cycles" =~ ^[0-9]+$ ]] || (( cycles < 1 )); then
  echo "crash_loop: CYCLES must be a positive integer, got '$cycles'" >&2
  exit 2
fi

echo "crash_loop: $cycles cycles per scenario, filter '$filter', log $log"
start=$(date +%s)
set +e
SLUICE_CRASH_CYCLES="$cycles" "$bin" --gtest_filter="$filter" 2>&1 | tee "$log" |
  grep --line-buffered -E '^(\[ RUN|\[       OK|\[  FAILED|CRASH-TOTALS|.*Failure$)'
status=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))

echo
echo "crash_loop: totals ($elapsed s, exit status $status)"
grep '^CRASH-TOTALS' "$log" | /usr/bin/python3 -c '
import sys
rows = []
for line in sys.stdin:
    fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    rows.append(fields)
keys = ["scenario", "cycles", "acked", "verified", "deleted", "failed_sends", "seconds"]
print("  ".join(f"{k:>12}" for k in keys))
total = {k: 0 for k in keys[1:]}
for r in rows:
    print("  ".join("{:>12}".format(r.get(k, "-")) for k in keys))
    for k in keys[1:]:
        try:
            total[k] += float(r.get(k, 0))
        except ValueError:
            pass
if len(rows) > 1:
    print("  ".join(["{:>12}".format("all")] + ["{:>12g}".format(total[k]) for k in keys[1:]]))
'
exit "$status"
