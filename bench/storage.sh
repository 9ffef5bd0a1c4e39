#!/usr/bin/env bash
# Storage benchmarks beside the disk's own figures: builds storage_bench, measures the file
# system's bandwidth with dd, runs the benchmarks (JSON kept in $BUILD_DIR/storage_bench.json) and
# prints a summary with the issue's targets. Not run in CI: it writes ~15 GiB and takes minutes.
#
#   bench/storage.sh [storage_bench flags, e.g. --benchmark_filter=Crc]
#
# Environment:
#   BUILD_DIR         build directory (default build/; configured with Ninja if it is not yet)
#   SLUICE_BENCH_DIR  where data is written (default: $BUILD_DIR, so the file system of the build);
#                     a private storage-bench.XXXXXX directory under it is removed at exit
# storage_bench's own size knobs (SLUICE_BENCH_*_MIB, ...) pass through; see bench/storage_bench.cc.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

BUILD_DIR=${BUILD_DIR:-build}
PYTHON=/usr/bin/python3

if [ ! -f "$BUILD_DIR/build.ninja" ] && [ ! -f "$BUILD_DIR/Makefile" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ||
    { echo "storage.sh: configure failed" >&2; exit 1; }
fi
cmake --build "$BUILD_DIR" --target storage_bench ||
  { echo "storage.sh: build of storage_bench failed" >&2; exit 1; }
BENCH=$(cd "$BUILD_DIR" && pwd)/bin/storage_bench
JSON=$(cd "$BUILD_DIR" && pwd)/storage_bench.json

BASE=${SLUICE_BENCH_DIR:-$BUILD_DIR}
mkdir -p "$BASE"
WORK=$(mktemp -d "$(cd "$BASE" && pwd)/storage-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# dd's MB/s (10^6 bytes) from its last line: "<bytes> bytes (...) copied, <seconds> s, ...".
dd_mbps() {
  dd "$@" 2>&1 >/dev/null | awk '/copied/ { printf "%.1f\n", $1 / $(NF-3) / 1e6 }'
}

echo "== disk: $(findmnt -n -o SOURCE,FSTYPE -T "$WORK" | tr -s ' ') at $WORK"
echo "== dd reference figures"
DD_SYNC=$(dd_mbps if=/dev/zero of="$WORK/dd.tmp" bs=1M count=2048 conv=fdatasync)
echo "dd 2 GiB bs=1M conv=fdatasync      $DD_SYNC MB/s"
DD_READ=$(dd_mbps if="$WORK/dd.tmp" of=/dev/null bs=1M iflag=direct)
echo "dd 2 GiB bs=1M read iflag=direct   $DD_READ MB/s"
rm -f "$WORK/dd.tmp"
DD_DIRECT=$(dd_mbps if=/dev/zero of="$WORK/dd.tmp" bs=1M count=2048 oflag=direct conv=fdatasync)
echo "dd 2 GiB bs=1M oflag=direct        $DD_DIRECT MB/s"
rm -f "$WORK/dd.tmp"
DD_CACHE=$(dd_mbps if=/dev/zero of="$WORK/dd.tmp" bs=64k count=32768)
echo "dd 2 GiB bs=64k to page cache      $DD_CACHE MB/s"
rm -f "$WORK/dd.tmp"
sync -f "$WORK"
DD_DSYNC64=$(dd_mbps if=/dev/zero of="$WORK/dd.tmp" bs=64k count=2000 oflag=dsync)
echo "dd bs=64k oflag=dsync              $DD_DSYNC64 MB/s"
rm -f "$WORK/dd.tmp"
DD_DSYNC1=$(dd_mbps if=/dev/zero of="$WORK/dd.tmp" bs=1k count=4000 oflag=dsync)
echo "dd bs=1k oflag=dsync               $DD_DSYNC1 MB/s"
rm -f "$WORK/dd.tmp"

echo "== storage_bench (a few minutes)"
SLUICE_BENCH_DIR="$WORK" "$BENCH" --benchmark_format=console --benchmark_out="$JSON" \
  --benchmark_out_format=json "$@"

# This machine's disk bandwidth drifts by 2x from one minute to the next, so the 64 KiB buffered
# append target is judged on paired rounds: dd, append, dd, each append against the mean of the
# dd just before and just after it. SLUICE_BENCH_PAIRED_ROUNDS=0 skips it.
PAIRED=""
ROUNDS=${SLUICE_BENCH_PAIRED_ROUNDS:-3}
if ((ROUNDS > 0)); then
  echo "== paired rounds: dd 2 GiB conv=fdatasync | 2 GiB of 64 KiB appends + fdatasync | dd"
  dd_sync() {
    local mbps
    mbps=$(dd_mbps if=/dev/zero of="$WORK/dd.tmp" bs=1M count=2048 conv=fdatasync)
    rm -f "$WORK/dd.tmp"
    echo "$mbps"
  }
  before=$(dd_sync)
  for ((i = 1; i <= ROUNDS; i++)); do
    SLUICE_BENCH_DIR="$WORK" "$BENCH" --benchmark_filter='^BM_AppendBuffered/65536' \
      --benchmark_format=json > "$WORK/paired.json"
    append=$("$PYTHON" -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["benchmarks"][0]["bytes_per_second"] / 1e6))' "$WORK/paired.json")
    after=$(dd_sync)
    echo "round $i: dd $before MB/s | append $append MB/s | dd $after MB/s"
    PAIRED="$PAIRED $before:$append:$after"
    before=$after
  done
fi

echo
echo "== summary (MB = 10^6 bytes; JSON in $JSON)"
DD_SYNC=$DD_SYNC DD_READ=$DD_READ DD_DIRECT=$DD_DIRECT DD_CACHE=$DD_CACHE \
DD_DSYNC64=$DD_DSYNC64 DD_DSYNC1=$DD_DSYNC1 PAIRED="$PAIRED" "$PYTHON" - "$JSON" <<'EOF'
import json, os, statistics, sys

runs = json.load(open(sys.argv[1]))["benchmarks"]
dd = {k: float(os.environ[k] or "nan") for k in
      ("DD_SYNC", "DD_READ", "DD_DIRECT", "DD_CACHE", "DD_DSYNC64", "DD_DSYNC1")}

def find(bench, *parts):
    """The run named bench/... whose name has every one of `parts` as a component."""
    for r in runs:
        comps = r["name"].split("/")
        if comps[0] == bench and all(p in comps for p in parts):
            return r
    return None

rows = []
def row(label, run, value, unit, ref=None, ref_label="", target=None, fmt="{:.1f}", extra=None):
    """value(run) -> number shown with `unit`; extra(run) -> text appended to it. target is
    (op, limit), checked against the ratio to `ref` when there is one, else against the value."""
    if run is None:
        rows.append((label, "not run", "", "", "", ""))
        return
    if run.get("error_occurred"):
        rows.append((label, "ERROR", "", "", "", run.get("error_message", "")))
        return
    v = value(run)
    text = fmt.format(v) + " " + unit + (extra(run) if extra else "")
    ratio = v / ref if ref else None
    verdict = ""
    if target:
        op, limit = target
        x = ratio if ref else v
        ok = x >= limit if op == ">=" else x < limit
        verdict = f"{'PASS' if ok else 'FAIL'} ({op} {limit})"
    rows.append((label, text, f"{ref:.1f} MB/s" if ref else "", ref_label,
                 f"{ratio:.2f}" if ratio is not None else "", verdict))

mbps = lambda r: r["bytes_per_second"] / 1e6
gbps = lambda r: r["bytes_per_second"] / 1e9

paired = [tuple(float(x) for x in p.split(":")) for p in os.environ["PAIRED"].split()]
for size, name in ((65536, "64 KiB"), (1024, "1 KiB")):
    r = find("BM_AppendBuffered", str(size))
    row(f"append {name} batches + 1 fdatasync", r, mbps, "MB/s", dd["DD_SYNC"],
        "dd conv=fdatasync", (">=", 0.70) if size == 65536 and not paired else None)
    if size == 65536 and paired:
        ratios = [a / ((b + c) / 2) for b, a, c in paired]
        med = statistics.median(ratios)
        rows.append((f"  paired rounds, median of {len(ratios)}",
                     f"{statistics.median(a for _, a, _ in paired):.1f} MB/s",
                     f"{statistics.median((b + c) / 2 for b, _, c in paired):.1f} MB/s",
                     "dd before+after / 2",
                     f"{med:.2f} ({min(ratios):.2f}-{max(ratios):.2f})",
                     f"{'PASS' if med >= 0.70 else 'FAIL'} (>= 0.7)"))
    row("  same, appends only (page cache)", r, lambda r: r["append_only_MBps"], "MB/s",
        dd["DD_CACHE"], "dd to page cache")
    row("  per append | final fdatasync", r, lambda r: r["append_us"], "us", fmt="{:.2f}",
        extra=lambda r: f" | {r['sync_s']:.2f} s")
for size, name, dsync in ((65536, "64 KiB", "DD_DSYNC64"), (1024, "1 KiB", "DD_DSYNC1")):
    for threads in (1, 4):
        r = find("BM_AppendGroupCommit", str(size), f"threads:{threads}")
        if threads == 1:
            ref, ref_label = dd[dsync], f"dd bs={'64k' if size == 65536 else '1k'} oflag=dsync"
        else:
            ref, ref_label = dd["DD_SYNC"], "dd conv=fdatasync"
        row(f"group commit {name} x{threads} thread{'s' if threads > 1 else ''}", r, mbps,
            "MB/s", ref, ref_label)
        row("  batches/s | batches per fdatasync", r, lambda r: r["items_per_second"], "/s",
            fmt="{:.0f}", extra=lambda r: f" | {r['batches_per_sync']:.2f}")
        row("  ack latency p50 | p99", r, lambda r: r["ack_p50_us"], "us", fmt="{:.0f}",
            extra=lambda r: f" | {r['ack_p99_us']:.0f} us")
r = find("BM_IndexLookup")
entries = f"{r['entries'] / 1e6:g}M" if r and "entries" in r else "?"
row(f"index lookup median ({entries} entries)", r, lambda r: r["median_us"], "us",
    target=("<", 5), fmt="{:.2f}")
row("  p99 | mean", r, lambda r: r["p99_us"], "us", fmt="{:.2f}",
    extra=lambda r: f" | {r['real_time']:.2f} us")
row("  index build incl. reopen", r, lambda r: r["build_s"], "s")
for flushed, cold, what in ((0, 0, "warm cache"), (0, 1, "cold cache"), (1, 0, "after Flush")):
    r = find("BM_RecoverTornTail", f"flushed:{flushed}", f"cold:{cold}")
    gib = f"{r['segment_bytes'] / 2**30:.1f} GiB" if r and "segment_bytes" in r else "?"
    row(f"recovery, torn tail, {gib}, {what}", r, lambda r: r["recovery_s"], "s",
        target=("<", 2), fmt="{:.2f}")
    row("  scan rate", r, lambda r: r["scanned_MBps"], "MB/s", fmt="{:.0f}",
        extra=lambda r: f" ({r['bytes_scanned'] / 1e6:.0f} MB scanned,"
                        f" {r['bytes_truncated']:.0f} B cut)")
row("sequential read, page cache", find("BM_SequentialRead", "warm:1"), mbps, "MB/s")
row("sequential read, cold", find("BM_SequentialRead", "warm:0"), mbps, "MB/s",
    dd["DD_READ"], "dd read iflag=direct")
for size, name in ((1024, "1 KiB"), (65536, "64 KiB"), (1 << 20, "1 MiB")):
    soft = find("BM_Crc32cSlicing8", str(size))
    soft_ok = soft is not None and not soft.get("error_occurred")
    row(f"CRC32C {name}: ISA-L | slicing-by-8", find("BM_Crc32c", str(size)), gbps, "GB/s",
        extra=lambda r: f" | {gbps(soft):.2f} GB/s = {gbps(r) / gbps(soft):.0f}x" if soft_ok else "")

print(f"{'dd to disk, conv=fdatasync':44} {dd['DD_SYNC']:.1f} MB/s")
print(f"{'dd to disk, oflag=direct':44} {dd['DD_DIRECT']:.1f} MB/s")
print(f"{'dd to page cache, bs=64k':44} {dd['DD_CACHE']:.1f} MB/s")
print(f"{'dd oflag=dsync, bs=64k | bs=1k':44} {dd['DD_DSYNC64']:.1f} | {dd['DD_DSYNC1']:.2f} MB/s")
print(f"{'dd read, iflag=direct':44} {dd['DD_READ']:.1f} MB/s")
print()
header = ("metric", "value", "reference", "", "ratio", "target")
widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(6)]
for line in [header] + rows:
    print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
EOF
