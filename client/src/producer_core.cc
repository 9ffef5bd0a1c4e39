#include "client/src/producer_core.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/src/errors.h"
#include "client/src/time_util.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"

namespace sluice::client {
namespace {

// Upper bound on the timer so that delivery and metadata deadlines are noticed while the sender
// has nothing else to do.
constexpr std::chrono::milliseconds kMaxPumpInterval{100};

std::vector<storage::RecordBatchBuilder::Header> BatchHeaders(const Record& r) {
  std::vector<storage::RecordBatchBuilder::Header> out;
  out.reserve(r.headers.size());
  for (const Header& h : r.headers) {
    out.push_back({h.key, h.value ? std::optional<std::string_view>(*h.value) : std::nullopt});
  }
  return out;
}

std::optional<std::string_view> View(const std::optional<std::string>& s) {
  return s ? std::optional<std::string_view>(*s) : std::nullopt;
}

}  // namespace

ProducerCore::ProducerCore(asio::any_io_executor executor, ProducerConfig config,
                           std::shared_ptr<BufferPool> pool)
    : executor_(executor),
      config_(std::move(config)),
      pool_(std::move(pool)),
      connections_(executor, config_.bootstrap_servers, ConnectionOptions::From(config_)),
      sticky_(config_.partitioner_seed),
      accumulator_({.batch_size = config_.batch_size,
                    .linger = config_.linger,
                    .delivery_timeout = config_.delivery_timeout}),
      timer_(executor) {}

void ProducerCore::Enqueue(Record record, RecordCompletion completion, size_t reserved) {
  completion.sequence = next_sequence_++;
  incomplete_.insert(completion.sequence);
  AwaitingMetadata item{std::move(record), std::move(completion), reserved,
                        DeadlineAfter(config_.max_block)};
  if (shut_down_) {
    pool_->Release(item.reserved);
    CompleteRecord(item.completion, absl::CancelledError("the producer is closed"));
    CheckFlushWaiters();
    return;
  }
  Route(std::move(item));
}

void ProducerCore::Route(AwaitingMetadata item) {
  const std::string topic = item.record.topic;
  const int32_t n = metadata_.PartitionCount(topic);
  if (n == 0) {
    awaiting_[topic].push_back(std::move(item));
    WantMetadata(topic);
    return;
  }
  int32_t partition;
  if (item.record.partition) {
    partition = *item.record.partition;
    if (partition < 0 || partition >= n) {
      pool_->Release(item.reserved);
      CompleteRecord(item.completion, absl::InvalidArgumentError(absl::StrCat(
                                          "partition ", partition, " of topic '", topic,
                                          "' does not exist (", n, " partitions)")));
      CheckFlushWaiters();
      return;
    }
  } else if (item.record.key) {
    partition = KeyPartition(*item.record.key, n);
  } else {
    partition = sticky_.Partition(topic, n);
    if (accumulator_.WouldCloseBatch({topic, partition}, item.reserved)) {
      sticky_.OnBatchDone(topic, partition, n);
      partition = sticky_.Partition(topic, n);
    }
  }
  const TopicPartition tp{topic, partition};
  const auto headers = BatchHeaders(item.record);
  accumulator_.Append(tp, View(item.record.key), View(item.record.value), headers,
                      std::move(item.completion), item.reserved, Clock::now());
  SchedulePump();
}

void ProducerCore::Flush(std::function<void()> done) {
  flush_waiters_.emplace_back(next_sequence_ - 1, std::move(done));
  CheckFlushWaiters();
  SchedulePump();
}

asio::awaitable<absl::StatusOr<int32_t>> ProducerCore::PartitionCount(std::string topic) {
  auto self = shared_from_this();
  if (int32_t n = metadata_.PartitionCount(topic); n > 0) co_return n;
  auto connection = connections_.Bootstrap();
  std::vector<std::string> topics;
  topics.push_back(topic);
  auto r = co_await FetchMetadata(*connection, std::move(topics), config_.allow_auto_create_topics,
                                  config_.request_timeout);
  if (!r.ok()) co_return r.status();
  metadata_.Update(*r, Clock::now());
  const TopicInfo* t = metadata_.Find(topic);
  if (t == nullptr) {
    co_return absl::NotFoundError(
        absl::StrCat("the broker returned no metadata for '", topic, "'"));
  }
  if (!t->error.ok()) co_return t->error;
  co_return static_cast<int32_t>(t->partitions.size());
}

void ProducerCore::Shutdown(absl::Status why) {
  if (shut_down_) return;
  shut_down_ = true;
  timer_.cancel();
  for (auto& [topic, q] : awaiting_) {
    for (auto& item : q) {
      pool_->Release(item.reserved);
      CompleteRecord(item.completion, why);
    }
  }
  awaiting_.clear();
  for (auto& b : accumulator_.TakeAll()) CompleteBatch(*b, why, -1);
  // In-flight requests fail with Cancelled as the connections close; OnResponse then fails
  // their batches since shut_down_ forbids retries.
  connections_.CloseAll();
  CheckFlushWaiters();
}

void ProducerCore::SchedulePump() {
  if (pump_posted_ || shut_down_) return;
  pump_posted_ = true;
  asio::post(executor_, [self = shared_from_this()] { self->Pump(); });
}

void ProducerCore::ArmTimer(Clock::time_point when) {
  if (timer_armed_ && when >= timer_at_) return;
  timer_armed_ = true;
  timer_at_ = when;
  timer_.expires_at(when);
  timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec) return;  // re-armed or shut down
    self->timer_armed_ = false;
    self->Pump();
  });
}

