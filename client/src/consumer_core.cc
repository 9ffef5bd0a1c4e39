#include "client/src/consumer_core.h"

#include "absl/strings/str_cat.h"
#include "asio/experimental/as_tuple.hpp"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"

namespace sluice::client {
namespace {

using asio::experimental::as_tuple;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);

}  // namespace

ConsumerCore::ConsumerCore(asio::any_io_executor executor, ConsumerConfig config)
    : executor_(executor),
      config_(std::move(config)),
      control_(executor, config_.bootstrap_servers, ConnectionOptions::From(config_)),
      fetch_connections_(executor, config_.bootstrap_servers, ConnectionOptions::From(config_)),
      ack_signal_(executor),
      auto_commit_timer_(executor) {}

void ConsumerCore::Subscribe(std::vector<std::string> topics, bool report_rebalances) {
  report_rebalances_ = report_rebalances;
  if (!group_) {
    group_ =
        std::make_shared<GroupMembership>(executor_, weak_from_this(), config_, control_, *this);
    fetcher_ = std::make_shared<Fetcher>(
        executor_, weak_from_this(), config_, state_, metadata_, control_, fetch_connections_,
        *group_, [this] { NotifyPoller(); },
        [this](absl::Status s) { OnFatalError(std::move(s)); });
    fetcher_->Start();
    if (config_.enable_auto_commit) {
      asio::co_spawn(executor_, AutoCommitLoop(), asio::detached);
    }
  }
  subscribed_ = true;
  group_->Subscribe(std::move(topics));
}

asio::awaitable<absl::StatusOr<PollResult>> ConsumerCore::Poll(Clock::time_point deadline) {
  auto self = shared_from_this();
  PollResult result;
  for (;;) {
    if (closed_) co_return absl::CancelledError("the consumer is closed");
    if (!error_.ok()) {
      absl::Status e = std::move(error_);
      error_ = absl::OkStatus();
      co_return e;
    }
    if (!events_.empty()) {
      result.events.assign(std::make_move_iterator(events_.begin()),
                           std::make_move_iterator(events_.end()));
      events_.clear();
      co_return result;
    }
    result.records = state_.Drain(static_cast<size_t>(config_.max_poll_records));
    if (!result.records.empty()) {
      fetcher_->Wake();  // a drained buffer makes its partition fetchable again
      co_return result;
    }
    if (Clock::now() >= deadline) co_return result;
    asio::steady_timer wait(executor_, deadline);
    poll_waiter_ = &wait;
    co_await wait.async_wait(kUseTuple);
    poll_waiter_ = nullptr;
  }
}

void ConsumerCore::NotifyPoller() {
  if (poll_waiter_ != nullptr) poll_waiter_->cancel();
}

uint64_t ConsumerCore::PushEvent(ConsumerEvent event) {
  event.sequence = next_sequence_++;
  const uint64_t sequence = event.sequence;
  events_.push_back(std::move(event));
  NotifyPoller();
  return sequence;
}

void ConsumerCore::AckEvents(uint64_t sequence) {
  acked_sequence_ = std::max(acked_sequence_, sequence);
  ack_signal_.cancel();
}

