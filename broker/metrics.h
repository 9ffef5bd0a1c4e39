#pragma once
// Broker metrics in Prometheus' text exposition format (version 0.0.4).
//
// Metrics owns the fixed, hot series: per-API request counters and latency histograms (native
// APIs and, separately, Kafka APIs by API key), bytes in and out, the connection gauge, fsync
// latency. Every hot update is one relaxed atomic add, so any
// thread may update without a lock. Per-API slots are registered once at start-up (before any
// connection exists) and never change afterwards. Series computed at scrape time (partition
// offsets, group lag) are written by the HTTP layer with the PromWriter helpers below.
// Owned by the Server; lives from start-up until every io thread has stopped.
//
// Example:
//   Metrics m;
//   int api = m.RegisterApi(14, "produce");
//   m.api(api).requests.Add(1);
//   m.api(api).latency.ObserveMicros(230);
//   std::string text = m.Render();

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::broker {

class Counter {
 public:
  void Add(uint64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Add(int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Latency histogram with fixed bucket bounds in seconds (observations in microseconds).
class Histogram {
 public:
  // Upper bounds from 100 us to 10 s, roughly 1-2.5-5 per decade.
  static const std::vector<double>& DefaultBounds();
  explicit Histogram(const std::vector<double>& bounds_seconds = DefaultBounds());

  void ObserveMicros(int64_t micros);
  // Appends the _bucket/_sum/_count lines; `labels` is "" or `k="v",k2="v2"` (no braces).
  void Render(std::string* out, std::string_view name, std::string_view labels) const;

 private:
  static constexpr size_t kMaxBuckets = 24;
  std::vector<int64_t> bounds_micros_;
  std::vector<double> bounds_seconds_;
  std::array<std::atomic<uint64_t>, kMaxBuckets + 1> buckets_{};  // last: +Inf
  std::atomic<uint64_t> sum_micros_{0};
  std::atomic<uint64_t> count_{0};
};

struct ApiMetrics {
  std::string name;
  Counter requests;
  Counter errors;  // responses carrying a request-level error (header.error)
  Histogram latency;
};

class Metrics {
 public:
  static constexpr int kMaxApis = 64;

  // Registers API slot `index` (< kMaxApis) under `name`; call before serving. Returns index.
  int RegisterApi(int index, std::string name);
  ApiMetrics& api(int index) { return apis_[static_cast<size_t>(index)]; }
  // The same for Kafka APIs, by API key (< kMaxKafkaApis); rendered as the sluice_kafka_request*
  // families, so native and Kafka APIs of the same name stay distinct series.
  static constexpr int kMaxKafkaApis = 128;
  int RegisterKafkaApi(int key, std::string name);
  ApiMetrics& kafka_api(int key) { return kafka_apis_[static_cast<size_t>(key)]; }

  Counter bytes_in;
  Counter bytes_out;
  // Connections of both protocols (native and Kafka).
  Gauge connections;
  Counter connections_accepted;
  Counter connections_refused;  // over --max-connections
  Counter malformed_frames;     // connections closed for a malformed frame
  Histogram fsync_latency;
  Counter fsync_errors;

  // The fixed series above, every family with # HELP and # TYPE lines.
  std::string Render() const;

 private:
  std::array<ApiMetrics, kMaxApis> apis_;
  std::array<ApiMetrics, kMaxKafkaApis> kafka_apis_;
};

// Helpers for series computed at scrape time.
namespace prom {
void Family(std::string* out, std::string_view name, std::string_view type, std::string_view help);
// `labels`: pairs of name and (unescaped) value.
void Sample(std::string* out, std::string_view name,
            std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
            double value);
// Label value escaping (\\, \", \n).
std::string Escape(std::string_view v);
}  // namespace prom

}  // namespace sluice::broker
