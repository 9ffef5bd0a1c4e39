// Crash consistency: the real sluiced is SIGKILLed at a random moment while clients write to it,
// restarted on the same data dir (and the same ports) with no manual step, and then everything it
// acknowledged must be there: every acknowledged record exactly once, at the offset it was
// acknowledged with, in order per partition; committed group offsets exactly the last
// acknowledged commit (or the one in flight at the kill); topics either fully present or absent.
//
//   NativeProducerAcksAll       sluice::Producer (acks=all, no retries) + native group commits
//   LibrdkafkaIdempotent        librdkafka, enable.idempotence, one producer across the kills
//                               (its retries into the restarted broker must be deduplicated)
//                               + Kafka OffsetCommit
//   KillDuringSegmentRoll       --log-segment-bytes 16 KiB: a roll every few milliseconds
//   KillDuringRetentionDeletion segment.bytes 8 KiB, retention.bytes 32 KiB, Kafka DeleteRecords
//                               in a loop (each runs the partition's retention pass,
//                               PartitionLog::ApplyRetention; the broker's own retention thread
//                               runs every 5 minutes and sluiced has no flag to shorten that)
//   KillDuringTopicCreateDelete sluice::Admin creating and deleting four topics in a loop
//
// The kill lands 20-250 ms after the clients start. Cycles per scenario: SLUICE_CRASH_CYCLES
// (default 20); seed: SLUICE_CRASH_SEED (default random, always printed, so a failing run can be
// replayed; timing still varies). tools/crash_loop.sh runs 1,000 cycles. Each scenario prints one
// "CRASH-TOTALS" line: cycles, records acknowledged, records verified after the last restart, and
// the time taken.
//
// Every wait is bounded; the broker is signalled by PID only and killed if a test fails. On a
// failure the data dir is kept (its path is printed) with the broker's log.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"
#include "sluice/admin.h"
#include "sluice/consumer.h"
#include "sluice/producer.h"
#include "tests/integration/crash_consistency_rdkafka.h"
#include "tests/integration/sluiced_process.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using crash::PartitionRead;
using crash::ReadRequest;
using e2e::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------- settings

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoll(v, nullptr, 10);
}

int Cycles() { return int(std::max<int64_t>(1, EnvInt("SLUICE_CRASH_CYCLES", 20))); }

