// `sluice perf produce`: a bounded load generator that reports throughput and latency.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "absl/strings/str_format.h"
#include "sluice/consumer.h"
#include "sluice/producer.h"
#include "tools/cli/commands.h"

namespace sluice::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct LatencyStats {
  double avg_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

LatencyStats Summarize(std::vector<int64_t> us) {
  LatencyStats s;
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, size_t(q * double(us.size())))] / 1e3; };
  double sum = 0;
  for (int64_t v : us) sum += double(v);
  s.avg_ms = sum / double(us.size()) / 1e3;
  s.p50_ms = at(0.50);
  s.p95_ms = at(0.95);
  s.p99_ms = at(0.99);
  s.max_ms = us.back() / 1e3;
  return s;
}

struct PerfProduceOpts {
  std::string topic;
  int record_size = 100;
  int64_t num_records = 100000;
  int64_t duration_ms = 0;  // 0: bounded by num_records only
  int64_t throughput = -1;  // records/s; -1 unlimited
  int acks = -1;
  int linger_ms = 5;
  int batch_size = 16384;
  bool json = false;
};

int RunPerfProduce(const GlobalOptions& global, const PerfProduceOpts& o) {
  ProducerConfig config;
  ApplyGlobal(global, &config);
  config.acks = static_cast<Acks>(o.acks);
  config.linger = std::chrono::milliseconds(o.linger_ms);
  config.batch_size = static_cast<size_t>(o.batch_size);
  auto producer = Producer::Create(config);
  if (!producer.ok()) return Fail("producer", producer.status());

  std::string value(static_cast<size_t>(o.record_size), 'x');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + i % 26);
  std::mutex mu;
  std::vector<int64_t> latencies_us;
  latencies_us.reserve(static_cast<size_t>(std::min<int64_t>(o.num_records, 10'000'000)));
  std::atomic<int64_t> ok{0}, failed{0};
  absl::Status first_error;

  const auto start = Clock::now();
  const auto deadline =
      o.duration_ms > 0 ? start + std::chrono::milliseconds(o.duration_ms) : Clock::time_point::max();
  int64_t sent = 0;
  while (sent < o.num_records && Clock::now() < deadline) {
    if (o.throughput > 0) {
      // Pace: record i is due at start + i / throughput.
      auto due = start + std::chrono::microseconds(sent * 1'000'000 / o.throughput);
      if (due > Clock::now()) std::this_thread::sleep_until(due);
    }
    Record r;
    r.topic = o.topic;
    r.value = value;
    auto t0 = Clock::now();
    (*producer)->Send(std::move(r), [&, t0](const SendResult& res) {
      int64_t us =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
      std::lock_guard l(mu);
      if (res.ok()) {
        ++ok;
        if (latencies_us.size() < latencies_us.capacity()) latencies_us.push_back(us);
      } else {
        if (failed++ == 0) first_error = res.status();
      }
    });
    ++sent;
  }
  absl::Status flushed = (*producer)->Close(std::chrono::milliseconds(120000));
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  LatencyStats lat;
  {
    std::lock_guard l(mu);
    lat = Summarize(latencies_us);
  }
  const double rps = double(ok) / secs;
  const double mbps = rps * o.record_size / 1e6;
  if (o.json) {
    std::cout << absl::StrFormat(
        "{\"records\":%d,\"failed\":%d,\"seconds\":%.3f,\"records_per_sec\":%.1f,"
        "\"mb_per_sec\":%.2f,\"latency_ms\":{\"avg\":%.3f,\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,"
        "\"max\":%.3f}}\n",
        ok.load(), failed.load(), secs, rps, mbps, lat.avg_ms, lat.p50_ms, lat.p95_ms, lat.p99_ms,
        lat.max_ms);
  } else {
    std::cout << absl::StrFormat(
        "%d records sent in %.2f s: %.1f records/s (%.2f MB/s), latency avg %.2f ms, p50 %.2f "
        "ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        ok.load(), secs, rps, mbps, lat.avg_ms, lat.p50_ms, lat.p95_ms, lat.p99_ms, lat.max_ms);
  }
  if (failed > 0) {
    std::cerr << "sluice: " << failed << " records failed; first error: " << first_error.message()
              << "\n";
    return kExitFailed;
  }
  if (!flushed.ok()) return Fail("flush", flushed);
  return kExitOk;
}

struct PerfConsumeOpts {
  std::string topic;
  std::string group;
  int64_t num_records = 100000;
  int64_t timeout_ms = 30000;  // give up after this long without a record
  bool json = false;
};

