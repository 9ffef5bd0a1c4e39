// Fuzz target: partition recovery over arbitrary segment bytes. The input becomes the only
// segment file of a partition, <root>/t-0/00000000000000000000.log, with no index entries and no
// checkpoint (a data dir whose RocksDB lost everything), and PartitionLog::Open recovers it.
// Invariants:
//   - Open succeeds (damage is cut, never fatal);
//   - every batch served from the log start to the log end parses, has a good CRC, and batches
//     follow each other in offset order inside [log start, log end); together they are the
//     whole log (size_bytes);
//   - the log accepts an append at its log end, which reads back;
//   - after Close, reopening recovers nothing more and keeps the log end.
// One temp dir (in /dev/shm when there is one, so syncs are cheap) and one MetaStore serve every
// execution; the partition's files and index entries are reset before each.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>

#include "storage/meta_store.h"
#include "storage/partition_log.h"
#include "spdlog/spdlog.h"
#include "storage/record_batch.h"
#include "tests/fuzz/fuzz_target.h"

namespace sluice::storage {
namespace {

namespace fs = std::filesystem;

// Each execution uses a partition key (topic id) of its own: deleting the previous one's index
// entries instead would leave tombstones that slow every later execution down. The MetaStore is
// recreated every kExecutionsPerMetaStore executions to bound its size.
constexpr uint32_t kExecutionsPerMetaStore = 500;
constexpr int64_t kNowMs = 1'700'000'000'000;

struct State {
  std::string root;
  std::unique_ptr<MetaStore> meta;
  uint32_t executions = 0;
  PartitionKey key{1, PartitionId(0)};

  void OpenMeta() {
    meta.reset();
    std::error_code ec;
    fs::remove_all(root + "/meta", ec);
    auto m = MetaStore::Open(root + "/meta");
    SLUICE_FUZZ_CHECK(m.ok(), "MetaStore::Open: %s", std::string(m.status().message()).c_str());
    meta = std::move(*m);
  }

  // A fresh partition key with nothing in the index.
  void NextExecution() {
    if (++executions % kExecutionsPerMetaStore == 0) OpenMeta();
    key = PartitionKey{executions % kExecutionsPerMetaStore + 1, PartitionId(0)};
  }