uint64_t BaseSeed() {
  static const uint64_t seed = [] {
    const int64_t s = EnvInt("SLUICE_CRASH_SEED", 0);
    return s != 0 ? uint64_t(s) : uint64_t(std::random_device{}()) << 32 | std::random_device{}();
  }();
  return seed;
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// SLUICE_CRASH_VERBOSE=1: a line per cycle phase, with its time.
void Trace(const std::string& what) {
  static const bool verbose = std::getenv("SLUICE_CRASH_VERBOSE") != nullptr;
  static const auto t0 = Clock::now();
  if (verbose) std::fprintf(stderr, "[%8.3f] %s\n", SecondsSince(t0), what.c_str());
}

// ---------------------------------------------------------------- the broker

// sluiced in `dir` (data in dir/data, log appended to dir/sluiced.log). The first Start() binds
// ephemeral loopback ports; every later Start() binds the same ones, so clients that outlive a
// kill (librdkafka's idempotent producer) reconnect to the restarted broker by themselves.
class CrashBroker {
 public:
  CrashBroker(std::string dir, std::vector<std::string> flags)
      : dir_(std::move(dir)), flags_(std::move(flags)) {}
  ~CrashBroker() { Kill(); }

  // Starts sluiced and waits (bounded) for its port file. Retries a few times if the previous
  // ports cannot be bound again at once.
  bool Start() {
    std::error_code ec;
    if (!fs::exists(binary(), ec)) {
      // Copied to a temporary name, then renamed: a half-written copy is never executed.
      for (int attempt = 0; attempt < 50; ++attempt) {
        fs::copy_file(SLUICED_PATH, binary() + ".tmp", fs::copy_options::overwrite_existing, ec);
        if (!ec) break;
        std::this_thread::sleep_for(milliseconds(200));  // being relinked right now
      }
      if (ec) return false;
      fs::rename(binary() + ".tmp", binary(), ec);
      if (ec) return false;
    }
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (StartOnce()) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }

  // SIGKILL, by PID, and reap.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    e2e::WaitPid(pid_, seconds(10));
    pid_ = -1;
  }

  // SIGTERM and wait (bounded): the exit code, -1 if it had to be killed or died by a signal.
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    auto status = e2e::WaitPid(pid_, seconds(30));
    if (!status) {
      Kill();
      return -1;
    }
    pid_ = -1;
    return e2e::ExitCode(*status);
  }

  // The broker binary: a copy of SLUICED_PATH taken by the first Start(), so every restart runs
  // the same binary even while the shared build dir is being rebuilt.
  std::string binary() const { return dir_ + "/sluiced"; }
  bool running() const { return pid_ > 0; }
  std::string native_bootstrap() const { return "127.0.0.1:" + std::to_string(native_port_); }
  std::string kafka_bootstrap() const { return "127.0.0.1:" + std::to_string(kafka_port_); }
  std::string data_dir() const { return dir_ + "/data"; }
  std::string log_path() const { return dir_ + "/sluiced.log"; }
  std::string Log() const { return e2e::ReadFile(log_path()); }

 private:
  bool StartOnce() {
    const std::string port_file = dir_ + "/ports";
    std::error_code ec;
    fs::remove(port_file, ec);
    auto addr = [](uint16_t port) { return "127.0.0.1:" + std::to_string(port); };
    std::vector<std::string> args{binary(),       "--data-dir",          data_dir(),
                                  "--port-file",  port_file,             "--kafka-addr",
                                  addr(kafka_port_), "--native-addr",    addr(native_port_),
                                  "--http-addr",  addr(http_port_),      "--io-threads",
                                  "2"};
    args.insert(args.end(), flags_.begin(), flags_.end());
    pid_ = e2e::Spawn(args, "", log_path(), log_path());
    if (pid_ <= 0) return false;
    const auto until = Clock::now() + seconds(30);
    while (Clock::now() < until) {
      std::ifstream f(port_file);
      uint16_t kafka = 0, native = 0, http = 0;
      for (std::string line; std::getline(f, line);) {
        if (line.rfind("kafka=", 0) == 0) kafka = uint16_t(std::stoi(line.substr(6)));
        if (line.rfind("native=", 0) == 0) native = uint16_t(std::stoi(line.substr(7)));
        if (line.rfind("http=", 0) == 0) http = uint16_t(std::stoi(line.substr(5)));
      }
      if (kafka != 0 && native != 0 && http != 0) {
        kafka_port_ = kafka;
        native_port_ = native;
        http_port_ = http;
        return true;
      }
      if (auto status = e2e::WaitPid(pid_, milliseconds(0))) {
        // Exited during start-up (a port still taken, or a recovery failure).
        std::fprintf(stderr, "sluiced exited during start-up: %s %d\n",
                     WIFSIGNALED(*status) ? "signal" : "exit code",
                     WIFSIGNALED(*status) ? WTERMSIG(*status) : e2e::ExitCode(*status));
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    Kill();
    return false;
  }

  std::string dir_;
  std::vector<std::string> flags_;
  pid_t pid_ = -1;
  uint16_t kafka_port_ = 0;
  uint16_t native_port_ = 0;
  uint16_t http_port_ = 0;
};

// ---------------------------------------------------------------- what was acknowledged

// Failures seen on client threads (callbacks, workers); reported on the test thread.
class Errors {
 public:
  void Add(std::string e) {
    std::lock_guard l(mu_);
    ++count_;
    if (errors_.size() < 30) errors_.push_back(std::move(e));
  }
  // Moves the collected errors into gtest failures; true if there were none.
  bool Report(const std::string& context) {
    std::lock_guard l(mu_);
    for (const auto& e : errors_) ADD_FAILURE() << context << ": " << e;
    if (count_ > int64_t(errors_.size())) {
      ADD_FAILURE() << context << ": ... and " << count_ - int64_t(errors_.size()) << " more";
    }
    const bool ok = count_ == 0;
    errors_.clear();
    count_ = 0;
    return ok;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> errors_;
  int64_t count_ = 0;
};

// One topic's acknowledged records (value = a sequence number unique in the scenario, key =
// "k<seq>") and what verification has established so far. Ack() may be called from any thread.
class Ledger {
 public:
  Ledger(std::string topic, int32_t partitions, Errors* errors)
      : topic_(std::move(topic)), errors_(errors), acked_(size_t(partitions)),
        verified_upto_(size_t(partitions), 0), last_seq_(size_t(partitions), -1),
        prev_high_(size_t(partitions), 0) {}

  const std::string& topic() const { return topic_; }
  int32_t partitions() const { return int32_t(acked_.size()); }

  void Ack(int32_t p, int64_t offset, int64_t seq) {
    std::lock_guard l(mu_);
    if (p < 0 || size_t(p) >= acked_.size() || offset < 0) {
      errors_->Add("acknowledged with a bad position: seq " + std::to_string(seq) + " at p" +
                   std::to_string(p) + "@" + std::to_string(offset));
      return;
    }
    auto [it, fresh] = acked_[size_t(p)].emplace(offset, seq);
    if (!fresh) {
      // The broker acknowledged two records at one offset: an acknowledged record was lost and
      // its offset handed out again.
      errors_->Add(topic_ + "-" + std::to_string(p) + "@" + std::to_string(offset) +
                   " acknowledged twice: seq " + std::to_string(it->second) + " and " +
                   std::to_string(seq));
      return;
    }
    ++acked_count_;
  }

  int64_t acked_count() const {
    std::lock_guard l(mu_);
    return acked_count_;
  }
  int64_t MaxAckedOffset(int32_t p) const {
    std::lock_guard l(mu_);
    const auto& m = acked_[size_t(p)];
    return m.empty() ? -1 : m.rbegin()->first;
  }

  // The read requests of a verification: everything (full) or what was not verified yet.
  std::vector<ReadRequest> Requests(bool full) const {
    std::vector<ReadRequest> out;
    for (int32_t p = 0; p < partitions(); ++p) {
      out.push_back({topic_, p, full ? 0 : verified_upto_[size_t(p)]});
    }
    return out;
  }

  struct Outcome {
    int64_t verified = 0;         // acknowledged records found at their offsets
    int64_t below_log_start = 0;  // acknowledged, then deleted by retention / DeleteRecords
    int64_t read = 0;             // records read
  };

  // Checks what was read (Requests(full)) against the acknowledgements. Log start offsets above
  // 0 are an error unless `allow_log_start`. `min_low` (per partition, may be empty): a log start
  // the broker acknowledged moving to (DeleteRecords), which must have survived.
  Outcome Verify(const std::vector<PartitionRead>& reads, bool full, bool allow_log_start,
                 const std::vector<int64_t>& min_low) {
    std::lock_guard l(mu_);
    Outcome out;
    for (const PartitionRead& r : reads) {
      const size_t p = size_t(r.partition);
      const std::string where = topic_ + "-" + std::to_string(r.partition);
      auto fail = [&](const std::string& what) { errors_->Add(where + ": " + what); };
      if (r.low < 0 || r.high < r.low) {
        fail("bad watermarks low " + std::to_string(r.low) + " high " + std::to_string(r.high));
        continue;
      }
      if (!allow_log_start && r.low != 0) fail("log start offset moved to " + std::to_string(r.low));
      if (p < min_low.size() && r.low < min_low[p]) {
        fail("log start offset " + std::to_string(r.low) + " is below " +
             std::to_string(min_low[p]) + ", acknowledged by DeleteRecords");
      }
      if (r.high < prev_high_[p]) {
        fail("high watermark went back from " + std::to_string(prev_high_[p]) + " to " +
             std::to_string(r.high) + " (data that was already recovered once is gone)");
      }
      prev_high_[p] = std::max(prev_high_[p], r.high);
      const auto& acked = acked_[p];
      if (!acked.empty() && acked.rbegin()->first >= r.high) {
        auto lost = acked.lower_bound(r.high);
        fail("acknowledged records lost: " + std::to_string(std::distance(lost, acked.end())) +
             " at or past the high watermark " + std::to_string(r.high) + ", first seq " +
             std::to_string(lost->second) + " @" + std::to_string(lost->first));
      }
      // Offsets contiguous from the start to the high watermark; values well-formed, unique in
      // the scenario and increasing along the partition.
      int64_t expect = r.start;
      int64_t last_seq = full ? -1 : last_seq_[p];
      bool order_reported = false;
      for (const auto& rec : r.records) {
        ++out.read;
        if (rec.offset != expect) {
          fail("offset " + std::to_string(rec.offset) + " read where " + std::to_string(expect) +
               " was expected (a gap or a record served twice)");
          expect = rec.offset;
        }
        ++expect;
        char* end = nullptr;
        const int64_t seq = std::strtoll(rec.value.c_str(), &end, 10);
        if (rec.value.empty() || *end != '\0' || rec.key != "k" + rec.value) {
          fail("malformed record @" + std::to_string(rec.offset) + ": key '" + rec.key +
               "' value '" + rec.value + "'");
          continue;
        }
        auto [seen, fresh] = seen_.emplace(seq, Position{int32_t(p), rec.offset});
        if (!fresh && !(seen->second.partition == int32_t(p) &&
                        seen->second.offset == rec.offset)) {
          fail("seq " + std::to_string(seq) + " is in the log twice: p" +
               std::to_string(seen->second.partition) + "@" + std::to_string(seen->second.offset) +
               " and @" + std::to_string(rec.offset));
        }
        if (seq <= last_seq && !order_reported) {
          order_reported = true;
          fail("seq " + std::to_string(seq) + " @" + std::to_string(rec.offset) + " follows seq " +
               std::to_string(last_seq) + ": out of order");
        }
        last_seq = std::max(last_seq, seq);
      }
      if (r.start < r.high && expect != r.high) {
        fail("read ended at " + std::to_string(expect) + ", high watermark " +
             std::to_string(r.high));
      }
      // Every acknowledged record at or above where reading started is at its offset.
      for (auto it = acked.begin(); it != acked.end() && it->first < r.high; ++it) {
        if (it->first < r.low) {
          ++out.below_log_start;
          continue;
        }
        if (it->first < r.start) continue;
        const size_t i = size_t(it->first - r.start);
        if (i >= r.records.size() || r.records[i].offset != it->first) {
          fail("acknowledged seq " + std::to_string(it->second) + " @" +
               std::to_string(it->first) + " not found");
          continue;
        }
        if (r.records[i].value != std::to_string(it->second)) {
          fail("@" + std::to_string(it->first) + " holds '" + r.records[i].value +
               "' but seq " + std::to_string(it->second) + " was acknowledged there");
          continue;
        }
        ++out.verified;
      }
      verified_upto_[p] = std::max(verified_upto_[p], r.high);
      last_seq_[p] = std::max(last_seq_[p], last_seq);
    }
    return out;
  }

 private:
  struct Position {
    int32_t partition;
    int64_t offset;
  };

  const std::string topic_;
  Errors* const errors_;
  mutable std::mutex mu_;
  std::vector<std::map<int64_t, int64_t>> acked_;  // per partition: offset -> seq
  int64_t acked_count_ = 0;
  std::unordered_map<int64_t, Position> seen_;  // seq -> where it was read
  std::vector<int64_t> verified_upto_;          // per partition: high watermark last verified
  std::vector<int64_t> last_seq_;               // per partition: largest seq read
  std::vector<int64_t> prev_high_;
};

// Per-scenario figures, printed as one line that tools/crash_loop.sh adds up.
struct Totals {
  std::string scenario;
  int cycles = 0;
  int64_t acked = 0;
  int64_t verified = 0;
  int64_t deleted = 0;  // acknowledged records later deleted by retention / DeleteRecords
  int64_t unacked_failed = 0;
  std::map<std::string, int64_t> extra;
  Clock::time_point t0 = Clock::now();

  void Print() const {
    std::printf("CRASH-TOTALS scenario=%s cycles=%d acked=%lld verified=%lld deleted=%lld "
                "failed_sends=%lld",
                scenario.c_str(), cycles, (long long)acked, (long long)verified,
                (long long)deleted, (long long)unacked_failed);
    for (const auto& [k, v] : extra) std::printf(" %s=%lld", k.c_str(), (long long)v);
    std::printf(" seconds=%.1f seed=%llu\n", SecondsSince(t0), (unsigned long long)BaseSeed());
    std::fflush(stdout);
  }
};

// ---------------------------------------------------------------- fixture

class CrashConsistencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = e2e::MakeTempDir("sluice-crash");
    ASSERT_FALSE(dir_.empty());
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    rng_.seed(BaseSeed() ^ std::hash<std::string>()(name));
    std::printf("%s: seed %llu (SLUICE_CRASH_SEED), %d cycles (SLUICE_CRASH_CYCLES), dir %s\n",
                name.c_str(), (unsigned long long)BaseSeed(), Cycles(), dir_.c_str());
  }

  void TearDown() override {
    errors_.Report("late");
    if (broker_) {
      if (broker_->running()) {
        EXPECT_EQ(broker_->Stop(), 0) << "sluiced did not shut down cleanly";
      }
      if (HasFailure()) {
        std::string log = broker_->Log();
        if (log.size() > 20000) log = "...\n" + log.substr(log.size() - 20000);
        std::cerr << "---- sluiced log (tail) ----\n" << log;
      }
      broker_.reset();
    }
    std::error_code ec;
    if (HasFailure()) {
      std::cerr << "data dir kept for a post-mortem: " << dir_ << "\n";
    } else {
      fs::remove_all(dir_, ec);
    }
  }

  void StartBroker(std::vector<std::string> extra_flags = {}) {
    const char* level = std::getenv("SLUICE_CRASH_LOG_LEVEL");
    std::vector<std::string> flags{"--log-level", level != nullptr ? level : "info",
                                   "--group-initial-rebalance-delay-ms", "0",
                                   "--group-min-session-timeout-ms", "500"};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    broker_ = std::make_unique<CrashBroker>(dir_, flags);
    ASSERT_TRUE(broker_->Start()) << "sluiced did not start; log:\n" << broker_->Log();
  }

  // SIGKILL, then a restart on the same data dir and ports: no manual step in between.
  void KillAndRestart() {
    broker_->Kill();
    RestartKilled();
  }
  void RestartKilled() {
    const auto t0 = Clock::now();
    ASSERT_TRUE(broker_->Start()) << "sluiced did not restart after SIGKILL; log tail:\n"
                                  << Tail(broker_->Log());
    restart_seconds_ += SecondsSince(t0);
    ++restarts_;
  }

  static std::string Tail(const std::string& s) {
    return s.size() > 8000 ? "..." + s.substr(s.size() - 8000) : s;
  }

  milliseconds KillDelay(int lo = 20, int hi = 250) {
    return milliseconds(std::uniform_int_distribution<int>(lo, hi)(rng_));
  }

  template <typename Config>
  Config Native(Config c) const {
    c.bootstrap_servers = {broker_->native_bootstrap()};
    c.request_timeout = milliseconds(5000);
    c.connect_timeout = milliseconds(2000);
    c.reconnect_backoff = milliseconds(20);
    c.reconnect_backoff_max = milliseconds(200);
    return c;
  }

  std::unique_ptr<Admin> MakeAdmin() {
    auto admin = Admin::Create(Native(AdminConfig{}));
    EXPECT_TRUE(admin.ok()) << admin.status();
    return admin.ok() ? std::move(*admin) : nullptr;
  }

  // A producer that never retries: a batch whose acknowledgement the crash swallowed is not sent
  // again, so acknowledged records cannot have duplicates (see producer.h, "Delivery semantics").
  std::unique_ptr<Producer> MakeNoRetryProducer(size_t batch_size = 16384) {
    ProducerConfig c = Native(ProducerConfig{});
    c.acks = Acks::kAll;
    c.retries = 0;
    c.linger = milliseconds(2);
    c.batch_size = batch_size;
    c.max_block = milliseconds(2000);
    c.delivery_timeout = c.linger + c.request_timeout;
    c.client_id = "crash-producer";
    auto p = Producer::Create(c);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Reads and verifies `ledger` (all of it, or what was not verified yet); counts into `totals`.
  Ledger::Outcome VerifyLedger(Ledger& ledger, bool full, bool allow_log_start = false,
                               const std::vector<int64_t>& min_low = {}) {
    auto reads = crash::ReadPartitions(broker_->kafka_bootstrap(), ledger.Requests(full));
    EXPECT_TRUE(reads.ok()) << ledger.topic() << ": " << reads.status();
    if (!reads.ok()) return {};
    return ledger.Verify(*reads, full, allow_log_start, min_low);
  }

  // Counts the broker's recovery reports in its log (appended across restarts).
  void CountRecoveries(Totals* totals) {
    std::istringstream in(broker_->Log());
    int64_t recovered = 0, cut = 0, rolled_back = 0, finished = 0, deleted_segments = 0;
    int64_t interrupted_deletions = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.find(": recovered: scanned") != std::string::npos) {
        ++recovered;
        if (line.find(", cut 0 bytes") == std::string::npos) ++cut;
      }
      if (line.find("rolling back a creation") != std::string::npos) ++rolled_back;
      if (line.find("finishing a deletion") != std::string::npos) ++finished;
      if (line.find(": deleted segment ") != std::string::npos) ++deleted_segments;
      // A kill between moving the durable log start and removing the segment file.
      if (line.find(": removing segment below log start") != std::string::npos) {
        ++interrupted_deletions;
      }
    }
    totals->extra["partition_recoveries"] = recovered;
    totals->extra["recoveries_cutting_bytes"] = cut;
    if (rolled_back) totals->extra["creations_rolled_back"] = rolled_back;
    if (finished) totals->extra["deletions_finished"] = finished;
    if (deleted_segments) totals->extra["segments_deleted"] = deleted_segments;
    if (interrupted_deletions) {
      totals->extra["segment_deletions_finished_on_restart"] = interrupted_deletions;
    }
  }

  // Segment files now in the topic's partition directories.
  int64_t SegmentFiles(const std::string& topic, int32_t partitions) const {
    int64_t n = 0;
    for (int32_t p = 0; p < partitions; ++p) {
      std::error_code ec;
      for (const auto& e :
           fs::directory_iterator(broker_->data_dir() + "/" + topic + "-" + std::to_string(p), ec)) {
        if (e.path().extension() == ".log") ++n;
      }
    }
    return n;
  }

  // The native-producer scenarios: a sluice::Producer (acks=all, no retries, a new one per cycle)
  // streams numbered records to a 3-partition topic while the broker is killed. Options add group
  // commits, topic configs and a DeleteRecords loop.
  struct NativeScenario {
    std::string name;
    std::map<std::string, std::string> topic_configs;
    size_t batch_size = 16384;
    bool commits = false;          // a group member commits offsets in a loop (native protocol)
    bool delete_records = false;   // Kafka DeleteRecords in a loop: retention passes
    int cycles_per_topic = 50;     // then the topic is verified in full, deleted and replaced
  };
  void RunNativeScenario(const NativeScenario& sc);

  std::string dir_;
  std::unique_ptr<CrashBroker> broker_;
  std::mt19937_64 rng_;
  Errors errors_;
  int restarts_ = 0;
  double restart_seconds_ = 0;
};

