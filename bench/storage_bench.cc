// Storage benchmarks: appends (buffered and group-committed), index lookups, sequential reads and
// crash recovery of the log layer. bench/storage.sh runs them and sets the figures beside the
// disk's own (dd) numbers; the CRC32C comparison lives in bench/crc32c_bench.cc.
//
// Everything is written under $SLUICE_BENCH_DIR (default: the current directory) in a fresh
// sluice-bench-XXXXXX directory that is removed at exit, so the file system measured is the one
// chosen there. Sizes can be lowered for a quick run:
//   SLUICE_BENCH_APPEND_MIB   data per buffered append run        (default 2048)
//   SLUICE_BENCH_READ_MIB     partition size for sequential reads (default 1024)
//   SLUICE_BENCH_RECOVER_MIB  segment size for crash recovery     (default 1024)
//   SLUICE_BENCH_INDEX_ENTRIES index entries for lookups          (default 10,000,000)
//
// Single-threaded driver; BM_AppendGroupCommit runs its own appender threads, the log manager its
// flusher and retention threads.

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "spdlog/spdlog.h"
#include "storage/log_config.h"
#include "storage/log_manager.h"
#include "storage/meta_store.h"
#include "storage/partition_log.h"
#include "storage/record_batch.h"
#include "storage/segment.h"

