#pragma once
// MetadataCache: what a client knows of the cluster: topics, their partitions and leaders, and
// the brokers' addresses, as of the last Metadata response. Owned by one client component on its
// io thread; updated from responses, read when routing requests.
//
// Example:
//   cache.Update(response.header.metadata(), Clock::now());
//   if (const TopicInfo* t = cache.Find("orders"); t && t->error.ok()) {
//     std::string address = cache.BrokerAddress(t->partitions[0].leader);
//   }

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "asio.hpp"
#include "client/src/connection.h"
#include "proto/native.pb.h"

namespace sluice::client {

struct PartitionInfo {
  int32_t partition = 0;
  int32_t leader = -1;
  int64_t log_start_offset = 0;
  int64_t high_watermark = 0;
};

struct TopicInfo {
  absl::Status error;                     // from the broker, mapped
  std::vector<PartitionInfo> partitions;  // indexed by partition number
};

class MetadataCache {
 public:
  // Replaces what the response covers; topics it does not mention are kept.
  void Update(const native::MetadataResponse& response, Clock::time_point now);
  // Forgets a topic (e.g. after the broker said it does not exist).
  void Forget(const std::string& topic) { topics_.erase(topic); }

  const TopicInfo* Find(std::string_view topic) const;
  // Partitions of a topic known without error; 0 otherwise.
  int32_t PartitionCount(std::string_view topic) const;
  // "host:port" of a broker, "" if unknown.
  std::string BrokerAddress(int32_t node_id) const;
  std::vector<std::string> Topics() const;
  Clock::time_point last_update() const { return last_update_; }

 private:
  std::map<std::string, TopicInfo, std::less<>> topics_;
  std::map<int32_t, std::string> brokers_;
  Clock::time_point last_update_{};
};

// A Metadata request for `topics` (empty: every topic).
native::RequestHeader MetadataRequest(const std::vector<std::string>& topics,
                                      bool allow_auto_create);

// Sends a Metadata request and returns its body, or the error (request level).
asio::awaitable<absl::StatusOr<native::MetadataResponse>> FetchMetadata(
    Connection& connection, std::vector<std::string> topics, bool allow_auto_create,
    std::chrono::milliseconds timeout);

}  // namespace sluice::client