// ---------------------------------------------------------------- native producer scenarios

// Commits, in a loop, offsets that are distinct for every commit (`base` + n * (p + 1)) through
// one group member (native OffsetCommit); remembers the last one acknowledged and the one whose
// outcome the kill made unknown.
struct CommitLoop {
  std::atomic<int64_t> last_ok{-1};     // n of the last acknowledged commit
  std::atomic<int64_t> ambiguous{-1};   // n of a commit that failed (it may still have landed)
  int64_t base = 0;
  static constexpr int32_t kPartitions = 3;
  std::map<int32_t, int64_t> OffsetsOf(int64_t n) const {
    std::map<int32_t, int64_t> m;
    for (int32_t p = 0; p < kPartitions; ++p) m[p] = base + n * (p + 1);
    return m;
  }
};

// The group's committed offsets (Admin DescribeGroups), by partition of `topic`.
absl::StatusOr<std::map<int32_t, int64_t>> CommittedOffsets(Admin& admin, const std::string& group,
                                                            const std::string& topic) {
  auto groups = admin.DescribeGroups({group});
  if (!groups.ok()) return groups.status();
  std::map<int32_t, int64_t> out;
  for (const auto& g : *groups) {
    for (const auto& o : g.offsets) {
      if (o.partition.topic == topic) out[o.partition.partition] = o.committed_offset;
    }
  }
  return out;
}