void ProducerCore::Pump() {
  pump_posted_ = false;
  if (shut_down_) return;
  const Clock::time_point now = Clock::now();
  ExpireAwaiting(now);
  for (auto& b : accumulator_.Expire(now)) {
    CompleteBatch(
        *b,
        absl::DeadlineExceededError(absl::StrCat(
            "delivery_timeout (", config_.delivery_timeout.count(), " ms) expired for ",
            b->records.size(), " records of ", b->tp.ToString(), " before they were sent")),
        -1);
  }
  MaybeFetchMetadata(now);

  const auto ready = accumulator_.Ready(now, flushing());
  std::map<Connection*, std::pair<std::shared_ptr<Connection>, BatchList>> building;
  std::map<Connection*, size_t> building_bytes;
  const size_t n = ready.ready.size();
  for (size_t i = 0; i < n; ++i) {
    const TopicPartition& tp = ready.ready[(drain_start_ + i) % n];
    const TopicInfo* info = metadata_.Find(tp.topic);
    if (info == nullptr || !info->error.ok() ||
        static_cast<size_t>(tp.partition) >= info->partitions.size()) {
      WantMetadata(tp.topic);
      continue;
    }
    const int32_t leader = info->partitions[tp.partition].leader;
    auto connection = connections_.Get(metadata_.BrokerAddress(leader));
    Connection* key = connection.get();
    if (in_flight_[key] >= config_.max_in_flight) continue;
    auto batch = accumulator_.Pop(tp);
    const size_t size = batch->Encode().size();
    auto& slot = building[key];
    if (!slot.second.empty() && building_bytes[key] + size > config_.max_request_size) {
      SendRequest(connection, std::move(slot.second));
      slot.second.clear();
      building_bytes[key] = 0;
      if (in_flight_[key] >= config_.max_in_flight) {
        accumulator_.Reenqueue(std::move(batch));
        continue;
      }
    }
    // The batch is on its way: keyless records move on to another partition.
    sticky_.OnBatchDone(tp.topic, tp.partition, static_cast<int32_t>(info->partitions.size()));
    slot.first = connection;
    building_bytes[key] += size;
    slot.second.push_back(std::move(batch));
  }
  if (n > 0) drain_start_ = (drain_start_ + 1) % n;
  bool sent = false;
  for (auto& [key, slot] : building) {
    if (slot.second.empty()) continue;
    SendRequest(slot.first, std::move(slot.second));
    sent = true;
  }
  // One pass drains one batch per partition; go again while that makes progress.
  if (sent && !accumulator_.empty()) SchedulePump();

  Clock::time_point next = now + kMaxPumpInterval;
  if (ready.next_check && *ready.next_check < next) next = *ready.next_check;
  if (!accumulator_.empty() || !awaiting_.empty()) ArmTimer(next);
}

