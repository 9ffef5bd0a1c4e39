#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (README there).
#
#   tools/fuzz.sh [--seconds N] [--keep] [target...]
#
# Configures build-fuzz/ once (clang, -DSLUICE_FUZZ=ON, Sanitize build type: ASan + UBSan, asserts
# on; incremental afterwards), builds only the fuzz targets, and runs each target (default: all)
# for N seconds (default 300), one after another. The committed seed corpus
# (tests/fuzz/corpus/<target>/) and the regressions (tests/fuzz/regressions/<target>/) are only
# read; new inputs go to a temporary work dir (kept with --keep, its path printed). On a crash,
# timeout, leak or out-of-memory the reproducer is copied to tests/fuzz/regressions/<target>/ and
# the script exits 1 after the remaining targets ran. At the end it prints executions and
# coverage per target (libFuzzer's final stats).
#
# Needs: clang-14 (clang, clang++), libclang-rt-14-dev (libFuzzer), cmake, ninja-build and the
# project's build dependencies. Environment: SLUICE_FUZZ_BUILD_DIR (default build-fuzz),
# SLUICE_FUZZ_JOBS (build parallelism, default 2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SLUICE_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${SLUICE_FUZZ_JOBS:-2}"
ALL_TARGETS=(kafka_request native_frame record_batch recovery)
SECONDS_PER_TARGET=300
KEEP=0
TARGETS=()

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="${2:?--seconds needs a value}"; shift 2 ;;
    --seconds=*) SECONDS_PER_TARGET="${1#*=}"; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ && "$SECONDS_PER_TARGET" -gt 0 ]] ||
  { echo "fuzz.sh: --seconds wants a positive integer, got '$SECONDS_PER_TARGET'" >&2; exit 2; }
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] ||
    { echo "fuzz.sh: unknown target '$t' (targets: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

for tool in clang clang++ cmake ninja; do
  command -v "$tool" >/dev/null ||
    { echo "fuzz.sh: $tool not found (apt-get install clang-14 libclang-rt-14-dev cmake ninja-build)" >&2; exit 2; }
done

start_all=$(date +%s)
if [[ ! -f "$BUILD/build.ninja" ]]; then
  echo "== configuring $BUILD (clang, SLUICE_FUZZ=ON)"
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize \
    -DSLUICE_FUZZ=ON >"$BUILD.configure.log" 2>&1 ||
    { cat "$BUILD.configure.log" >&2; echo "fuzz.sh: configure failed" >&2; exit 2; }
  mv "$BUILD.configure.log" "$BUILD/configure.log"
fi
echo "== building ${TARGETS[*]/%/_fuzz}"
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]/%/_fuzz}" ||
  { echo "fuzz.sh: build failed" >&2; exit 2; }
built=$(date +%s)
echo "== built in $((built - start_all)) s"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz-XXXXXX")"
# The recovery target's data dirs: on tmpfs when there is one (cheap fsync), always removed.
SCRATCH_BASE=/dev/shm
[[ -d $SCRATCH_BASE && -w $SCRATCH_BASE ]] || SCRATCH_BASE="${TMPDIR:-/tmp}"
export SLUICE_FUZZ_TMPDIR="$(mktemp -d "$SCRATCH_BASE/sluice-fuzz-scratch-XXXXXX")"
cleanup() {
  rm -rf "$SLUICE_FUZZ_TMPDIR"
  if [[ $KEEP == 0 ]]; then rm -rf "$WORK"; else echo "== work dir kept: $WORK"; fi
}
trap cleanup EXIT

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

failed=()
summary=()
for t in "${TARGETS[@]}"; do
  bin="$BUILD/bin/${t}_fuzz"
  seeds="$ROOT/tests/fuzz/corpus/$t"
  regressions="$ROOT/tests/fuzz/regressions/$t"
  out="$WORK/$t"
  mkdir -p "$out/new" "$out/artifacts"
  dirs=("$out/new")  # libFuzzer writes new inputs to the first directory only
  [[ -d "$seeds" ]] && dirs+=("$seeds")
  [[ -d "$regressions" ]] && dirs+=("$regressions")
  echo "== $t: fuzzing for ${SECONDS_PER_TARGET} s (log: $out/fuzz.log)"
  rc=0
  # The outer timeout only bounds a hung run; libFuzzer stops itself at -max_total_time.
  timeout --kill-after=30 $((SECONDS_PER_TARGET + 300)) \
    "$bin" "${dirs[@]}" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
    >"$out/fuzz.log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz.log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$out/fuzz.log" | grep -o '[0-9]*$' | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$out/fuzz.log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[^ ]*\).*/\1/p' <<<"$last")
  line="$(printf '%-14s execs %-10s (%s/s)  cov %-6s ft %-7s corpus %s' "$t" "${execs:-?}" \
    "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")"
  artifacts=("$out"/artifacts/*)
  if [[ $rc -ne 0 || -e "${artifacts[0]}" ]]; then
    mkdir -p "$regressions"
    saved=()
    for a in "${artifacts[@]}"; do
      [[ -e "$a" ]] || continue
      cp "$a" "$regressions/"
      saved+=("tests/fuzz/regressions/$t/$(basename "$a")")
    done
    echo "!! $t FAILED (exit $rc). Last lines of its log:" >&2
    grep -E 'ERROR|fuzz invariant|runtime error|SUMMARY|==[0-9]+==|#[0-9]+ +in ' "$out/fuzz.log" |
      head -40 >&2 || true
    if [[ ${#saved[@]} -gt 0 ]]; then
      echo "!! reproducer(s) saved: ${saved[*]}" >&2
      echo "!! reproduce: $bin ${saved[0]}   (or build/bin/fuzz_regression_test)" >&2
    else
      echo "!! no reproducer was written; see the log above" >&2
      tail -20 "$out/fuzz.log" >&2
    fi
    failed+=("$t")
    summary+=("$line  FAILED")
  else
    summary+=("$line")
  fi
done

echo "== fuzzing summary (${SECONDS_PER_TARGET} s per target, $(( $(date +%s) - start_all )) s in all)"
printf '   %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: FAILED: ${failed[*]}; reproducers are in tests/fuzz/regressions/ (commit them" \
       "with the fix; fuzz_regression_test replays them)" >&2
  exit 1
fi
echo "fuzz.sh: all targets passed"
