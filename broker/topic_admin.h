#pragma once
// TopicAdmin: creates and deletes topics, including auto-creation on Metadata and Produce.
//
// Topic changes block (synced RocksDB writes, directory fsyncs), so they run on one admin thread
// owned here rather than on an io thread; callers co_await them and resume on their own executor.
// One thread also serializes concurrent creations of the same name (the second sees
// TopicExists, which auto-creation treats as success). Lifecycle: constructed after the
// LogManager opens, Stop() (joins the thread) before it closes. Thread-safe.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio/awaitable.hpp"
#include "asio/thread_pool.hpp"
#include "broker/config.h"
#include "storage/log_manager.h"

namespace sluice::broker {

class TopicAdmin {
 public:
  TopicAdmin(storage::LogManager& logs, const BrokerConfig& config);
  ~TopicAdmin();

  // Creates `name` (partitions <= 0: --num-partitions). With `validate_only` checks everything
  // (name, partition count, existence) and creates nothing.
  asio::awaitable<absl::Status> Create(std::string name, int32_t partitions,
                                       storage::meta::TopicConfig overrides, bool validate_only);
  asio::awaitable<absl::Status> Delete(std::string name);
  // Grows `name` to `new_count` partitions (Kafka's CreatePartitions: the new total, never fewer
  // than now). With `validate_only` checks and changes nothing.
  asio::awaitable<absl::Status> AddPartitions(std::string name, int32_t new_count,
                                              bool validate_only);
  // Creates `name` with the broker defaults if it does not exist. OK if the topic exists
  // afterwards (a concurrent creation counts as success); otherwise the creation's error.
  asio::awaitable<absl::Status> AutoCreate(std::string name);
  // The partition, auto-creating its topic first when `auto_create` and --auto-create-topics.
  asio::awaitable<absl::StatusOr<std::shared_ptr<storage::PartitionLog>>> Partition(
      const std::string& topic, int32_t partition, bool auto_create);

  void Stop();

 private:
  // Run on the admin thread. Spawned as awaitables whose parameters own their arguments: a
  // capturing lambda inside the co_await expression would be destroyed twice by GCC 12 (see
  // broker/README.md).
  asio::awaitable<absl::Status> RunCreate(std::string name, int32_t partitions,
                                          storage::meta::TopicConfig overrides);
  asio::awaitable<absl::Status> RunDelete(std::string name);
  asio::awaitable<absl::Status> RunAddPartitions(std::string name, int32_t new_count);

  storage::LogManager& logs_;
  const BrokerConfig& config_;
  asio::thread_pool pool_{1};
};

}  // namespace sluice::broker