namespace sluice::bench {
namespace {

namespace fs = std::filesystem;
using storage::LogConfig;
using storage::LogManager;
using storage::PartitionLog;
using Clock = std::chrono::steady_clock;

constexpr char kTopic[] = "bench";
constexpr uint64_t kMiB = 1 << 20;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoll(v, nullptr, 10);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- scratch directories ----

std::string& RootSlot() {
  static std::string root;
  return root;
}

// The run's private directory, created on first use.
const std::string& Root() {
  std::string& root = RootSlot();
  if (root.empty()) {
    const char* env = std::getenv("SLUICE_BENCH_DIR");
    fs::path base = env != nullptr && *env != '\0' ? fs::path(env) : fs::current_path();
    fs::create_directories(base);
    std::string tmpl = (base / "sluice-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror(tmpl.c_str());
      std::exit(1);
    }
    root = tmpl;
  }
  return root;
}

// A new empty directory under Root().
std::string FreshDir(const std::string& name) {
  static int serial = 0;
  fs::path p = fs::path(Root()) / absl::StrCat(name, "-", serial++);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// Drops a file's clean pages from the page cache, so the next read comes from the disk.
void EvictFromPageCache(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

void EvictSegments(const std::string& partition_dir) {
  for (const auto& entry : fs::directory_iterator(partition_dir)) {
    if (storage::Segment::ParseFileName(entry.path().filename().string())) {
      EvictFromPageCache(entry.path());
    }
  }
}

// ---- batches and logs ----

// A producer's uncompressed batch of about `target` bytes: 100-byte values (the record size
// kafka-producer-perf-test uses by default) under 8-byte keys, timestamped now.
std::string MakeBatch(size_t target) {
  constexpr size_t kRecordEstimate = 116;  // varints, key and value of one record
  std::mt19937 rng(1);
  std::string value(100, '\0');
  for (auto& c : value) c = static_cast<char>('a' + rng() % 26);
  storage::RecordBatchBuilder b;
  int64_t now = WallClockMs();
  char key[16];
  do {
    std::snprintf(key, sizeof(key), "%08zu", b.record_count());
    b.Add(std::string_view(key, 8), value, {}, now);
  } while (b.size_bytes() + kRecordEstimate <= target);
  return b.Build();
}

// Background flushing off: nothing is synced unless someone waits (AwaitDurable) or calls Flush.
// Retention off, so timestamps and sizes never delete what a benchmark wrote.
LogConfig NoSyncConfig(int64_t segment_bytes) {
  LogConfig c;
  c.segment_bytes = segment_bytes;
  c.flush_messages = LogConfig::kNever;
  c.flush_bytes = LogConfig::kNever;
  c.flush_ms = LogConfig::kNever;
  c.retention_bytes = -1;
  c.retention_ms = -1;
  c.max_message_bytes = 8 << 20;
  return c;
}

struct BenchLog {
  std::unique_ptr<LogManager> manager;
  std::shared_ptr<PartitionLog> log;
  std::string data_dir;
  std::string partition_dir() const { return absl::StrCat(data_dir, "/", kTopic, "-0"); }
};

// Opens a log manager on `data_dir`; creates the one-partition topic unless it exists already
// (a crash image being recovered).
absl::StatusOr<BenchLog> OpenBenchLog(const std::string& data_dir, const LogConfig& config) {
  LogManager::Options o;
  o.data_dir = data_dir;
  o.defaults = config;
  auto manager = LogManager::Open(o);
  if (!manager.ok()) return manager.status();
  BenchLog b;
  b.manager = *std::move(manager);
  b.data_dir = data_dir;
  if (!b.manager->DescribeTopic(kTopic).ok()) {
    absl::Status s = b.manager->CreateTopic(kTopic, 1, {});
    if (!s.ok()) return s;
  }
  auto log = b.manager->GetPartition(kTopic, PartitionId(0));
  if (!log.ok()) return log.status();
  b.log = *std::move(log);
  return b;
}

// Appends copies of `batch` until `bytes` are written; returns the number of batches.
absl::StatusOr<uint64_t> Fill(PartitionLog& log, const std::string& batch, uint64_t bytes) {
  std::vector<uint8_t> buf(batch.size());
  uint64_t n = 0;
  for (uint64_t written = 0; written < bytes; written += batch.size(), ++n) {
    std::memcpy(buf.data(), batch.data(), batch.size());
    auto r = log.Append(buf);
    if (!r.ok()) return r.status();
  }
  return n;
}

double Percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]);
}

void SkipWithStatus(benchmark::State& state, const char* what, const absl::Status& s) {
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  state.SkipWithError(msg.c_str());
}

// ---- BM_AppendBuffered ----
// One iteration appends SLUICE_BENCH_APPEND_MIB (2 GiB, at most 1M batches) of pre-built batches
// to a fresh partition with background flushing off, then makes it durable with one Flush():
// the same work as `dd bs=1M conv=fdatasync`. bytes_per_second covers both; append_only_MBps
// the appends alone (page cache speed), sync_s the final fdatasync.
void BM_AppendBuffered(benchmark::State& state) {
  const std::string batch = MakeBatch(static_cast<size_t>(state.range(0)));
  const uint64_t count = std::min<uint64_t>(
      EnvInt("SLUICE_BENCH_APPEND_MIB", 2048) * kMiB / batch.size(), 1000000);
  std::vector<uint8_t> buf(batch.size());
  uint64_t batches = 0;
  double append_s = 0, sync_s = 0;
  for (auto _ : state) {
    auto bl = OpenBenchLog(FreshDir("append"), NoSyncConfig(256 * kMiB));
    if (!bl.ok()) {
      SkipWithStatus(state, "open", bl.status());
      break;
    }
    PartitionLog& log = *bl->log;
    absl::Status error;
    auto t0 = Clock::now();
    for (uint64_t i = 0; i < count && error.ok(); ++i) {
      // Append patches baseOffset in place; a broker appends straight from its receive buffer,
      // and this copy stands for filling it.
      std::memcpy(buf.data(), batch.data(), batch.size());
      error = log.Append(buf).status();
    }
    auto t1 = Clock::now();
    if (error.ok()) error = log.Flush();
    auto t2 = Clock::now();
    if (!error.ok()) {
      SkipWithStatus(state, "append", error);
      break;
    }
    state.SetIterationTime(Seconds(t2 - t0));
    append_s += Seconds(t1 - t0);
    sync_s += Seconds(t2 - t1);
    batches += count;
    bl->manager->Close().IgnoreError();
    fs::remove_all(bl->data_dir);
  }
  const double bytes = static_cast<double>(batches * batch.size());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(batches));
  state.counters["batch_bytes"] = static_cast<double>(batch.size());
  state.counters["append_only_MBps"] = append_s > 0 ? bytes / append_s / 1e6 : 0;
  state.counters["append_us"] = batches > 0 ? append_s * 1e6 / static_cast<double>(batches) : 0;
  state.counters["sync_s"] = state.iterations() > 0 ? sync_s / state.iterations() : 0;
}
BENCHMARK(BM_AppendBuffered)
    ->Arg(1024)
    ->Arg(65536)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// ---- BM_AppendGroupCommit ----
