#include "sluice/client_config.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("invalid client config: ", what));
}

bool ValidAddress(const std::string& a) {
  const size_t colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  uint32_t port = 0;
  return absl::SimpleAtoi(a.substr(colon + 1), &port) && port > 0 && port < 65536;
}

}  // namespace

absl::Status ClientConfig::Validate() const {
  if (bootstrap_servers.empty()) return Invalid("bootstrap_servers is empty");
  for (const auto& a : bootstrap_servers) {
    if (!ValidAddress(a))
      return Invalid(absl::StrCat("bootstrap server '", a, "' is not host:port"));
  }
  if (request_timeout.count() <= 0) return Invalid("request_timeout must be positive");
  if (connect_timeout.count() <= 0) return Invalid("connect_timeout must be positive");
  if (reconnect_backoff.count() < 0 || reconnect_backoff_max < reconnect_backoff) {
    return Invalid("reconnect_backoff must be >= 0 and <= reconnect_backoff_max");
  }
  if (retry_backoff.count() < 0) return Invalid("retry_backoff must be >= 0");
  if (metadata_max_age.count() <= 0) return Invalid("metadata_max_age must be positive");
  if (max_frame_bytes < 1024) return Invalid("max_frame_bytes must be at least 1024");
  return absl::OkStatus();
}

absl::Status ProducerConfig::Validate() const {
  if (auto s = ClientConfig::Validate(); !s.ok()) return s;
  if (acks != Acks::kNone && acks != Acks::kLeader && acks != Acks::kAll) {
    return Invalid("acks must be 0, 1 or -1 (all)");
  }
  if (batch_size == 0) return Invalid("batch_size must be positive");
  if (linger.count() < 0) return Invalid("linger must be >= 0");
  if (buffer_memory < batch_size) return Invalid("buffer_memory must be >= batch_size");
  if (max_block.count() < 0) return Invalid("max_block must be >= 0");
  if (retries < 0) return Invalid("retries must be >= 0");
  if (delivery_timeout < linger + request_timeout) {
    return Invalid("delivery_timeout must be >= linger + request_timeout");
  }
  if (max_in_flight < 1) return Invalid("max_in_flight must be >= 1");
  if (max_request_size < 1024) return Invalid("max_request_size must be at least 1024");
  return absl::OkStatus();
}

absl::Status ConsumerConfig::Validate() const {
  if (auto s = ClientConfig::Validate(); !s.ok()) return s;
  if (group_id.empty()) return Invalid("group_id is required");
  if (auto_commit_interval.count() <= 0) return Invalid("auto_commit_interval must be positive");
  if (session_timeout.count() <= 0) return Invalid("session_timeout must be positive");
  if (heartbeat_interval.count() <= 0 || heartbeat_interval >= session_timeout) {
    return Invalid("heartbeat_interval must be positive and below session_timeout");
  }
  if (rebalance_timeout.count() <= 0) return Invalid("rebalance_timeout must be positive");
  if (max_poll_records < 1) return Invalid("max_poll_records must be >= 1");
  if (fetch_min_bytes < 0 || fetch_max_bytes < 1 || max_partition_fetch_bytes < 1) {
    return Invalid(
        "fetch_min_bytes must be >= 0, fetch_max_bytes and max_partition_fetch_bytes >= 1");
  }
  if (fetch_max_wait.count() < 0) return Invalid("fetch_max_wait must be >= 0");
  if (assignors.empty()) return Invalid("assignors is empty");
  for (const auto& a : assignors) {
    if (a != "range" && a != "roundrobin" && a != "cooperative-sticky") {
      return Invalid(absl::StrCat("unknown assignor '", a,
                                  "' (known: range, roundrobin, cooperative-sticky)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace sluice
