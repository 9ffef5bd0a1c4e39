#include "broker/topic_admin.h"

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "asio/use_awaitable.hpp"
#include "spdlog/spdlog.h"
#include "storage/errors.h"

namespace sluice::broker {

using storage::StorageErrc;

TopicAdmin::TopicAdmin(storage::LogManager& logs, const BrokerConfig& config)
    : logs_(logs), config_(config) {}

TopicAdmin::~TopicAdmin() { Stop(); }

void TopicAdmin::Stop() { pool_.join(); }

asio::awaitable<absl::Status> TopicAdmin::Create(std::string name, int32_t partitions,
                                                 storage::meta::TopicConfig overrides,
                                                 bool validate_only) {
  if (partitions <= 0) partitions = config_.num_partitions;
  if (validate_only) co_return logs_.ValidateCreateTopic(name, partitions);
  co_return co_await asio::co_spawn(pool_.get_executor(),
                                    RunCreate(std::move(name), partitions, std::move(overrides)),
                                    asio::use_awaitable);
}

asio::awaitable<absl::Status> TopicAdmin::Delete(std::string name) {
  co_return co_await asio::co_spawn(pool_.get_executor(), RunDelete(std::move(name)),
                                    asio::use_awaitable);
}

asio::awaitable<absl::Status> TopicAdmin::AddPartitions(std::string name, int32_t new_count,
                                                        bool validate_only) {
  if (validate_only) co_return logs_.ValidateAddPartitions(name, new_count);
  co_return co_await asio::co_spawn(pool_.get_executor(),
                                    RunAddPartitions(std::move(name), new_count),
                                    asio::use_awaitable);
}

asio::awaitable<absl::Status> TopicAdmin::RunAddPartitions(std::string name, int32_t new_count) {
  co_return logs_.AddPartitions(name, new_count);
}

asio::awaitable<absl::Status> TopicAdmin::RunCreate(std::string name, int32_t partitions,
                                                    storage::meta::TopicConfig overrides) {
  absl::Status s = logs_.CreateTopic(name, partitions, overrides);  // logs a success itself
  if (!s.ok() && storage::StorageErrcOf(s) != StorageErrc::kTopicExists) {
    spdlog::warn("create topic '{}' refused: {}", name, std::string(s.message()));
  }
  co_return s;
}

asio::awaitable<absl::Status> TopicAdmin::RunDelete(std::string name) {
  absl::Status s = logs_.DeleteTopic(name);  // logs a success itself
  if (!s.ok()) {
    spdlog::warn("delete topic '{}' failed: {}", name, std::string(s.message()));
  }
  co_return s;
}

asio::awaitable<absl::Status> TopicAdmin::AutoCreate(std::string name) {
  if (logs_.DescribeTopic(name).ok()) co_return absl::OkStatus();
  absl::Status s = co_await Create(name, config_.num_partitions, {}, false);
  if (storage::StorageErrcOf(s) == StorageErrc::kTopicExists) co_return absl::OkStatus();
  co_return s;
}

asio::awaitable<absl::StatusOr<std::shared_ptr<storage::PartitionLog>>> TopicAdmin::Partition(
    const std::string& topic, int32_t partition, bool auto_create) {
  auto log = logs_.GetPartition(topic, PartitionId(partition));
  if (log.ok() || !auto_create || !config_.auto_create_topics) co_return log;
  if (logs_.DescribeTopic(topic).ok()) co_return log;  // the topic exists; the partition does not
  absl::Status s = co_await AutoCreate(topic);
  if (!s.ok()) co_return s;
  co_return logs_.GetPartition(topic, PartitionId(partition));
}

}  // namespace sluice::broker