// Checks the group's offsets after a restart: exactly the last acknowledged commit, or the
// commit in flight at the kill. Returns the commit found (its n), -2 on a mismatch.
int64_t CheckCommitted(const std::map<int32_t, int64_t>& got, const CommitLoop& loop,
                       const std::map<int32_t, int64_t>& before, Errors* errors,
                       int64_t* landed_in_flight) {
  const int64_t ok = loop.last_ok.load(), amb = loop.ambiguous.load();
  const std::map<int32_t, int64_t> want = ok >= 0 ? loop.OffsetsOf(ok) : before;
  if (got == want) return ok;
  if (amb >= 0 && got == loop.OffsetsOf(amb)) {
    ++*landed_in_flight;
    return amb;
  }
  auto str = [](const std::map<int32_t, int64_t>& m) {
    std::string s = "{";
    for (const auto& [p, o] : m) s += " p" + std::to_string(p) + "=" + std::to_string(o);
    return s + " }";
  };
  errors->Add("committed offsets after restart are " + str(got) + "; the last acknowledged commit " +
              "was " + str(want) +
              (amb >= 0 ? " and the one in flight " + str(loop.OffsetsOf(amb)) : std::string()));
  return -2;
}

void CrashConsistencyTest::RunNativeScenario(const NativeScenario& sc) {
  constexpr int32_t kPartitions = 3;
  const int cycles = Cycles();
  Totals totals;
  totals.scenario = sc.name;
  auto admin = MakeAdmin();
  ASSERT_NE(admin, nullptr);
  int generation = 0;
  auto new_topic = [&]() -> std::unique_ptr<Ledger> {
    const std::string topic = sc.name + "-" + std::to_string(generation++);
    absl::Status s = admin->CreateTopic(topic, kPartitions, sc.topic_configs);
    EXPECT_TRUE(s.ok()) << s;
    return std::make_unique<Ledger>(topic, kPartitions, &errors_);
  };
  std::unique_ptr<Ledger> ledger = new_topic();
  int64_t next_seq = 0;
  int64_t segments_seen = 0;
  std::vector<int64_t> acked_low(kPartitions, 0);  // log starts DeleteRecords acknowledged
  const std::string group = sc.name + "-group";
  std::map<int32_t, int64_t> committed_before;  // what the group had before this cycle
  int64_t commits_acked = 0, commits_in_flight_landed = 0;
  auto rk_admin = crash::MakeRk(RD_KAFKA_PRODUCER, {{"bootstrap.servers", broker_->kafka_bootstrap()},
                                                    {"reconnect.backoff.ms", "20"},
                                                    {"reconnect.backoff.max.ms", "200"}});
  ASSERT_TRUE(rk_admin.ok()) << rk_admin.status();

  for (int cycle = 1; cycle <= cycles && !HasFailure(); ++cycle) {
    if (cycle > 1 && (cycle - 1) % sc.cycles_per_topic == 0) {
      // Keep the data dir bounded in long runs: verify in full, then start a new topic.
      auto o = VerifyLedger(*ledger, /*full=*/true, sc.delete_records, acked_low);
      totals.acked += ledger->acked_count();
      totals.verified += o.verified;
      totals.deleted += o.below_log_start;
      segments_seen += SegmentFiles(ledger->topic(), kPartitions);
      ASSERT_TRUE(admin->DeleteTopic(ledger->topic()).ok());
      ledger = new_topic();
      acked_low.assign(kPartitions, 0);
    }
    Trace(sc.name + " cycle " + std::to_string(cycle) + ": start");
    auto producer = MakeNoRetryProducer(sc.batch_size);
    ASSERT_NE(producer, nullptr);

    // Optional: a group member that commits in a loop.
    std::unique_ptr<Consumer> member;
    CommitLoop commit_loop;
    commit_loop.base = int64_t(cycle) * 1000000;
    if (sc.commits) {
      ConsumerConfig cc = Native(ConsumerConfig{});
      cc.group_id = group;
      cc.enable_auto_commit = false;
      cc.session_timeout = milliseconds(6000);
      cc.heartbeat_interval = milliseconds(500);
      auto c = Consumer::Create(cc);
      ASSERT_TRUE(c.ok()) << c.status();
      member = std::move(*c);
      ASSERT_TRUE(member->Subscribe({ledger->topic()}).ok());
      // Join (bounded) so commits carry the member's generation.
      const auto until = Clock::now() + seconds(10);
      while (member->Assignment().empty() && Clock::now() < until) {
        auto r = member->Poll(milliseconds(20));
        (void)r;
      }
      ASSERT_FALSE(member->Assignment().empty()) << "the group member did not join in time";
    }

    std::atomic<bool> stop{false};
    std::atomic<int64_t> outstanding{0}, failed{0};
    std::thread produce([&] {
      const auto until = Clock::now() + seconds(20);
      while (!stop.load() && Clock::now() < until) {
        if (outstanding.load() > 3000) {
          std::this_thread::sleep_for(milliseconds(1));
          continue;
        }
        const int64_t seq = next_seq++;
        Record r;
        r.topic = ledger->topic();
        r.key = "k" + std::to_string(seq);
        r.value = std::to_string(seq);
        ++outstanding;
        Ledger* l = ledger.get();
        producer->Send(std::move(r), [l, seq, &outstanding, &failed](const SendResult& res) {
          if (res.ok()) {
            l->Ack(res->partition, res->offset, seq);
          } else {
            ++failed;
          }
          --outstanding;
        });
      }
    });
    std::thread committer;
    if (sc.commits) {
      committer = std::thread([&] {
        OffsetMap offsets;
        for (int64_t n = 0; !stop.load() && n < 100000; ++n) {
          offsets.clear();
          for (const auto& [p, o] : commit_loop.OffsetsOf(n)) {
            offsets[TopicPartition{ledger->topic(), p}] = OffsetAndMetadata{o, ""};
          }
          absl::Status s = member->Commit(offsets);
          if (!s.ok()) {
            commit_loop.ambiguous = n;
            return;  // the kill: its outcome is unknown
          }
          commit_loop.last_ok = n;
          std::this_thread::sleep_for(milliseconds(3));
        }
      });
    }
    std::thread deleter;
    std::atomic<int64_t> delete_calls{0};
    std::mutex low_mu;
    if (sc.delete_records) {
      deleter = std::thread([&] {
        std::vector<int64_t> low(kPartitions, 0);
        {
          std::lock_guard l(low_mu);
          low = acked_low;
        }
        while (!stop.load()) {
          for (int32_t p = 0; p < kPartitions && !stop.load(); ++p) {
            // One record past the log start (if acknowledged): each call also runs the
            // partition's retention pass, which deletes segments past retention.bytes.
            if (ledger->MaxAckedOffset(p) <= low[size_t(p)]) continue;
            auto r = crash::DeleteRecords(rk_admin->get(), ledger->topic(), p, low[size_t(p)] + 1,
                                          milliseconds(3000), &stop);
            ++delete_calls;
            if (!r.ok()) continue;  // the kill (or nothing acknowledged there yet)
            low[size_t(p)] = *r;
            std::lock_guard l(low_mu);
            acked_low[size_t(p)] = std::max(acked_low[size_t(p)], *r);
          }
          std::this_thread::sleep_for(milliseconds(2));
        }
      });
    }

    Trace("streaming");
    std::this_thread::sleep_for(KillDelay());
    broker_->Kill();
    Trace("killed");
    stop = true;
    produce.join();
    if (committer.joinable()) committer.join();
    if (deleter.joinable()) deleter.join();
    Trace("joined");
    // Every record gets exactly one outcome: with the broker gone, what is still queued or in
    // flight fails (Cancelled) once the short Close() timeout has passed.
    producer->Close(milliseconds(300)).IgnoreError();
    producer.reset();
    Trace("producer closed");
    EXPECT_EQ(outstanding.load(), 0) << "records without an outcome after Close()";
    totals.unacked_failed += failed.load();
    if (member) {
      member->Close(milliseconds(500)).IgnoreError();
      member.reset();
    }

    Trace("closed");
    RestartKilled();
    Trace("restarted");
    ASSERT_FALSE(HasFailure());
    // After a restart: every acknowledged record and commit is there.
    if (sc.commits) {
      auto got = CommittedOffsets(*admin, group, ledger->topic());
      ASSERT_TRUE(got.ok()) << got.status();
      CheckCommitted(*got, commit_loop, committed_before, &errors_, &commits_in_flight_landed);
      commits_acked += commit_loop.last_ok.load() + 1;
      committed_before = *got;
    }
    const bool full = cycle % 10 == 0 && cycle != cycles;  // the last one follows the loop
    VerifyLedger(*ledger, full, sc.delete_records, acked_low);
    Trace("verified");
    if (!errors_.Report(sc.name + " cycle " + std::to_string(cycle))) break;
    totals.cycles = cycle;
  }
  // The last verification, of everything still in the current topic.
  auto o = VerifyLedger(*ledger, /*full=*/true, sc.delete_records, acked_low);
  errors_.Report(sc.name + " final");
  totals.acked += ledger->acked_count();
  totals.verified += o.verified;
  totals.deleted += o.below_log_start;
  segments_seen += SegmentFiles(ledger->topic(), kPartitions);
  if (sc.commits) {
    totals.extra["commits_acked"] = commits_acked;
    totals.extra["in_flight_commits_landed"] = commits_in_flight_landed;
  }
  totals.extra["segment_files_at_end"] = segments_seen;
  totals.extra["restart_ms_avg"] = restarts_ > 0 ? int64_t(restart_seconds_ * 1000 / restarts_) : 0;
  CountRecoveries(&totals);
  totals.Print();
  EXPECT_EQ(totals.verified + totals.deleted, totals.acked)
      << "acknowledged records that were neither verified nor deleted by retention";
  if (!sc.delete_records) {
    EXPECT_EQ(totals.deleted, 0);
  }
  EXPECT_GT(totals.acked, 0) << "nothing was acknowledged: the kills landed too early";
}