// Reads num_records from the start of the topic (a fresh group unless --group is given) and
// reports throughput, plus end-to-end latency (now - record timestamp) for records produced
// while it runs.
int RunPerfConsume(const GlobalOptions& global, const PerfConsumeOpts& o) {
  ConsumerConfig config;
  ApplyGlobal(global, &config);
  config.group_id = o.group.empty() ? absl::StrFormat("sluice-perf-%d", ::getpid()) : o.group;
  config.auto_offset_reset = AutoOffsetReset::kEarliest;
  config.enable_auto_commit = false;
  auto consumer = Consumer::Create(config);
  if (!consumer.ok()) return Fail("consumer", consumer.status());
  absl::Status s = (*consumer)->Subscribe({o.topic});
  if (!s.ok()) return Fail("subscribe", s);
  std::vector<int64_t> e2e_us;
  int64_t records = 0, bytes = 0;
  const auto start = Clock::now();
  const int64_t start_wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
  auto last = start;
  while (records < o.num_records) {
    auto batch = (*consumer)->Poll(std::chrono::milliseconds(200));
    auto now = Clock::now();
    if (!batch.ok()) return Fail("poll", batch.status());
    if (batch->empty()) {
      if (now - last > std::chrono::milliseconds(o.timeout_ms)) break;
      continue;
    }
    last = now;
    const int64_t wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    for (const auto& r : *batch) {
      ++records;
      bytes += static_cast<int64_t>(r.value ? r.value->size() : 0) +
               static_cast<int64_t>(r.key ? r.key->size() : 0);
      int64_t age_ms = wall_ms - r.timestamp_ms;
      if (r.timestamp_ms >= start_wall_ms && age_ms >= 0 && e2e_us.size() < 10'000'000) {
        e2e_us.push_back(age_ms * 1000);
      }
    }
  }
  const double secs = std::chrono::duration<double>(last - start).count();
  (*consumer)->Close().IgnoreError();
  LatencyStats lat = Summarize(e2e_us);
  const double rps = secs > 0 ? double(records) / secs : 0;
  const double mbps = secs > 0 ? double(bytes) / secs / 1e6 : 0;
  if (o.json) {
    std::cout << absl::StrFormat(
        "{\"records\":%d,\"seconds\":%.3f,\"records_per_sec\":%.1f,\"mb_per_sec\":%.2f,"
        "\"e2e_latency_ms\":{\"samples\":%d,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
        records, secs, rps, mbps, e2e_us.size(), lat.p50_ms, lat.p99_ms, lat.max_ms);
  } else {
    std::cout << absl::StrFormat(
        "%d records consumed in %.2f s: %.1f records/s (%.2f MB/s); end-to-end latency of %d "
        "records produced meanwhile: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        records, secs, rps, mbps, e2e_us.size(), lat.p50_ms, lat.p99_ms, lat.max_ms);
  }
  if (records < o.num_records) {
    std::cerr << "sluice: only " << records << " of " << o.num_records << " records within "
              << o.timeout_ms << " ms of the last one\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

void AddPerfCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  auto* perf = app.add_subcommand("perf", "Load generators that report throughput and latency");
  perf->require_subcommand(1);
  auto o = std::make_shared<PerfProduceOpts>();
  auto* p = perf->add_subcommand("produce", "Produce fixed-size records as fast as allowed");
  p->add_option("topic", o->topic, "Topic")->required();
  p->add_option("--record-size", o->record_size, "Value bytes per record")
      ->check(CLI::Range(0, 100 << 20))->capture_default_str();
  p->add_option("--num-records", o->num_records, "Records to send (upper bound)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  p->add_option("--duration-ms", o->duration_ms, "Stop after this long (0: no time bound)")
      ->capture_default_str();
  p->add_option("--throughput", o->throughput, "Records per second (-1: unlimited)")
      ->capture_default_str();
  p->add_option("--acks", o->acks, "0, 1 or -1")->check(CLI::IsMember({0, 1, -1}))
      ->capture_default_str();
  p->add_option("--linger-ms", o->linger_ms, "Producer linger")->capture_default_str();
  p->add_option("--batch-size", o->batch_size, "Producer batch size in bytes")
      ->capture_default_str();
  p->add_flag("--json", o->json, "Print one JSON object instead of a sentence");
  p->callback([&global, o, exit_code] { *exit_code = RunPerfProduce(global, *o); });

  auto c = std::make_shared<PerfConsumeOpts>();
  auto* pc = perf->add_subcommand("consume", "Consume records from the start; report throughput");
  pc->add_option("topic", c->topic, "Topic")->required();
  pc->add_option("--num-records", c->num_records, "Records to read")
      ->check(CLI::PositiveNumber)->capture_default_str();
  pc->add_option("--group", c->group, "Group id (default: a fresh one)");
  pc->add_option("--timeout-ms", c->timeout_ms, "Stop after this long without a record")
      ->capture_default_str();
  pc->add_flag("--json", c->json, "Print one JSON object instead of a sentence");
  pc->callback([&global, c, exit_code] { *exit_code = RunPerfConsume(global, *c); });
}

}  // namespace sluice::cli
