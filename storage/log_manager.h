#pragma once
// LogManager: every topic and partition under one data dir. Owns the metadata RocksDB
// (data/meta/), one PartitionLog per partition (data/<topic>-<partition>/), the flusher thread
// and the retention thread.
//
// Lifecycle: Open() recovers everything (finishing or rolling back topic creations and deletions
// a crash interrupted, then recovering each partition); Close() stops the threads, syncs every
// partition and closes RocksDB cleanly. Thread-safe: any thread may call any method; topic
// changes are serialized by one mutex, partition I/O goes straight to the PartitionLog.
//
// Example:
//   LogManager::Options o;
//   o.data_dir = "./data";
//   auto lm = LogManager::Open(o);
//   (*lm)->CreateTopic("events", 3, {}).IgnoreError();
//   auto log = (*lm)->GetPartition("events", PartitionId(0));
//   auto r = (*log)->Append(batch_bytes);        // RecordBatch v2 from a producer
//   (*log)->AwaitDurable(r->last_offset, [](absl::Status s) { /* ack */ });
//   auto producer_id = (*lm)->AllocateProducerId();   // InitProducerId

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/storage_meta.pb.h"
#include "storage/disk_space.h"
#include "storage/file.h"
#include "storage/flusher.h"
#include "storage/log_config.h"
#include "storage/meta_store.h"
#include "storage/partition_log.h"
#include "storage/producer_id_allocator.h"

namespace sluice::storage {

struct TopicInfo {
  std::string name;
  uint32_t topic_id = 0;
  int32_t partition_count = 0;
  meta::TopicConfig overrides;  // what was set explicitly
  LogConfig config;             // effective
};

class LogManager {
 public:
  struct Options {
    std::string data_dir = "./data";
    LogConfig defaults;
    FileFactory* files = nullptr;          // POSIX if null
    std::function<int64_t()> now_ms;       // wall clock if null
    int64_t retention_check_interval_ms = 300000;  // log.retention.check.interval.ms
    int64_t flush_tick_ms = 10;
    int32_t max_partitions_per_topic = 10000;
    int32_t max_topics = 0;  // 0: no limit
    // Appends fail (kDiskFull) rather than leave less free space than this on the data dir's
    // file system (storage/disk_space.h); 0: no reserve.
    int64_t min_free_bytes = 0;
    // Idle idempotent producers are forgotten after this (Kafka's producer.id.expiration.ms).
    int64_t producer_id_expiration_ms = ProducerStateTable::kDefaultExpirationMs;
    MetaStore::Options meta;
  };

  static absl::StatusOr<std::unique_ptr<LogManager>> Open(Options options);
  ~LogManager();
  absl::Status Close();

  // Kafka's topic name rules: 1..249 characters of [a-zA-Z0-9._-], not "." or "..".
  static absl::Status ValidateTopicName(std::string_view name);

  // Creates the topic and its partitions. Crash-safe: the topic exists after a crash only if this
  // returned OK (a creation interrupted by a crash is rolled back on open).
  absl::Status CreateTopic(const std::string& name, int32_t partitions,
                           const meta::TopicConfig& overrides);
  // Deletes the topic, its files and index ranges. Once this returns OK the topic is gone even
  // across a crash (deletion is committed first and finished on open if interrupted).
  absl::Status DeleteTopic(const std::string& name);
  // Raises the partition count (never lowers it).
  absl::Status AddPartitions(const std::string& name, int32_t new_count);
  // The checks CreateTopic / AddPartitions make before changing anything (name, partition count,
  // existence, --max-topics), for validate-only requests.
  absl::Status ValidateCreateTopic(const std::string& name, int32_t partitions) const;
  absl::Status ValidateAddPartitions(const std::string& name, int32_t new_count) const;
  // Replaces the topic's config overrides.
  absl::Status SetTopicConfig(const std::string& name, const meta::TopicConfig& overrides);

  std::vector<TopicInfo> ListTopics() const;
  absl::StatusOr<TopicInfo> DescribeTopic(const std::string& name) const;
  absl::StatusOr<std::shared_ptr<PartitionLog>> GetPartition(const std::string& topic,
                                                             PartitionId p) const;

  // A new idempotent producer id (Kafka's InitProducerId), unique for the life of the data dir
  // across restarts and crashes. Most calls touch no disk; one in
  // ProducerIdAllocator::kDefaultBlockSize does a synced RocksDB write.
  absl::StatusOr<int64_t> AllocateProducerId();

  // Runs retention on every partition now; returns the number of segments deleted.
  absl::StatusOr<int> ApplyRetention();
  Flusher& flusher() { return *flusher_; }
  // Durable committed offsets of consumer groups (same RocksDB).
  GroupOffsetStore& group_offsets() { return *meta_; }
  const LogConfig& defaults() const { return options_.defaults; }
  const std::string& data_dir() const { return options_.data_dir; }

 private:
  absl::Status ValidateCreateTopicLocked(const std::string& name, int32_t partitions) const;
  absl::Status ValidateAddPartitionsLocked(const std::string& name, int32_t new_count) const;
  struct Topic {
    meta::TopicRecord record;
    LogConfig config;
    std::vector<std::shared_ptr<PartitionLog>> partitions;
  };

  explicit LogManager(Options options);
  absl::Status Recover();
  absl::StatusOr<std::shared_ptr<PartitionLog>> OpenPartition(const meta::TopicRecord& t,
                                                              int32_t p, const LogConfig& c);
  std::string PartitionDir(const std::string& topic, int32_t p) const;
  absl::Status RemovePartitionFiles(const meta::TopicRecord& t, int32_t from, int32_t to);
  void RetentionLoop();

  Options options_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<DiskSpace> disk_space_;  // partitions point to it, like meta_
  std::unique_ptr<ProducerIdAllocator> producer_ids_;
  std::unique_ptr<Flusher> flusher_;
  mutable std::mutex mu_;
  std::map<std::string, Topic> topics_;
  bool closed_ = false;

  std::mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool stop_retention_ = false;
  std::thread retention_thread_;
};

}  // namespace sluice::storage