  State() {
    // Recovery logs every cut at warn; millions of executions need no such line.
    // SLUICE_FUZZ_LOG=1 keeps them, to debug one input.
    if (std::getenv("SLUICE_FUZZ_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
    std::error_code ec;
    // tools/fuzz.sh names a dir it removes afterwards (libFuzzer may exit without destructors).
    const char* env = std::getenv("SLUICE_FUZZ_TMPDIR");
    fs::path base = env != nullptr ? fs::path(env)
                    : fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
                        ? fs::path("/dev/shm")
                        : fs::temp_directory_path();
    std::string tmpl = (base / "sluice-recovery-fuzz-XXXXXX").string();
    SLUICE_FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp in %s", base.c_str());
    root = tmpl;
    OpenMeta();
  }
  ~State() {
    meta.reset();
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

State& GetState() {
  static State state;
  return state;
}

std::shared_ptr<PartitionLog> Open(State& st) {
  PartitionLog::Options o;
  o.dir = st.root + "/t-0";
  o.key = st.key;
  o.meta = st.meta.get();
  o.now_ms = [] { return kNowMs; };
  auto log = PartitionLog::Open(std::move(o));
  SLUICE_FUZZ_CHECK(log.ok(), "PartitionLog::Open: %s",
                    std::string(log.status().message()).c_str());
  return *log;
}

// Reads the whole log and checks every batch; returns the bytes read.
uint64_t CheckServedBatches(const PartitionLog& log) {
  const Offset start = log.log_start_offset(), end = log.log_end_offset();
  Offset expected = start;
  Offset from = start;
  uint64_t total = 0;
  for (int reads = 0; from < end; ++reads) {
    SLUICE_FUZZ_CHECK(reads < 100000, "reading the log does not advance");
    auto r = log.Read(from, 1 << 20);
    SLUICE_FUZZ_CHECK(r.ok(), "Read(%lld) in [%lld, %lld): %s", (long long)from.value(),
                      (long long)start.value(), (long long)end.value(),
                      std::string(r.status().message()).c_str());
    auto bytes = r->ReadAll();
    SLUICE_FUZZ_CHECK(bytes.ok(), "ReadAll failed");
    SLUICE_FUZZ_CHECK(!bytes->empty(), "empty read at %lld below the log end %lld",
                      (long long)from.value(), (long long)end.value());
    Bytes rest = AsBytes(*bytes);
    while (!rest.empty()) {
      auto v = RecordBatchView::Parse(rest);
      SLUICE_FUZZ_CHECK(v.ok(), "served batch does not parse: %s",
                        std::string(v.status().message()).c_str());
      SLUICE_FUZZ_CHECK(v->VerifyCrc().ok(), "served batch has a bad CRC");
      SLUICE_FUZZ_CHECK(v->last_offset_delta() >= 0, "served batch has a negative delta");
      SLUICE_FUZZ_CHECK(v->base_offset() >= expected, "batch at %lld after offset %lld",
                        (long long)v->base_offset().value(), (long long)expected.value());
      SLUICE_FUZZ_CHECK(v->last_offset() < end, "batch ends at %lld, log end %lld",
                        (long long)v->last_offset().value(), (long long)end.value());
      expected = v->last_offset() + 1;
      total += v->size_bytes();
      rest = rest.subspan(v->size_bytes());
    }
    SLUICE_FUZZ_CHECK(r->next_offset > from, "read did not advance");
    from = r->next_offset;
  }
  SLUICE_FUZZ_CHECK(total == log.size_bytes(),
                    "served %llu of the log's %llu bytes (offsets [%lld, %lld), %zu segments, "
                    "recovery scanned %llu batches, cut %llu bytes)",
                    (unsigned long long)total, (unsigned long long)log.size_bytes(),
                    (long long)start.value(), (long long)end.value(), log.segment_count(),
                    (unsigned long long)log.recovery_report().batches_scanned,
                    (unsigned long long)log.recovery_report().bytes_truncated);
  return total;
}

}  // namespace
}  // namespace sluice::storage

SLUICE_FUZZ_TARGET(recovery) {
  using namespace sluice::storage;
  State& st = GetState();
  const std::string dir = st.root + "/t-0";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  SLUICE_FUZZ_CHECK(!ec, "create %s", dir.c_str());
  {
    std::ofstream f(dir + "/" + Segment::FileName(sluice::Offset(0)), std::ios::binary);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    SLUICE_FUZZ_CHECK(f.good(), "write the segment");
  }
  st.NextExecution();

  std::shared_ptr<PartitionLog> log = Open(st);
  const sluice::Offset start = log->log_start_offset(), end = log->log_end_offset();
  SLUICE_FUZZ_CHECK(start <= end && log->high_watermark() == end,
                    "log start %lld, end %lld, high watermark %lld", (long long)start.value(),
                    (long long)end.value(), (long long)log->high_watermark().value());
  CheckServedBatches(*log);

  // A new append lands at the log end and reads back.
  RecordBatchBuilder b;
  b.Add("key", "value", {}, kNowMs);
  std::string batch = b.Build();
  // A log end at the very top of the offset space has no room for another record.
  // (PartitionLog::Append does not check for that itself: see tests/fuzz/README.md.)
  if (end < sluice::Offset::Max()) {
    auto appended = log->Append(std::span<uint8_t>(reinterpret_cast<uint8_t*>(batch.data()),
                                                   batch.size()));
    SLUICE_FUZZ_CHECK(appended.ok(), "append after recovery (log end %lld): %s",
                      (long long)end.value(), std::string(appended.status().message()).c_str());
    SLUICE_FUZZ_CHECK(appended->base_offset == end, "appended at %lld, log end was %lld",
                      (long long)appended->base_offset.value(), (long long)end.value());
    SLUICE_FUZZ_CHECK(log->log_end_offset() == end + 1, "log end after the append");
    CheckServedBatches(*log);
  }
  const sluice::Offset end_after = log->log_end_offset();
  SLUICE_FUZZ_CHECK(log->Close().ok(), "close");
  log.reset();

  // A clean reopen finds nothing to repair.
  log = Open(st);
  SLUICE_FUZZ_CHECK(log->log_end_offset() == end_after, "reopened log end %lld, was %lld",
                    (long long)log->log_end_offset().value(), (long long)end_after.value());
  SLUICE_FUZZ_CHECK(log->recovery_report().bytes_truncated == 0 &&
                        log->recovery_report().segments_removed == 0,
                    "a clean reopen cut the log");
  CheckServedBatches(*log);
  SLUICE_FUZZ_CHECK(log->Close().ok(), "close after reopen");
  return 0;
}