// Each of the benchmark's threads appends a batch and waits until it is durable (acks=all). The
// log manager's flusher covers every waiting append with one fdatasync, so with more threads
// each sync carries more batches. Reports the ack latency (append + wait) percentiles and how
// many batches each sync carried.
struct GroupCommitRun {
  BenchLog bl;
  std::atomic<uint64_t> syncs{0};
  std::vector<std::vector<int64_t>> ack_ns;  // per thread; each thread writes only its own
};
// Created by thread 0 before the timed loop and destroyed by it after; the loop's start and end
// are barriers, so the other threads only see it in between.
std::unique_ptr<GroupCommitRun> g_group_commit;

void BM_AppendGroupCommit(benchmark::State& state) {
  if (state.thread_index() == 0) {
    auto bl = OpenBenchLog(FreshDir("group-commit"), NoSyncConfig(256 * kMiB));
    if (!bl.ok()) {
      SkipWithStatus(state, "open", bl.status());
    } else {
      g_group_commit = std::make_unique<GroupCommitRun>();
      GroupCommitRun* r = g_group_commit.get();
      r->bl = *std::move(bl);
      r->ack_ns.resize(static_cast<size_t>(state.threads()));
      r->bl.manager->flusher().SetSyncObserver(
          [r](int64_t, const absl::Status&) { r->syncs.fetch_add(1); });
    }
  }
  const std::string batch = MakeBatch(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> buf(batch.size());
  for (auto _ : state) {
    GroupCommitRun* r = g_group_commit.get();
    if (r == nullptr) {
      state.SkipWithError("no log (setup failed)");
      break;
    }
    std::memcpy(buf.data(), batch.data(), batch.size());
    auto t0 = Clock::now();
    auto appended = r->bl.log->Append(buf);
    if (!appended.ok()) {
      SkipWithStatus(state, "append", appended.status());
      break;
    }
    std::promise<absl::Status> durable;
    std::future<absl::Status> done = durable.get_future();
    r->bl.log->AwaitDurable(appended->last_offset,
                            [p = std::move(durable)](absl::Status s) mutable { p.set_value(s); });
    absl::Status s = done.get();
    if (!s.ok()) {
      SkipWithStatus(state, "await durable", s);
      break;
    }
    r->ack_ns[static_cast<size_t>(state.thread_index())].push_back((Clock::now() - t0).count());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  // Every thread is done with the log here.
  if (state.thread_index() == 0 && g_group_commit) {
    GroupCommitRun* r = g_group_commit.get();
    std::vector<int64_t> all;
    for (auto& v : r->ack_ns) all.insert(all.end(), v.begin(), v.end());
    uint64_t syncs = r->syncs.load();
    // Set by thread 0 alone, so the framework's sum over threads is this value.
    state.counters["batches_per_sync"] =
        syncs > 0 ? static_cast<double>(all.size()) / static_cast<double>(syncs) : 0;
    state.counters["ack_p50_us"] = Percentile(all, 0.50) / 1e3;
    state.counters["ack_p99_us"] = Percentile(all, 0.99) / 1e3;
    r->bl.manager->Close().IgnoreError();  // stops the flusher, the observer's caller
    fs::remove_all(r->bl.data_dir);
    g_group_commit.reset();
  }
}
BENCHMARK(BM_AppendGroupCommit)
    ->Arg(1024)
    ->Arg(65536)
    ->Threads(1)
    ->Threads(4)
    ->MinTime(2.0)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---- BM_IndexLookup ----
// A metadata store holding SLUICE_BENCH_INDEX_ENTRIES (10 M) batch index entries of one
// partition (10-record, 16 KiB batches in 1 GiB segments, timestamps rising so each also writes
// a time index entry, as a live partition does), closed and reopened so the entries sit in SST
// files as after a restart. Lookups are FindBatch at uniformly random offsets; each one is timed
// on its own, and the median and p99 are reported beside the framework's mean.
struct IndexFixture {
  std::string dir;
  std::unique_ptr<storage::MetaStore> store;
  storage::PartitionKey pk{1, PartitionId(0)};
  int64_t entries = 0;
  double build_s = 0;
};
std::unique_ptr<IndexFixture> g_index;

constexpr int64_t kRecordsPerBatch = 10;
constexpr uint32_t kIndexedBatchBytes = 16384;
constexpr int64_t kBatchesPerSegment = (int64_t{1} << 30) / kIndexedBatchBytes;

absl::StatusOr<IndexFixture*> GetIndexFixture() {
  if (g_index) return g_index.get();
  auto f = std::make_unique<IndexFixture>();
  f->dir = FreshDir("index");
  f->entries = EnvInt("SLUICE_BENCH_INDEX_ENTRIES", 10000000);
  auto t0 = Clock::now();
  {
    auto store = storage::MetaStore::Open(f->dir);
    if (!store.ok()) return store.status();
    // One writer in offset order, as a partition appends: each memtable flush then covers its
    // own key range and compaction has little to do. (Two writers on disjoint halves build no
    // faster on two cores and leave overlapping L0 files that slow the lookups down.)
    const int64_t ts0 = WallClockMs();
    for (int64_t i = 0; i < f->entries; ++i) {
      storage::BatchIndexEntry e;
      e.base_offset = Offset(i * kRecordsPerBatch);
      e.last_offset = e.base_offset + (kRecordsPerBatch - 1);
      e.segment_base = Offset(i / kBatchesPerSegment * kBatchesPerSegment * kRecordsPerBatch);
      e.position = static_cast<uint64_t>(i % kBatchesPerSegment) * kIndexedBatchBytes;
      e.size = kIndexedBatchBytes;
      e.max_timestamp = ts0 + i;
      absl::Status s = (*store)->PutBatch(f->pk, e, /*raises_max_timestamp=*/true);
      if (!s.ok()) return s;
    }
    absl::Status s = (*store)->Close();
    if (!s.ok()) return s;
  }
  auto store = storage::MetaStore::Open(f->dir);
  if (!store.ok()) return store.status();
  f->store = *std::move(store);
  f->build_s = Seconds(Clock::now() - t0);
  g_index = std::move(f);
  return g_index.get();
}

void BM_IndexLookup(benchmark::State& state) {
  auto fixture = GetIndexFixture();
  if (!fixture.ok()) {
    SkipWithStatus(state, "build index", fixture.status());
    return;
  }
  IndexFixture& f = **fixture;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> pick(0, f.entries * kRecordsPerBatch - 1);
  std::vector<int64_t> ns;
  ns.reserve(1 << 20);
  for (auto _ : state) {
    Offset o(pick(rng));
    auto t0 = Clock::now();
    auto found = f.store->FindBatch(f.pk, o);
    auto t1 = Clock::now();
    if (!found.ok() || !found->has_value() || (*found)->base_offset > o ||
        (*found)->last_offset < o) {
      state.SkipWithError(found.ok() ? "FindBatch returned the wrong batch"
                                     : found.status().ToString().c_str());
      break;
    }
    ns.push_back((t1 - t0).count());
  }
  state.counters["entries"] = static_cast<double>(f.entries);
  state.counters["build_s"] = f.build_s;
  state.counters["median_us"] = Percentile(ns, 0.50) / 1e3;
  state.counters["p99_us"] = Percentile(ns, 0.99) / 1e3;
}
BENCHMARK(BM_IndexLookup)->MinTime(2.0)->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---- BM_SequentialRead ----
// Reads a SLUICE_BENCH_READ_MIB (1 GiB) partition of 64 KiB batches front to back as a catching-up
// consumer's fetches do: Read(from, 1 MiB) then ReadResult::ReadAll(). warm:1 reads from the page
// cache; warm:0 evicts the (synced, so clean) segment pages first so the disk serves them.
std::unique_ptr<BenchLog> g_read_log;

absl::StatusOr<BenchLog*> GetReadLog() {
  if (g_read_log) return g_read_log.get();
  auto bl = OpenBenchLog(FreshDir("read"), NoSyncConfig(int64_t{1} << 30));
  if (!bl.ok()) return bl.status();
  auto n = Fill(*bl->log, MakeBatch(65536), EnvInt("SLUICE_BENCH_READ_MIB", 1024) * kMiB);
  if (!n.ok()) return n.status();
  absl::Status s = bl->log->Flush();
  if (!s.ok()) return s;
  g_read_log = std::make_unique<BenchLog>(*std::move(bl));
  return g_read_log.get();
}

void BM_SequentialRead(benchmark::State& state) {
  auto bl = GetReadLog();
  if (!bl.ok()) {
    SkipWithStatus(state, "write partition", bl.status());
    return;
  }
  PartitionLog& log = *(*bl)->log;
  const bool warm = state.range(0) != 0;
  uint64_t bytes = 0;
  for (auto _ : state) {
    if (!warm) {
      state.PauseTiming();
      EvictSegments((*bl)->partition_dir());
      state.ResumeTiming();
    }
    Offset from = log.log_start_offset();
    const Offset end = log.log_end_offset();
    absl::Status error;
    while (from < end && error.ok()) {
      auto r = log.Read(from, kMiB);
      if (!r.ok()) {
        error = r.status();
        break;
      }
      auto data = r->ReadAll();
      if (!data.ok()) {
        error = data.status();
        break;
      }
      if (r->slices.empty()) error = absl::InternalError("Read returned no batch before log end");
      benchmark::DoNotOptimize(data->data());
      bytes += data->size();
      from = r->next_offset;
    }
    if (!error.ok()) {
      SkipWithStatus(state, "read", error);
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_SequentialRead)
    ->ArgName("warm")
    ->Arg(1)
    ->Arg(0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- BM_RecoverTornTail ----
// Crash images of a live log manager: one partition, one SLUICE_BENCH_RECOVER_MIB (1 GiB) segment
// of 64 KiB batches, copied (as `cp -r`) while the manager is still open, so the copy holds what
// a kill -9 leaves: the files' bytes and RocksDB's WAL, but not the index entries still in the
// WAL-less memtable.
//   flushed:0  taken before any sync: the checkpoint is still at offset 0.
//   flushed:1  taken right after PartitionLog::Flush(): the checkpoint is at the log end.
// Each iteration copies an image, appends the first half of one more batch to the segment (a
// torn write), syncs it, and times LogManager::Open on it. cold:1 evicts the segment from the
// page cache first (as after a power loss). Recovery must cut the torn half, keep every whole
// batch, and leave every batch findable through the index.
struct RecoverFixture {
  std::string unflushed_image;
  std::string flushed_image;
  std::string batch;
  Offset log_end{0};
  uint64_t segment_bytes = 0;  // before the torn tail
};
std::unique_ptr<RecoverFixture> g_recover;

absl::StatusOr<RecoverFixture*> GetRecoverFixture() {
  if (g_recover) return g_recover.get();
  auto f = std::make_unique<RecoverFixture>();
  f->batch = MakeBatch(65536);
  auto bl = OpenBenchLog(FreshDir("recover-source"), NoSyncConfig(int64_t{2} << 30));
  if (!bl.ok()) return bl.status();
  auto n = Fill(*bl->log, f->batch, EnvInt("SLUICE_BENCH_RECOVER_MIB", 1024) * kMiB);
  if (!n.ok()) return n.status();
  if (bl->log->segment_count() != 1) return absl::InternalError("expected a single segment");
  f->log_end = bl->log->log_end_offset();
  f->segment_bytes = bl->log->size_bytes();
  std::error_code ec;
  f->unflushed_image = FreshDir("image-unflushed");
  fs::copy(bl->data_dir, f->unflushed_image, fs::copy_options::recursive, ec);
  if (ec) return absl::InternalError(absl::StrCat("copy: ", ec.message()));
  absl::Status s = bl->log->Flush();
  if (!s.ok()) return s;
  f->flushed_image = FreshDir("image-flushed");
  fs::copy(bl->data_dir, f->flushed_image, fs::copy_options::recursive, ec);
  if (ec) return absl::InternalError(absl::StrCat("copy: ", ec.message()));
  bl->manager->Close().IgnoreError();
  fs::remove_all(bl->data_dir);
  g_recover = std::move(f);
  return g_recover.get();
}

// Appends the first half of `batch` (renumbered to follow the log) to the segment file.
absl::Status TearTail(const std::string& segment, std::string batch, Offset next) {
  storage::SetBaseOffset(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(batch.data()), batch.size()), next);
  int fd = ::open(segment.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", segment, ": ", std::strerror(errno)));
  size_t half = batch.size() / 2;
  bool ok = ::write(fd, batch.data(), half) == static_cast<ssize_t>(half);
  // The copy's pages go to the disk now rather than in the middle of the timed recovery.
  ok = ok && ::syncfs(fd) == 0;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("write ", segment, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

void BM_RecoverTornTail(benchmark::State& state) {
  auto fixture = GetRecoverFixture();
  if (!fixture.ok()) {
    SkipWithStatus(state, "write partition", fixture.status());
    return;
  }
  const RecoverFixture& f = **fixture;
  const bool flushed = state.range(0) != 0;
  const bool cold = state.range(1) != 0;
  storage::RecoveryReport total;
  double seconds = 0;
  for (auto _ : state) {
    std::string dir = FreshDir("recover");
    std::error_code ec;
    fs::copy(flushed ? f.flushed_image : f.unflushed_image, dir, fs::copy_options::recursive, ec);
    if (ec) {
      state.SkipWithError(("copy: " + ec.message()).c_str());
      break;
    }
    std::string partition_dir = absl::StrCat(dir, "/", kTopic, "-0");
    std::string segment = absl::StrCat(partition_dir, "/", storage::Segment::FileName(Offset(0)));
    absl::Status s = TearTail(segment, f.batch, f.log_end);
    if (!s.ok()) {
      SkipWithStatus(state, "tear", s);
      break;
    }
    if (cold) EvictFromPageCache(segment);

    auto t0 = Clock::now();
    auto bl = OpenBenchLog(dir, NoSyncConfig(int64_t{2} << 30));
    auto t1 = Clock::now();
    if (!bl.ok()) {
      SkipWithStatus(state, "recover", bl.status());
      break;
    }
    state.SetIterationTime(Seconds(t1 - t0));
    seconds += Seconds(t1 - t0);
    const storage::RecoveryReport& r = bl->log->recovery_report();
    total.batches_scanned += r.batches_scanned;
    total.bytes_scanned += r.bytes_scanned;
    total.bytes_truncated += r.bytes_truncated;
    total.index_entries_rebuilt += r.index_entries_rebuilt;

    std::string problem;
    if (r.bytes_truncated == 0) {
      problem = "recovery did not cut the torn tail (bytes_truncated == 0)";
    } else if (bl->log->log_end_offset() != f.log_end) {
      problem = absl::StrCat("log end after recovery is ", bl->log->log_end_offset().value(),
                             ", expected ", f.log_end.value());
    } else {
      // Every whole batch must still be reachable: the first and the last.
      for (Offset o : {Offset(0), f.log_end - 1}) {
        auto rr = bl->log->Read(o, 1);
        if (!rr.ok()) {
          problem = absl::StrCat("Read(", o.value(), ") after recovery: ", rr.status().ToString());
        } else if (rr->slices.empty()) {
          problem = absl::StrCat("Read(", o.value(), ") after recovery finds no batch: the ",
                                 "index entries below the checkpoint were lost and not rebuilt ",
                                 "(scanned ", r.bytes_scanned, " bytes)");
        }
        if (!problem.empty()) break;
      }
    }
    bl->manager->Close().IgnoreError();
    fs::remove_all(dir);
    if (!problem.empty()) {
      state.SkipWithError(problem.c_str());
      break;
    }
  }
  const double n = std::max<double>(1, static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(total.bytes_scanned));
  state.counters["recovery_s"] = seconds / n;
  state.counters["scanned_MBps"] =
      seconds > 0 ? static_cast<double>(total.bytes_scanned) / seconds / 1e6 : 0;
  state.counters["bytes_scanned"] = static_cast<double>(total.bytes_scanned) / n;
  state.counters["batches_scanned"] = static_cast<double>(total.batches_scanned) / n;
  state.counters["bytes_truncated"] = static_cast<double>(total.bytes_truncated) / n;
  state.counters["segment_bytes"] = static_cast<double>(f.segment_bytes);
}
BENCHMARK(BM_RecoverTornTail)
    ->ArgNames({"flushed", "cold"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Closes what the fixtures hold open and removes the run's directory.
void ReleaseFixtures() {
  if (g_index) {
    g_index->store->Close().IgnoreError();
    g_index.reset();
  }
  if (g_read_log) {
    g_read_log->manager->Close().IgnoreError();
    g_read_log.reset();
  }
  g_recover.reset();
  if (!RootSlot().empty()) {
    std::error_code ec;
    fs::remove_all(RootSlot(), ec);
  }
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  sluice::bench::ReleaseFixtures();
  return 0;
}