TEST_F(CrashConsistencyTest, NativeProducerAcksAll) {
  StartBroker();
  RunNativeScenario({.name = "native", .topic_configs = {}, .commits = true});
}

TEST_F(CrashConsistencyTest, KillDuringSegmentRoll) {
  // 16 KiB segments: with ~40-byte records every partition rolls every few milliseconds.
  StartBroker({"--log-segment-bytes", "16384"});
  RunNativeScenario({.name = "segroll", .topic_configs = {}, .batch_size = 4096});
}

TEST_F(CrashConsistencyTest, KillDuringRetentionDeletion) {
  // Small segments and retention.bytes: every DeleteRecords (which runs the partition's
  // retention pass) deletes segments, and the log start keeps moving. (The broker's own retention
  // thread stays at its default: the verifying reads position at the log start, which must not
  // move under them.)
  StartBroker();
  RunNativeScenario({.name = "retention",
                     .topic_configs = {{"segment.bytes", "8192"}, {"retention.bytes", "32768"}},
                     .batch_size = 2048,
                     .delete_records = true});
}

// ---------------------------------------------------------------- librdkafka, idempotent

struct RdkProduceState {
  Ledger* ledger = nullptr;
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> failed{0};
  Errors* errors = nullptr;
  std::mutex mu;
  std::map<std::string, int64_t> failures;  // error name -> count
};

