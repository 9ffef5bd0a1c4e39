#include "storage/log_manager.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"
#include "storage/errors.h"
#include "storage/status_macros.h"

namespace sluice::storage {
namespace fs = std::filesystem;

namespace {
int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status UnknownTopic(const std::string& name) {
  return StorageError(StorageErrc::kUnknownTopic, absl::StrCat("unknown topic '", name, "'"));
}
}  // namespace

LogManager::LogManager(Options options) : options_(std::move(options)) {
  if (!options_.files) options_.files = FileFactory::Posix();
  if (!options_.now_ms) options_.now_ms = WallClockMs;
}

absl::StatusOr<std::unique_ptr<LogManager>> LogManager::Open(Options options) {
  std::unique_ptr<LogManager> lm(new LogManager(std::move(options)));
  std::error_code ec;
  fs::create_directories(lm->options_.data_dir, ec);
  if (ec) return ErrnoError(ec.value(), absl::StrCat("create ", lm->options_.data_dir));
  ASSIGN_OR_RETURN(lm->meta_, MetaStore::Open(lm->options_.data_dir + "/meta", lm->options_.meta));
  lm->producer_ids_ = std::make_unique<ProducerIdAllocator>(lm->meta_.get());
  lm->disk_space_ =
      std::make_unique<DiskSpace>(lm->options_.data_dir, lm->options_.min_free_bytes);
  lm->flusher_ = std::make_unique<Flusher>(lm->options_.now_ms, lm->options_.flush_tick_ms);
  RETURN_IF_ERROR(lm->Recover());
  lm->retention_thread_ = std::thread([p = lm.get()] { p->RetentionLoop(); });
  return lm;
}

LogManager::~LogManager() {
  absl::Status s = Close();
  if (!s.ok()) spdlog::error("log manager close: {}", s.ToString());
}

absl::Status LogManager::Close() {
  {
    std::lock_guard l(mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
  }
  {
    std::lock_guard l(retention_mu_);
    stop_retention_ = true;
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
  if (flusher_) flusher_->Stop();
  absl::Status result;
  std::lock_guard l(mu_);
  for (auto& [name, t] : topics_) {
    for (auto& p : t.partitions) {
      absl::Status s = p->Close();
      if (!s.ok() && result.ok()) result = s;
    }
  }
  topics_.clear();
  if (meta_) {
    absl::Status s = meta_->Close();
    if (!s.ok() && result.ok()) result = s;
  }
  return result;
}

absl::Status LogManager::ValidateTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249) {
    return StorageError(StorageErrc::kInvalidTopic,
                        absl::StrCat("topic name must be 1 to 249 characters, got ", name.size()));
  }
  if (name == "." || name == "..") {
    return StorageError(StorageErrc::kInvalidTopic, "topic name cannot be '.' or '..'");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return StorageError(StorageErrc::kInvalidTopic,
                          absl::StrCat("topic name '", std::string(name),
                                       "' has a character outside [a-zA-Z0-9._-]"));
    }
  }
  return absl::OkStatus();
}

std::string LogManager::PartitionDir(const std::string& topic, int32_t p) const {
  return absl::StrCat(options_.data_dir, "/", topic, "-", p);
}

absl::StatusOr<std::shared_ptr<PartitionLog>> LogManager::OpenPartition(const meta::TopicRecord& t,
                                                                        int32_t p,
                                                                        const LogConfig& c) {
  PartitionLog::Options o;
  o.dir = PartitionDir(t.name(), p);
  o.key = PartitionKey{t.topic_id(), PartitionId(p)};
  o.meta = meta_.get();
  o.files = options_.files;
  o.config = c;
  o.now_ms = options_.now_ms;
  o.producer_id_expiration_ms = options_.producer_id_expiration_ms;
  o.disk_space = disk_space_.get();
  Flusher* f = flusher_.get();
  o.request_flush = [f] { f->Request(); };
  ASSIGN_OR_RETURN(auto log, PartitionLog::Open(std::move(o)));
  flusher_->Add(log);
  return log;
}