std::vector<ConsumerEvent> ConsumerCore::TakeEvents() {
  std::vector<ConsumerEvent> out(std::make_move_iterator(events_.begin()),
                                 std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

void ConsumerCore::OnFatalError(absl::Status status) {
  spdlog::warn("sluice consumer: group '{}': {}", config_.group_id, status.message());
  error_ = std::move(status);
  NotifyPoller();
}

asio::awaitable<void> ConsumerCore::OnRevoke(bool generation_valid) {
  auto self = shared_from_this();
  if (state_.empty()) co_return;
  // Freeze first: Poll must not hand out records of the revoked partitions while the commit below
  // is in flight, or their positions would move past what gets committed and the next owner would
  // read them again. SetAssignment() at the end thaws the (then empty) state.
  state_.set_frozen(true);
  if (config_.enable_auto_commit && generation_valid) {
    if (absl::Status s = co_await group_->Commit(state_.Positions()); !s.ok()) {
      spdlog::warn("sluice consumer: commit before rebalance failed: {}", s.message());
    }
  }
  if (report_rebalances_) {
    ConsumerEvent e;
    e.kind = ConsumerEvent::Kind::kRevoked;
    e.partitions = state_.Assignment();
    const uint64_t sequence = PushEvent(std::move(e));
    while (acked_sequence_ < sequence && !closed_) {
      ack_signal_.expires_at(Clock::time_point::max());
      co_await ack_signal_.async_wait(kUseTuple);
    }
  }
  state_.SetAssignment({});
  fetcher_->Wake();
}

void ConsumerCore::OnAssigned(std::vector<TopicPartition> partitions) {
  state_.SetAssignment(partitions);
  if (report_rebalances_) {
    ConsumerEvent e;
    e.kind = ConsumerEvent::Kind::kAssigned;
    e.partitions = std::move(partitions);
    PushEvent(std::move(e));
  }
  fetcher_->Wake();
}

asio::awaitable<PartitionCounts> ConsumerCore::RefreshMetadata(std::vector<std::string> topics) {
  auto self = shared_from_this();
  PartitionCounts counts;
  if (topics.empty()) co_return counts;
  auto connection = control_.Bootstrap();
  auto r = co_await FetchMetadata(*connection, topics, config_.allow_auto_create_topics,
                                  config_.request_timeout);
  if (!r.ok()) {
    spdlog::debug("sluice consumer: metadata: {}", r.status().message());
  } else {
    metadata_.Update(*r, Clock::now());
  }
  for (const auto& t : topics) {
    if (int32_t n = metadata_.PartitionCount(t); n > 0) counts[t] = n;
  }
  co_return counts;
}

asio::awaitable<absl::Status> ConsumerCore::Commit(std::optional<OffsetMap> offsets) {
  auto self = shared_from_this();
  if (!group_) co_return absl::FailedPreconditionError("Subscribe() before committing");
  // GCC 12 destroys a conditional's temporary twice inside co_await: build it first.
  OffsetMap to_commit;
  if (offsets) {
    to_commit = std::move(*offsets);
  } else {
    to_commit = state_.Positions();
  }
  absl::Status s = co_await group_->Commit(std::move(to_commit));
  co_return s;
}

void ConsumerCore::CommitAsync(std::optional<OffsetMap> offsets, CommitCallback callback) {
  OffsetMap to_commit = offsets ? std::move(*offsets) : state_.Positions();
  asio::co_spawn(
      executor_,
      [](std::shared_ptr<ConsumerCore> self, OffsetMap to_commit,
         CommitCallback callback) -> asio::awaitable<void> {
        absl::Status s = co_await self->Commit(to_commit);
        if (!s.ok()) spdlog::debug("sluice consumer: async commit: {}", s.message());
        if (!callback || self->closed_) co_return;
        ConsumerEvent e;
        e.kind = ConsumerEvent::Kind::kCommitted;
        e.status = std::move(s);
        e.offsets = std::move(to_commit);
        e.callback = std::move(callback);
        self->PushEvent(std::move(e));
      }(shared_from_this(), std::move(to_commit), std::move(callback)),
      asio::detached);
}

asio::awaitable<absl::StatusOr<std::map<TopicPartition, int64_t>>> ConsumerCore::Committed(
    std::vector<TopicPartition> partitions) {
  auto self = shared_from_this();
  if (!group_) co_return absl::FailedPreconditionError("Subscribe() before asking for offsets");
  co_return co_await group_->FetchCommitted(std::move(partitions));
}

absl::Status ConsumerCore::Seek(const TopicPartition& tp, int64_t offset) {
  if (offset < 0) return absl::InvalidArgumentError("offsets are >= 0");
  if (!state_.Seek(tp, offset)) {
    return absl::FailedPreconditionError(
        absl::StrCat("partition ", tp.ToString(), " is not assigned to this consumer"));
  }
  fetcher_->Wake();
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ConsumerCore::Position(const TopicPartition& tp) const {
  const PartitionState* s = state_.Find(tp);
  if (s == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("partition ", tp.ToString(), " is not assigned to this consumer"));
  }
  if (!s->position) {
    return absl::UnavailableError(
        absl::StrCat("the position of ", tp.ToString(), " is still being looked up"));
  }
  return *s->position;
}

absl::Status ConsumerCore::SetPaused(const std::vector<TopicPartition>& tps, bool paused) {
  for (const auto& tp : tps) {
    if (state_.Find(tp) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("partition ", tp.ToString(), " is not assigned to this consumer"));
    }
  }
  for (const auto& tp : tps) state_.SetPaused(tp, paused);
  if (fetcher_) fetcher_->Wake();
  NotifyPoller();
  return absl::OkStatus();
}

asio::awaitable<void> ConsumerCore::AutoCommitLoop() {
  auto self = shared_from_this();
  OffsetMap last;
  while (!closed_) {
    auto_commit_timer_.expires_after(config_.auto_commit_interval);
    co_await auto_commit_timer_.async_wait(kUseTuple);
    if (closed_) break;
    if (!group_->stable() || state_.frozen()) continue;
    OffsetMap positions = state_.Positions();
    if (positions.empty() || positions == last) continue;
    if (absl::Status s = co_await group_->Commit(positions); s.ok()) {
      last = std::move(positions);
    } else {
      spdlog::debug("sluice consumer: auto commit: {}", s.message());
    }
  }
}

asio::awaitable<absl::Status> ConsumerCore::Close() {
  auto self = shared_from_this();
  if (closed_) co_return absl::OkStatus();
  closed_ = true;
  ack_signal_.cancel();
  auto_commit_timer_.cancel();
  NotifyPoller();
  absl::Status s;
  if (fetcher_) fetcher_->Close();
  if (group_) s = co_await group_->Leave();
  fetch_connections_.CloseAll();
  control_.CloseAll();
  co_return s;
}

}  // namespace sluice::client
