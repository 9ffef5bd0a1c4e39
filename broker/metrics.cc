#include "broker/metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace sluice::broker {
namespace {

std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrCat(v);
}

}  // namespace

namespace prom {

std::string Escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Family(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  absl::StrAppend(out, "# HELP ", absl::string_view(name.data(), name.size()), " ",
                  absl::string_view(help.data(), help.size()), "\n# TYPE ",
                  absl::string_view(name.data(), name.size()), " ",
                  absl::string_view(type.data(), type.size()), "\n");
}

void Sample(std::string* out, std::string_view name,
            std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
            double value) {
  out->append(name);
  if (labels.size() > 0) {
    out->push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out->push_back(',');
      first = false;
      out->append(k);
      out->append("=\"");
      out->append(Escape(v));
      out->push_back('"');
    }
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(FormatDouble(value));
  out->push_back('\n');
}

}  // namespace prom

const std::vector<double>& Histogram::DefaultBounds() {
  static const std::vector<double> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10};
  return kBounds;
}

Histogram::Histogram(const std::vector<double>& bounds_seconds) : bounds_seconds_(bounds_seconds) {
  // Invariant: bounds fit the fixed bucket array.
  assert(bounds_seconds.size() <= kMaxBuckets);
  for (double b : bounds_seconds_) bounds_micros_.push_back(static_cast<int64_t>(b * 1e6));
}

void Histogram::ObserveMicros(int64_t micros) {
  if (micros < 0) micros = 0;
  size_t i =
      static_cast<size_t>(std::lower_bound(bounds_micros_.begin(), bounds_micros_.end(), micros) -
                          bounds_micros_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(micros), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::Render(std::string* out, std::string_view name, std::string_view labels) const {
  absl::string_view n(name.data(), name.size());
  absl::string_view l(labels.data(), labels.size());
  absl::string_view sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_micros_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::string le = i < bounds_seconds_.size() ? absl::StrCat(bounds_seconds_[i]) : "+Inf";
    absl::StrAppend(out, n, "_bucket{", l, sep, "le=\"", le, "\"} ", cumulative, "\n");
  }
  // The count is the +Inf bucket, so _count and _bucket{le="+Inf"} always agree in one scrape.
  std::string braces = labels.empty() ? "" : absl::StrCat("{", l, "}");
  absl::StrAppend(
      out, n, "_sum", braces, " ",
      FormatDouble(static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6), "\n");
  absl::StrAppend(out, n, "_count", braces, " ", cumulative, "\n");
}

int Metrics::RegisterApi(int index, std::string name) {
  // Invariant: slots are registered once, before any connection updates them.
  assert(index >= 0 && index < kMaxApis);
  apis_[static_cast<size_t>(index)].name = std::move(name);
  return index;
}

int Metrics::RegisterKafkaApi(int key, std::string name) {
  // Invariant: slots are registered once, before any connection updates them.
  assert(key >= 0 && key < kMaxKafkaApis);
  kafka_apis_[static_cast<size_t>(key)].name = std::move(name);
  return key;
}

namespace {

// One protocol's per-API families: <prefix>requests_total, <prefix>request_errors_total,
// <prefix>request_duration_seconds.
template <size_t N>
void RenderApis(std::string* out, const std::array<ApiMetrics, N>& apis, std::string_view prefix,
                std::string_view protocol, std::string_view error_help) {
  const std::string base = "sluice_" + std::string(prefix);
  const std::string requests = base + "requests_total";
  const std::string errors = base + "request_errors_total";
  const std::string duration = base + "request_duration_seconds";
  prom::Family(out, requests, "counter", std::string(protocol) + " requests handled, by API.");
  for (const auto& a : apis) {
    if (!a.name.empty()) prom::Sample(out, requests, {{"api", a.name}}, a.requests.value());
  }
  prom::Family(out, errors, "counter", error_help);
  for (const auto& a : apis) {
    if (!a.name.empty()) prom::Sample(out, errors, {{"api", a.name}}, a.errors.value());
  }
  prom::Family(out, duration, "histogram",
               "Time from a request's arrival to its response being ready, by API.");
  for (const auto& a : apis) {
    if (!a.name.empty()) {
      a.latency.Render(out, duration, absl::StrCat("api=\"", prom::Escape(a.name), "\""));
    }
  }
}

}  // namespace

std::string Metrics::Render() const {
  std::string out;
  RenderApis(&out, apis_, "", "Native", "Native responses carrying an error, by API.");
  RenderApis(&out, kafka_apis_, "kafka_", "Kafka",
             "Kafka requests that could not be answered (malformed, or the handler failed; the "
             "connection was closed), by API.");
  prom::Family(&out, "sluice_bytes_in_total", "counter",
               "Bytes read from client connections (native and Kafka).");
  prom::Sample(&out, "sluice_bytes_in_total", {}, bytes_in.value());
  prom::Family(&out, "sluice_bytes_out_total", "counter",
               "Bytes written to client connections (native and Kafka).");
  prom::Sample(&out, "sluice_bytes_out_total", {}, bytes_out.value());
  prom::Family(&out, "sluice_connections", "gauge", "Open client connections (native and Kafka).");
  prom::Sample(&out, "sluice_connections", {}, connections.value());
  prom::Family(&out, "sluice_connections_accepted_total", "counter",
               "Client connections accepted (native and Kafka).");
  prom::Sample(&out, "sluice_connections_accepted_total", {}, connections_accepted.value());
  prom::Family(&out, "sluice_connections_refused_total", "counter",
               "Client connections closed at once because --max-connections was reached.");
  prom::Sample(&out, "sluice_connections_refused_total", {}, connections_refused.value());
  prom::Family(&out, "sluice_malformed_frames_total", "counter",
               "Client connections closed because of a malformed frame or request.");
  prom::Sample(&out, "sluice_malformed_frames_total", {}, malformed_frames.value());
  prom::Family(&out, "sluice_fsync_duration_seconds", "histogram",
               "Duration of each partition sync by the flusher (fdatasync of dirty segments).");
  fsync_latency.Render(&out, "sluice_fsync_duration_seconds", "");
  prom::Family(&out, "sluice_fsync_errors_total", "counter", "Failed partition syncs.");
  prom::Sample(&out, "sluice_fsync_errors_total", {}, fsync_errors.value());
  return out;
}

}  // namespace sluice::broker