absl::Status LogManager::RemovePartitionFiles(const meta::TopicRecord& t, int32_t from, int32_t to) {
  for (int32_t p = from; p < to; ++p) {
    std::error_code ec;
    fs::remove_all(PartitionDir(t.name(), p), ec);
    if (ec) return ErrnoError(ec.value(), absl::StrCat("remove ", PartitionDir(t.name(), p)));
    RETURN_IF_ERROR(meta_->DeletePartition(PartitionKey{t.topic_id(), PartitionId(p)}));
  }
  return SyncDir(options_.data_dir);
}

absl::Status LogManager::Recover() {
  ASSIGN_OR_RETURN(std::vector<meta::TopicRecord> records, meta_->ListTopics());
  for (auto& t : records) {
    switch (t.state()) {
      case meta::TopicRecord::CREATING:
        spdlog::warn("topic '{}': rolling back a creation interrupted by a crash", t.name());
        RETURN_IF_ERROR(RemovePartitionFiles(t, 0, t.partition_count()));
        RETURN_IF_ERROR(meta_->DeleteTopic(t.name()));
        continue;
      case meta::TopicRecord::DELETING:
        spdlog::warn("topic '{}': finishing a deletion interrupted by a crash", t.name());
        RETURN_IF_ERROR(RemovePartitionFiles(t, 0, t.partition_count()));
        RETURN_IF_ERROR(meta_->DeleteTopicOffsets(t.name()));
        RETURN_IF_ERROR(meta_->DeleteTopic(t.name()));
        continue;
      default:
        break;
    }
    Topic topic;
    topic.config = options_.defaults.With(t.config());
    for (int32_t p = 0; p < t.partition_count(); ++p) {
      ASSIGN_OR_RETURN(auto log, OpenPartition(t, p, topic.config));
      const RecoveryReport& r = log->recovery_report();
      if (r.bytes_truncated || r.index_entries_rebuilt) {
        spdlog::info("{}-{}: recovered: scanned {} batches ({} bytes), cut {} bytes", t.name(), p,
                     r.batches_scanned, r.bytes_scanned, r.bytes_truncated);
      }
      topic.partitions.push_back(std::move(log));
    }
    topic.record = t;
    std::string name = t.name();
    topics_.emplace(std::move(name), std::move(topic));
  }
  return absl::OkStatus();
}

absl::Status LogManager::ValidateCreateTopic(const std::string& name, int32_t partitions) const {
  std::lock_guard l(mu_);
  return ValidateCreateTopicLocked(name, partitions);
}

absl::Status LogManager::ValidateCreateTopicLocked(const std::string& name,
                                                   int32_t partitions) const {
  RETURN_IF_ERROR(ValidateTopicName(name));
  if (partitions < 1 || partitions > options_.max_partitions_per_topic) {
    return StorageError(StorageErrc::kInvalidPartitions,
                        absl::StrCat("partition count ", partitions, " is outside [1, ",
                                     options_.max_partitions_per_topic,
                                     "] (--max-partitions-per-topic)"));
  }
  if (closed_) return StorageError(StorageErrc::kShuttingDown, "log manager closed");
  if (topics_.contains(name)) {
    return StorageError(StorageErrc::kTopicExists, absl::StrCat("topic '", name, "' already exists"));
  }
  if (options_.max_topics > 0 && topics_.size() >= static_cast<size_t>(options_.max_topics)) {
    return StorageError(StorageErrc::kLimitExceeded,
                        absl::StrCat("the broker holds its limit of ", options_.max_topics,
                                     " topics (--max-topics); delete one or raise the limit"));
  }
  return absl::OkStatus();
}