void RdkDeliveryReport(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<RdkProduceState*>(opaque);
  const int64_t seq = int64_t(reinterpret_cast<intptr_t>(m->_private));
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    st->ledger->Ack(m->partition, m->offset, seq);
    ++st->acked;
  } else {
    ++st->failed;
    std::lock_guard l(st->mu);
    ++st->failures[rd_kafka_err2name(m->err)];
  }
}

TEST_F(CrashConsistencyTest, LibrdkafkaIdempotent) {
  constexpr int32_t kPartitions = 3;
  StartBroker();
  const int cycles = Cycles();
  Totals totals;
  totals.scenario = "librdkafka";
  const std::string topic = "rdk";
  {
    auto admin = MakeAdmin();
    ASSERT_NE(admin, nullptr);
    ASSERT_TRUE(admin->CreateTopic(topic, kPartitions).ok());
  }
  Ledger ledger(topic, kPartitions, &errors_);
  RdkProduceState state;
  state.ledger = &ledger;
  state.errors = &errors_;
  // One idempotent producer for the whole scenario: what it sent before a kill and did not hear
  // back about it retries into the restarted broker (same ports), which must deduplicate it from
  // its recovered producer state, and its sequence numbers carry on across restarts.
  auto make_producer = [&] {
    return crash::MakeRk(RD_KAFKA_PRODUCER,
                         {{"bootstrap.servers", broker_->kafka_bootstrap()},
                          {"enable.idempotence", "true"},
                          {"acks", "all"},
                          {"linger.ms", "2"},
                          {"message.timeout.ms", "60000"},
                          {"retry.backoff.ms", "20"},
                          {"reconnect.backoff.ms", "20"},
                          {"reconnect.backoff.max.ms", "100"},
                          {"queue.buffering.max.messages", "100000"}},
                         [&](rd_kafka_conf_t* conf) {
                           rd_kafka_conf_set_dr_msg_cb(conf, RdkDeliveryReport);
                           rd_kafka_conf_set_opaque(conf, &state);
                         });
  };
  auto producer = make_producer();
  ASSERT_TRUE(producer.ok()) << producer.status();
  const std::string group = "rdk-group";
  int64_t next_seq = 0, commits_acked = 0, commits_in_flight_landed = 0, fatal_errors = 0;
  int64_t in_flight_at_kill = 0;
  std::map<int32_t, int64_t> committed_before;
  auto admin = MakeAdmin();
  ASSERT_NE(admin, nullptr);

  for (int cycle = 1; cycle <= cycles && !HasFailure(); ++cycle) {
    // A consumer handle only for simple (generation -1) Kafka OffsetCommits.
    auto committer_rk = crash::MakeRk(RD_KAFKA_CONSUMER,
                                      {{"bootstrap.servers", broker_->kafka_bootstrap()},
                                       {"group.id", group},
                                       {"enable.auto.commit", "false"},
                                       {"reconnect.backoff.ms", "20"},
                                       {"reconnect.backoff.max.ms", "100"},
                                       {"socket.timeout.ms", "3000"}});
    ASSERT_TRUE(committer_rk.ok()) << committer_rk.status();
    CommitLoop commit_loop;
    commit_loop.base = int64_t(cycle) * 1000000;
    std::atomic<bool> stop{false};
    std::thread produce([&] {
      const auto until = Clock::now() + seconds(20);
      while (!stop.load() && Clock::now() < until) {
        if (rd_kafka_outq_len(producer->get()) > 1000) {
          rd_kafka_poll(producer->get(), 1);
          continue;
        }
        const int64_t seq = next_seq;
        std::string key = "k" + std::to_string(seq), value = std::to_string(seq);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            producer->get(), RD_KAFKA_V_TOPIC(topic.c_str()),
            RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(value.data(), value.size()),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(intptr_t(seq))), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
          ++next_seq;
        } else if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          errors_.Add(std::string("produce: ") + rd_kafka_err2name(e));
          return;
        }
        rd_kafka_poll(producer->get(), 0);
      }
    });
    std::thread committer([&] {
      for (int64_t n = 0; !stop.load() && n < 100000; ++n) {
        absl::Status s = crash::CommitOffsets(committer_rk->get(), topic, commit_loop.OffsetsOf(n));
        if (!s.ok()) {
          if (commit_loop.last_ok.load() < 0 && !stop.load()) {
            // Before the first success the coordinator may still be looked up: retry that.
            std::this_thread::sleep_for(milliseconds(10));
            continue;
          }
          commit_loop.ambiguous = n;
          return;
        }
        commit_loop.last_ok = n;
        std::this_thread::sleep_for(milliseconds(3));
      }
    });

    Trace("rdk cycle " + std::to_string(cycle) + ": streaming");
    std::this_thread::sleep_for(KillDelay());
    broker_->Kill();
    Trace("killed");
    stop = true;
    produce.join();
    // Sent or queued without an outcome: librdkafka retries these into the restarted broker.
    in_flight_at_kill += rd_kafka_outq_len(producer->get());
    Trace("producer thread joined");
    RestartKilled();
    Trace("restarted");
    // librdkafka holds a synchronous commit that lost its coordinator until it finds one again:
    // the one in flight at the kill completes (or fails) against the restarted broker.
    committer.join();
    Trace("committer joined");
    committer_rk->reset();
    Trace("committer destroyed");
    ASSERT_FALSE(HasFailure());
    // The producer's unacknowledged batches now retry into the restarted broker.
    if (rd_kafka_flush(producer->get(), 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      ADD_FAILURE() << "librdkafka could not deliver its queue within 30 s after the restart ("
                    << rd_kafka_outq_len(producer->get()) << " left)";
    }
    char fatal[512] = {0};
    if (rd_kafka_fatal_error(producer->get(), fatal, sizeof(fatal)) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++fatal_errors;
      ADD_FAILURE() << "cycle " << cycle << ": librdkafka idempotent producer fatal error: "
                    << fatal;
      producer = make_producer();
      ASSERT_TRUE(producer.ok()) << producer.status();
    }
    Trace("flushed");
    auto got = CommittedOffsets(*admin, group, topic);
    ASSERT_TRUE(got.ok()) << got.status();
    CheckCommitted(*got, commit_loop, committed_before, &errors_, &commits_in_flight_landed);
    commits_acked += commit_loop.last_ok.load() + 1;
    committed_before = *got;
    const bool full = cycle % 10 == 0 && cycle != cycles;  // the last one follows the loop
    VerifyLedger(ledger, full);
    if (!errors_.Report("librdkafka cycle " + std::to_string(cycle))) break;
    totals.cycles = cycle;
  }
  producer->reset();
  auto o = VerifyLedger(ledger, /*full=*/true);
  errors_.Report("librdkafka final");
  totals.acked = ledger.acked_count();
  totals.verified = o.verified;
  totals.unacked_failed = state.failed.load();
  totals.extra["commits_acked"] = commits_acked;
  totals.extra["in_flight_commits_landed"] = commits_in_flight_landed;
  totals.extra["fatal_errors"] = fatal_errors;
  totals.extra["unacked_at_kill_then_retried"] = in_flight_at_kill;
  totals.extra["restart_ms_avg"] = restarts_ > 0 ? int64_t(restart_seconds_ * 1000 / restarts_) : 0;
  CountRecoveries(&totals);
  totals.Print();
  {
    std::lock_guard l(state.mu);
    for (const auto& [e, n] : state.failures) {
      ADD_FAILURE() << n << " records failed with " << e
                    << " (the idempotent producer should deliver everything once the broker is "
                       "back)";
    }
  }
  EXPECT_EQ(totals.verified, totals.acked);
  EXPECT_GT(totals.acked, 0);
}