void ProducerCore::ExpireAwaiting(Clock::time_point now) {
  for (auto it = awaiting_.begin(); it != awaiting_.end();) {
    auto& q = it->second;
    while (!q.empty() && q.front().deadline <= now) {
      AwaitingMetadata item = std::move(q.front());
      q.pop_front();
      pool_->Release(item.reserved);
      const absl::Status& last = metadata_errors_[it->first];
      CompleteRecord(
          item.completion,
          absl::Status(last.ok() ? absl::StatusCode::kDeadlineExceeded : last.code(),
                       absl::StrCat("topic '", it->first, "' not present in metadata after ",
                                    config_.max_block.count(), " ms", last.ok() ? "" : ": ",
                                    last.message())));
    }
    it = q.empty() ? awaiting_.erase(it) : std::next(it);
  }
  CheckFlushWaiters();
}

void ProducerCore::WantMetadata(const std::string& topic) {
  metadata_wanted_.insert(topic);
  SchedulePump();
}

void ProducerCore::MaybeFetchMetadata(Clock::time_point now) {
  if (metadata_in_flight_ || now < metadata_retry_at_) return;
  if (metadata_wanted_.empty() && now - metadata_.last_update() >= config_.metadata_max_age) {
    for (auto& t : metadata_.Topics()) metadata_wanted_.insert(t);
  }
  if (metadata_wanted_.empty()) return;
  std::vector<std::string> topics(metadata_wanted_.begin(), metadata_wanted_.end());
  metadata_wanted_.clear();
  metadata_in_flight_ = true;
  asio::co_spawn(executor_, FetchMetadataNow(std::move(topics)), asio::detached);
}

asio::awaitable<void> ProducerCore::FetchMetadataNow(std::vector<std::string> topics) {
  auto self = shared_from_this();
  auto connection = connections_.Bootstrap();
  auto r = co_await FetchMetadata(*connection, topics, config_.allow_auto_create_topics,
                                  config_.request_timeout);
  metadata_in_flight_ = false;
  if (shut_down_) co_return;
  const Clock::time_point now = Clock::now();
  if (!r.ok()) {
    for (const auto& t : topics) {
      metadata_errors_[t] = r.status();
      metadata_wanted_.insert(t);
    }
    metadata_retry_at_ = now + config_.retry_backoff;
    SchedulePump();
    co_return;
  }
  metadata_.Update(*r, now);
  for (const auto& t : topics) {
    const TopicInfo* info = metadata_.Find(t);
    auto it = awaiting_.find(t);
    if (info != nullptr && info->error.ok() && !info->partitions.empty()) {
      metadata_errors_.erase(t);
      if (it == awaiting_.end()) continue;
      std::deque<AwaitingMetadata> items = std::move(it->second);
      awaiting_.erase(it);
      for (auto& item : items) Route(std::move(item));
      continue;
    }
    const absl::Status error =
        info == nullptr
            ? absl::NotFoundError(absl::StrCat("no metadata for topic '", t, "'"))
            : (info->error.ok()
                   ? absl::NotFoundError(absl::StrCat("topic '", t, "' has no partitions"))
                   : info->error);
    metadata_errors_[t] = error;
    if (IsRetriable(error) || error.code() == absl::StatusCode::kNotFound) {
      metadata_wanted_.insert(t);  // it may still be created
      metadata_retry_at_ = now + config_.retry_backoff;
    } else if (it != awaiting_.end()) {
      for (auto& item : it->second) {
        pool_->Release(item.reserved);
        CompleteRecord(item.completion, error);
      }
      awaiting_.erase(it);
    }
  }
  CheckFlushWaiters();
  SchedulePump();
}

void ProducerCore::SendRequest(const std::shared_ptr<Connection>& connection, BatchList batches) {
  native::RequestHeader header;
  auto* produce = header.mutable_produce();
  produce->set_acks(static_cast<int32_t>(config_.acks));
  produce->set_timeout_ms(static_cast<uint32_t>(config_.request_timeout.count()));
  std::string payload;
  for (auto& b : batches) {
    ++b->attempts;
    auto* p = produce->add_partitions();
    p->set_topic(b->tp.topic);
    p->set_partition(b->tp.partition);
    p->set_size(static_cast<uint32_t>(b->encoded.size()));
    payload.append(b->encoded);
  }
  Connection* key = connection.get();
  ++in_flight_[key];
  auto shared = std::make_shared<BatchList>(std::move(batches));
  connection->Send(std::move(header), std::move(payload), config_.request_timeout,
                   /*expect_response=*/config_.acks != Acks::kNone,
                   [self = shared_from_this(), key, shared](absl::StatusOr<Response> r) {
                     self->OnResponse(key, *shared, std::move(r));
                   });
}

