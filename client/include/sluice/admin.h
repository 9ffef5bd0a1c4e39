#pragma once
// sluice::Admin: topic and consumer-group administration over the native protocol.
//
// Every method is a blocking round trip to the broker (bounded by request_timeout), safe to call
// from any thread; requests from concurrent callers share one connection. Per-topic outcomes of
// batch calls come back as one status per topic; a failure of the call itself (broker
// unreachable, timeout) is the returned status.
//
// Example:
//   sluice::AdminConfig config;
//   config.bootstrap_servers = {"127.0.0.1:9093"};
//   auto admin = sluice::Admin::Create(config);
//   if (!admin.ok()) return admin.status();
//   absl::Status s = (*admin)->CreateTopic("orders", 6, {{"retention.ms", "86400000"}});
//   auto topics = (*admin)->DescribeTopics({"orders"});
//   auto groups = (*admin)->DescribeGroups({"billing"});
//   for (const auto& p : (*groups)[0].offsets) { /* p.partition, p.committed_offset, p.lag */ }

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sluice/client_config.h"
#include "sluice/types.h"

namespace sluice {

struct NewTopic {
  std::string name;
  int32_t partitions = -1;                     // <= 0: the broker's default
  std::map<std::string, std::string> configs;  // Kafka topic config names (retention.ms, ...)
};

struct PartitionDescription {
  int32_t partition = 0;
  int32_t leader = -1;
  int64_t log_start_offset = 0;
  int64_t high_watermark = 0;
};

struct TopicDescription {
  std::string name;
  std::vector<PartitionDescription> partitions;  // by partition number
};

struct TopicConfig {
  std::string name;
  std::map<std::string, std::string> configs;  // effective values
  std::set<std::string> overridden;            // set explicitly on the topic
};

struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  std::string state;
};

struct MemberDescription {
  std::string member_id;
  std::string client_id;
  std::string client_host;
  std::vector<std::string> subscribed_topics;  // decoded for protocol type "consumer"
  std::vector<TopicPartition> assignment;      // decoded for protocol type "consumer"
};

struct PartitionLag {
  TopicPartition partition;
  int64_t committed_offset = -1;
  int64_t high_watermark = -1;
  int64_t lag = 0;  // high_watermark - committed_offset, at least 0
};

struct GroupDescription {
  std::string group_id;
  std::string state;  // Empty, PreparingRebalance, CompletingRebalance, Stable, Dead
  std::string protocol_type;
  std::string protocol;  // the assignor in use
  int32_t generation = -1;
  std::vector<MemberDescription> members;
  std::vector<PartitionLag> offsets;
};

class Admin {
 public:
  static absl::StatusOr<std::unique_ptr<Admin>> Create(AdminConfig config);
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // One topic; AlreadyExists, InvalidArgument, ... as the broker decides.
  absl::Status CreateTopic(const std::string& name, int32_t partitions,
                           std::map<std::string, std::string> configs = {});
  // Several topics: the outcome of each, by name. `validate_only` checks without creating.
  absl::StatusOr<std::map<std::string, absl::Status>> CreateTopics(
      const std::vector<NewTopic>& topics, bool validate_only = false);
  absl::Status DeleteTopic(const std::string& name);
  absl::StatusOr<std::map<std::string, absl::Status>> DeleteTopics(
      const std::vector<std::string>& names);
  // Every topic name, sorted.
  absl::StatusOr<std::vector<std::string>> ListTopics();
  // Partitions with leader, log start offset and high watermark. NotFound if a topic is unknown.
  absl::StatusOr<std::vector<TopicDescription>> DescribeTopics(
      const std::vector<std::string>& names);
  absl::StatusOr<TopicConfig> DescribeConfigs(const std::string& topic);
  absl::StatusOr<std::vector<GroupListing>> ListGroups();
  // Members (with decoded subscriptions and assignments) and committed offsets with lag.
  // NotFound if a group is unknown.
  absl::StatusOr<std::vector<GroupDescription>> DescribeGroups(
      const std::vector<std::string>& group_ids);

  // Closes the connection and stops the io thread. Idempotent.
  void Close();

 private:
  class Impl;
  explicit Admin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