// ---------------------------------------------------------------- topic creation and deletion

TEST_F(CrashConsistencyTest, KillDuringTopicCreateDelete) {
  StartBroker();
  const int cycles = Cycles();
  Totals totals;
  totals.scenario = "topics";
  const std::vector<std::string> names = {"cd-a", "cd-b", "cd-c", "cd-d"};
  // What the test knows of each topic: present with `partitions`, written by incarnation `inc`
  // (records "name#inc#k"), and the records acknowledged there (partition -> offset -> value).
  struct Stored {
    std::string value;
    bool acked = false;    // acknowledged to the producer (else: found after a restart)
    bool checked = false;  // found after a restart at least once
  };
  struct Model {
    bool present = false;
    int32_t partitions = 0;
    int64_t inc = 0;
    std::map<int32_t, std::map<int64_t, Stored>> records;  // partition -> offset -> record
    // Acknowledged records not yet found after a restart; counted as deleted if the topic goes.
    int64_t Unchecked() const {
      int64_t n = 0;
      for (const auto& [p, m] : records) {
        for (const auto& [o, r] : m) n += r.acked && !r.checked;
      }
      return n;
    }
  };
  // The operation whose outcome a kill made unknown.
  struct InFlight {
    bool create = false;
    int32_t partitions = 0;
    int64_t inc = 0;
  };
  std::map<std::string, Model> model;
  int64_t next_inc = 0, creates = 0, deletes = 0, records_acked = 0, records_verified = 0;
  int64_t records_deleted = 0, ambiguous_ops = 0;

  for (int cycle = 1; cycle <= cycles && !HasFailure(); ++cycle) {
    auto admin = MakeAdmin();
    ASSERT_NE(admin, nullptr);
    ProducerConfig pc = Native(ProducerConfig{});
    pc.acks = Acks::kAll;
    pc.linger = milliseconds(0);
    pc.max_block = milliseconds(2000);
    pc.request_timeout = milliseconds(2000);
    pc.delivery_timeout = milliseconds(4000);
    auto producer_or = Producer::Create(pc);
    ASSERT_TRUE(producer_or.ok()) << producer_or.status();
    std::unique_ptr<Producer> producer = std::move(*producer_or);
    std::map<std::string, InFlight> in_flight;
    std::mt19937_64 op_rng(rng_());
    std::atomic<bool> stop{false};
    std::thread ops([&] {
      for (int i = 0; i < 10000 && !stop.load(); ++i) {
        const std::string& name = names[op_rng() % names.size()];
        Model& m = model[name];
        if (m.present) {
          absl::Status s = admin->DeleteTopic(name);
          if (!s.ok()) {
            in_flight[name] = InFlight{false, 0, 0};
            return;
          }
          ++deletes;
          records_deleted += m.Unchecked();
          m = Model{};
          continue;
        }
        const int32_t partitions = 1 + int32_t(op_rng() % 3);
        const int64_t inc = ++next_inc;
        absl::Status s = admin->CreateTopic(name, partitions);
        if (!s.ok()) {
          in_flight[name] = InFlight{true, partitions, inc};
          return;
        }
        ++creates;
        m = Model{true, partitions, inc, {}};
        // A few acknowledged records in every partition, tagged with this incarnation.
        std::vector<std::pair<std::string, std::future<SendResult>>> sent;
        for (int32_t p = 0; p < partitions; ++p) {
          for (int k = 0; k < 2; ++k) {
            Record r;
            r.topic = name;
            r.partition = p;
            r.key = "k";
            r.value = name + "#" + std::to_string(inc) + "#" + std::to_string(p * 2 + k);
            sent.emplace_back(*r.value, producer->Send(r));
          }
        }
        for (auto& [value, f] : sent) {
          if (f.wait_for(seconds(10)) != std::future_status::ready) continue;
          SendResult res = f.get();
          if (!res.ok()) continue;  // the kill; such a record may or may not be there
          m.records[res->partition][res->offset] = Stored{value, true, false};
          ++records_acked;
        }
      }
    });
    std::this_thread::sleep_for(KillDelay());
    broker_->Kill();
    stop = true;
    ops.join();
    producer->Close(seconds(10)).IgnoreError();
    producer.reset();
    admin.reset();
    ambiguous_ops += int64_t(in_flight.size());
    RestartKilled();
    ASSERT_FALSE(HasFailure());

    // Every topic is either fully present (as created, with its own records only) or absent.
    admin = MakeAdmin();
    ASSERT_NE(admin, nullptr);
    auto listed = admin->ListTopics();
    ASSERT_TRUE(listed.ok()) << listed.status();
    const std::set<std::string> present(listed->begin(), listed->end());
    std::vector<ReadRequest> reads;
    for (const std::string& name : names) {
      Model& m = model[name];
      auto f = in_flight.find(name);
      const bool is = present.contains(name);
      if (f == in_flight.end()) {
        EXPECT_EQ(is, m.present) << name << ": the last acknowledged operation was a "
                                 << (m.present ? "create" : "delete") << " (cycle " << cycle
                                 << ")";
      } else if (is && f->second.create) {
        m = Model{true, f->second.partitions, f->second.inc, {}};  // the create landed
      } else if (!is && f->second.create) {
        continue;  // the create did not land (m is already absent)
      }
      if (!is) {
        records_deleted += m.Unchecked();  // an acknowledged or in-flight delete
        m = Model{};
        continue;
      }
      m.present = true;
      auto described = admin->DescribeTopics({name});
      ASSERT_TRUE(described.ok()) << name << ": " << described.status();
      EXPECT_EQ(int32_t((*described)[0].partitions.size()), m.partitions)
          << name << " came back with another partition count (cycle " << cycle << ")";
      for (const auto& pd : (*described)[0].partitions) {
        EXPECT_EQ(pd.log_start_offset, 0) << name << "-" << pd.partition;
        reads.push_back({name, pd.partition, 0});
      }
    }
    // No directory of a topic that is absent (or of a partition it does not have).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(broker_->data_dir(), ec)) {
      const std::string d = e.path().filename().string();
      for (const std::string& name : names) {
        if (d.rfind(name + "-", 0) != 0) continue;
        const int32_t p = std::atoi(d.c_str() + name.size() + 1);
        const Model& m = model[name];
        EXPECT_TRUE(m.present && p < m.partitions)
            << "directory " << d << " of a topic that is not there (cycle " << cycle << ")";
      }
    }
    auto got = crash::ReadPartitions(broker_->kafka_bootstrap(), reads);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const PartitionRead& r : *got) {
      Model& m = model[r.topic];
      const std::string prefix = r.topic + "#" + std::to_string(m.inc) + "#";
      std::map<int64_t, std::string> have;
      for (const auto& rec : r.records) {
        EXPECT_EQ(rec.value.rfind(prefix, 0), 0u)
            << r.topic << "-" << r.partition << "@" << rec.offset << " holds '" << rec.value
            << "', not a record of the current incarnation " << m.inc << " (cycle " << cycle
            << ")";
        EXPECT_TRUE(have.emplace(rec.offset, rec.value).second);
      }
      std::set<std::string> values;
      for (const auto& [o, v] : have) {
        EXPECT_TRUE(values.insert(v).second) << r.topic << ": '" << v << "' twice";
      }
      auto& stored = m.records[r.partition];
      for (auto& [o, rec] : stored) {
        auto it = have.find(o);
        const bool found = it != have.end() && it->second == rec.value;
        EXPECT_TRUE(found) << r.topic << "-" << r.partition << "@" << o << ": "
                           << (rec.acked ? "acknowledged" : "recovered earlier") << " '"
                           << rec.value << "' missing (cycle " << cycle << ")";
        if (found && rec.acked && !rec.checked) ++records_verified;
        rec.checked = true;
      }
      // Records that landed without an acknowledgement must stay from now on too.
      for (const auto& [o, v] : have) stored.try_emplace(o, Stored{v, false, true});
    }
    if (!errors_.Report("topics cycle " + std::to_string(cycle))) break;
    totals.cycles = cycle;
  }
  // The same names can be created and deleted again, and come back empty.
  {
    auto admin = MakeAdmin();
    ASSERT_NE(admin, nullptr);
    for (const std::string& name : names) {
      if (model[name].present) {
        ASSERT_TRUE(admin->DeleteTopic(name).ok()) << name;
      }
    }
    for (const std::string& name : names) {
      ASSERT_TRUE(admin->CreateTopic(name, 2).ok()) << name;
    }
    auto described = admin->DescribeTopics(names);
    ASSERT_TRUE(described.ok()) << described.status();
    for (const auto& t : *described) {
      ASSERT_EQ(t.partitions.size(), 2u) << t.name;
      for (const auto& p : t.partitions) {
        EXPECT_EQ(p.high_watermark, 0) << t.name << "-" << p.partition << " is not empty";
      }
    }
    for (const std::string& name : names) ASSERT_TRUE(admin->DeleteTopic(name).ok()) << name;
    auto listed = admin->ListTopics();
    ASSERT_TRUE(listed.ok());
    for (const std::string& name : names) {
      EXPECT_EQ(std::count(listed->begin(), listed->end(), name), 0) << name;
    }
  }
  totals.acked = records_acked;
  totals.verified = records_verified;
  totals.deleted = records_deleted;
  totals.extra["creates_acked"] = creates;
  totals.extra["deletes_acked"] = deletes;
  totals.extra["ops_in_flight_at_kill"] = ambiguous_ops;
  totals.extra["restart_ms_avg"] = restarts_ > 0 ? int64_t(restart_seconds_ * 1000 / restarts_) : 0;
  CountRecoveries(&totals);
  totals.Print();
  EXPECT_EQ(totals.verified + totals.deleted, totals.acked)
      << "acknowledged records neither found after a restart nor deleted with their topic";
}

}  // namespace
}  // namespace sluice