void ProducerCore::OnResponse(Connection* connection, BatchList& batches,
                              absl::StatusOr<Response> response) {
  --in_flight_[connection];
  if (!response.ok()) {
    for (auto& b : batches) RetryOrFail(std::move(b), response.status());
  } else if (config_.acks == Acks::kNone) {
    for (auto& b : batches) CompleteBatch(*b, absl::OkStatus(), -1);
  } else if (!response->header.has_produce()) {
    for (auto& b : batches) {
      CompleteBatch(*b, absl::DataLossError("produce answered without a produce response"), -1);
    }
  } else {
    std::map<TopicPartition, const native::ProduceResponse::Partition*> results;
    for (const auto& p : response->header.produce().partitions()) {
      results[{p.topic(), p.partition()}] = &p;
    }
    for (auto& b : batches) {
      auto it = results.find(b->tp);
      if (it == results.end()) {
        CompleteBatch(*b,
                      absl::DataLossError(
                          absl::StrCat("produce response has no result for ", b->tp.ToString())),
                      -1);
        continue;
      }
      const auto& result = *it->second;
      if (result.error().code() == native::NONE) {
        CompleteBatch(*b, absl::OkStatus(), result.base_offset());
        continue;
      }
      absl::Status st = FromNative(result.error(), absl::StrCat("produce to ", b->tp.ToString()));
      if (result.error().code() == native::UNKNOWN_TOPIC_OR_PARTITION) WantMetadata(b->tp.topic);
      RetryOrFail(std::move(b), std::move(st));
    }
  }
  CheckFlushWaiters();
  SchedulePump();
}

void ProducerCore::RetryOrFail(std::unique_ptr<ProducerBatch> batch, absl::Status why) {
  const Clock::time_point now = Clock::now();
  const Clock::time_point deadline = batch->created + config_.delivery_timeout;
  const bool retriable = IsRetriable(why);
  if (!shut_down_ && retriable && batch->attempts <= config_.retries &&
      now + config_.retry_backoff < deadline) {
    spdlog::debug("sluice producer: retrying {} ({} records, attempt {}): {}", batch->tp.ToString(),
                  batch->records.size(), batch->attempts, why.message());
    batch->retry_at = now + config_.retry_backoff;
    if (why.code() == absl::StatusCode::kUnavailable) WantMetadata(batch->tp.topic);
    accumulator_.Reenqueue(std::move(batch));
    return;
  }
  if (!shut_down_ && retriable && batch->attempts <= config_.retries) {
    why = absl::DeadlineExceededError(
        absl::StrCat("delivery_timeout (", config_.delivery_timeout.count(), " ms) expired after ",
                     batch->attempts, " attempts; last error: ", why.message()));
  }
  CompleteBatch(*batch, why, -1);
}

void ProducerCore::CompleteBatch(ProducerBatch& batch, const absl::Status& status,
                                 int64_t base_offset) {
  for (size_t i = 0; i < batch.records.size(); ++i) {
    RecordCompletion& c = batch.records[i];
    if (!status.ok()) {
      CompleteRecord(c, status);
      continue;
    }
    RecordMetadata md;
    md.topic = batch.tp.topic;
    md.partition = batch.tp.partition;
    md.offset = base_offset < 0 ? -1 : base_offset + static_cast<int64_t>(i);
    md.timestamp_ms = c.timestamp_ms;
    CompleteRecord(c, md);
  }
  pool_->Release(batch.reserved_bytes);
  batch.reserved_bytes = 0;
  batch.records.clear();
}

void ProducerCore::CompleteRecord(RecordCompletion& completion, const SendResult& result) {
  if (completion.callback) {
    try {
      completion.callback(result);
    } catch (const std::exception& e) {
      spdlog::error("sluice producer: a send callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("sluice producer: a send callback threw");
    }
  }
  if (completion.promise) completion.promise->set_value(result);
  incomplete_.erase(completion.sequence);
}

void ProducerCore::CheckFlushWaiters() {
  const uint64_t oldest = incomplete_.empty() ? UINT64_MAX : *incomplete_.begin();
  for (auto it = flush_waiters_.begin(); it != flush_waiters_.end();) {
    if (it->first < oldest) {
      auto done = std::move(it->second);
      it = flush_waiters_.erase(it);
      done();
    } else {
      ++it;
    }
  }
}

}  // namespace sluice::client