absl::Status LogManager::CreateTopic(const std::string& name, int32_t partitions,
                                     const meta::TopicConfig& overrides) {
  std::lock_guard l(mu_);
  RETURN_IF_ERROR(ValidateCreateTopicLocked(name, partitions));
  ASSIGN_OR_RETURN(uint32_t id, meta_->AllocateTopicId());
  meta::TopicRecord t;
  t.set_name(name);
  t.set_topic_id(id);
  t.set_partition_count(partitions);
  t.set_state(meta::TopicRecord::CREATING);
  *t.mutable_config() = overrides;
  t.set_created_ms(options_.now_ms());
  // Commit protocol: CREATING (synced) -> directories and segments (synced) -> LIVE (synced).
  RETURN_IF_ERROR(meta_->PutTopic(t));
  // Leftovers of an older topic with this name (its record is gone) must not be adopted.
  RETURN_IF_ERROR(RemovePartitionFiles(t, 0, partitions));
  Topic topic;
  topic.config = options_.defaults.With(overrides);
  absl::Status s;
  for (int32_t p = 0; p < partitions && s.ok(); ++p) {
    auto log = OpenPartition(t, p, topic.config);
    if (log.ok()) {
      topic.partitions.push_back(*std::move(log));
    } else {
      s = log.status();
    }
  }
  if (s.ok()) s = SyncDir(options_.data_dir);
  if (s.ok()) {
    t.set_state(meta::TopicRecord::LIVE);
    s = meta_->PutTopic(t);
  }
  if (!s.ok()) {
    topic.partitions.clear();
    absl::Status undo = RemovePartitionFiles(t, 0, partitions);
    if (undo.ok()) undo = meta_->DeleteTopic(name);
    if (!undo.ok()) spdlog::error("topic '{}': undoing a failed create: {}", name, undo.ToString());
    return s;
  }
  topic.record = t;
  topics_.emplace(name, std::move(topic));
  spdlog::info("created topic '{}' with {} partitions (id {})", name, partitions, id);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> LogManager::AllocateProducerId() {
  // Under mu_ so Close() cannot close the MetaStore underneath a block reservation.
  std::lock_guard l(mu_);
  if (closed_) return StorageError(StorageErrc::kShuttingDown, "log manager closed");
  return producer_ids_->Allocate();
}

absl::Status LogManager::DeleteTopic(const std::string& name) {
  std::unique_lock l(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return UnknownTopic(name);
  meta::TopicRecord t = it->second.record;
  t.set_state(meta::TopicRecord::DELETING);
  RETURN_IF_ERROR(meta_->PutTopic(t));  // the commit point
  std::vector<std::shared_ptr<PartitionLog>> logs = std::move(it->second.partitions);
  topics_.erase(it);
  for (auto& log : logs) log->Close().IgnoreError();  // files are about to go anyway
  logs.clear();
  RETURN_IF_ERROR(RemovePartitionFiles(t, 0, t.partition_count()));
  RETURN_IF_ERROR(meta_->DeleteTopicOffsets(name));
  RETURN_IF_ERROR(meta_->DeleteTopic(name));
  spdlog::info("deleted topic '{}'", name);
  return absl::OkStatus();
}

absl::Status LogManager::ValidateAddPartitions(const std::string& name, int32_t new_count) const {
  std::lock_guard l(mu_);
  return ValidateAddPartitionsLocked(name, new_count);
}

absl::Status LogManager::ValidateAddPartitionsLocked(const std::string& name,
                                                     int32_t new_count) const {
  auto it = topics_.find(name);
  if (it == topics_.end()) return UnknownTopic(name);
  int32_t old_count = it->second.record.partition_count();
  if (new_count <= old_count || new_count > options_.max_partitions_per_topic) {
    return StorageError(StorageErrc::kInvalidPartitions,
                        absl::StrCat("topic '", name, "' has ", old_count,
                                     " partitions; the new count must be above that and at most ",
                                     options_.max_partitions_per_topic,
                                     " (--max-partitions-per-topic)"));
  }
  return absl::OkStatus();
}

absl::Status LogManager::AddPartitions(const std::string& name, int32_t new_count) {
  std::lock_guard l(mu_);
  RETURN_IF_ERROR(ValidateAddPartitionsLocked(name, new_count));
  Topic& topic = topics_.find(name)->second;
  int32_t old_count = topic.record.partition_count();
  // New partitions are opened first (empty); the record is the commit point. A crash before it
  // leaves empty directories that the next AddPartitions or CreateTopic clears.
  meta::TopicRecord t = topic.record;
  RETURN_IF_ERROR(RemovePartitionFiles(t, old_count, new_count));
  std::vector<std::shared_ptr<PartitionLog>> added;
  for (int32_t p = old_count; p < new_count; ++p) {
    ASSIGN_OR_RETURN(auto log, OpenPartition(t, p, topic.config));
    added.push_back(std::move(log));
  }
  RETURN_IF_ERROR(SyncDir(options_.data_dir));
  t.set_partition_count(new_count);
  RETURN_IF_ERROR(meta_->PutTopic(t));
  topic.record = t;
  for (auto& a : added) topic.partitions.push_back(std::move(a));
  return absl::OkStatus();
}

absl::Status LogManager::SetTopicConfig(const std::string& name, const meta::TopicConfig& overrides) {
  std::lock_guard l(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return UnknownTopic(name);
  meta::TopicRecord t = it->second.record;
  *t.mutable_config() = overrides;
  RETURN_IF_ERROR(meta_->PutTopic(t));
  it->second.record = t;
  it->second.config = options_.defaults.With(overrides);
  for (auto& p : it->second.partitions) p->UpdateConfig(it->second.config);
  return absl::OkStatus();
}

std::vector<TopicInfo> LogManager::ListTopics() const {
  std::lock_guard l(mu_);
  std::vector<TopicInfo> out;
  for (const auto& [name, t] : topics_) {
    out.push_back(TopicInfo{name, t.record.topic_id(), t.record.partition_count(), t.record.config(),
                            t.config});
  }
  return out;
}

absl::StatusOr<TopicInfo> LogManager::DescribeTopic(const std::string& name) const {
  std::lock_guard l(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return UnknownTopic(name);
  const Topic& t = it->second;
  return TopicInfo{name, t.record.topic_id(), t.record.partition_count(), t.record.config(),
                   t.config};
}

absl::StatusOr<std::shared_ptr<PartitionLog>> LogManager::GetPartition(const std::string& topic,
                                                                       PartitionId p) const {
  std::lock_guard l(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) return UnknownTopic(topic);
  const auto& parts = it->second.partitions;
  if (p.value() < 0 || static_cast<size_t>(p.value()) >= parts.size()) {
    return StorageError(StorageErrc::kUnknownTopic,
                        absl::StrCat("topic '", topic, "' has no partition ", p.value()));
  }
  return parts[static_cast<size_t>(p.value())];
}

absl::StatusOr<int> LogManager::ApplyRetention() {
  std::vector<std::shared_ptr<PartitionLog>> logs;
  {
    std::lock_guard l(mu_);
    for (auto& [name, t] : topics_) logs.insert(logs.end(), t.partitions.begin(), t.partitions.end());
  }
  int total = 0;
  absl::Status first_error;
  for (auto& log : logs) {
    auto n = log->ApplyRetention();
    if (n.ok()) {
      total += *n;
    } else if (first_error.ok()) {
      first_error = n.status();
    }
  }
  if (!first_error.ok()) return first_error;
  return total;
}

void LogManager::RetentionLoop() {
  // Wakes at least every second to re-read the free disk space (space freed or used by others);
  // retention runs every retention_check_interval_ms.
  const int64_t interval = options_.retention_check_interval_ms;
  const int64_t wake = std::min<int64_t>(interval, 1000);
  int64_t next_retention = options_.now_ms() + interval;
  std::unique_lock l(retention_mu_);
  while (!stop_retention_) {
    retention_cv_.wait_for(l, std::chrono::milliseconds(wake), [&] { return stop_retention_; });
    if (stop_retention_) break;
    l.unlock();
    disk_space_->Refresh();
    if (options_.now_ms() >= next_retention) {
      auto n = ApplyRetention();
      if (!n.ok()) spdlog::error("retention: {}", n.status().ToString());
      next_retention = options_.now_ms() + interval;
    }
    l.lock();
  }
}

}  // namespace sluice::storage
