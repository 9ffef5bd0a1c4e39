// sluice::Consumer: the caller-thread front of ConsumerCore. Blocking calls wait on the io
// thread with a timeout; rebalance and commit callbacks run here, on the caller's thread.

#include "sluice/consumer.h"

#include "absl/strings/str_cat.h"
#include "client/src/consumer_core.h"
#include "client/src/io_thread.h"
#include "client/src/time_util.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"

namespace sluice {

using client::Clock;
using client::ConsumerCore;
using client::ConsumerEvent;

// Owns the io thread (declared first, so it outlives the core) and the core. Used from one
// thread at a time.
class Consumer::Impl {
 public:
  explicit Impl(ConsumerConfig config)
      : config_(std::move(config)),
        io_("sluice-consumer"),
        core_(std::make_shared<ConsumerCore>(io_.executor(), config_)) {}

  ~Impl() { Close(std::chrono::milliseconds(30000)).IgnoreError(); }

  absl::Status Subscribe(std::vector<std::string> topics, RebalanceListener* listener) {
    if (absl::Status s = Usable("Subscribe"); !s.ok()) return s;
    if (topics.empty()) return absl::InvalidArgumentError("Subscribe() needs at least one topic");
    for (const auto& t : topics) {
      if (t.empty()) return absl::InvalidArgumentError("empty topic name");
    }
    listener_ = listener;
    subscribed_ = true;
    return io_.Call(
        [core = core_, topics = std::move(topics), report = listener != nullptr]() {
          core->Subscribe(topics, report);
          return absl::OkStatus();
        },
        config_.request_timeout);
  }

  absl::StatusOr<std::vector<ConsumerRecord>> Poll(std::chrono::milliseconds timeout) {
    if (absl::Status s = Usable("Poll"); !s.ok()) return s;
    if (!subscribed_) return absl::FailedPreconditionError("Subscribe() before Poll()");
    const Clock::time_point deadline = client::DeadlineAfter(timeout);
    for (;;) {
      // The core answers by `deadline`; the margin only guards against a stuck io thread.
      const auto wait =
          deadline == Clock::time_point::max()
              ? std::chrono::milliseconds::max()
              : std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()) +
                    std::chrono::seconds(10);
      auto r = io_.Await(core_->Poll(deadline), wait);
      if (!r.ok()) return r.status();
      if (!r->events.empty()) {
        RunEvents(r->events);
        continue;
      }
      return std::move(r->records);
    }
  }

  absl::Status Commit(std::optional<OffsetMap> offsets) {
    if (absl::Status s = Usable("Commit"); !s.ok()) return s;
    return io_.Await(core_->Commit(std::move(offsets)), config_.request_timeout * 2);
  }

  void CommitAsync(std::optional<OffsetMap> offsets, CommitCallback callback) {
    if (absl::Status s = Usable("CommitAsync"); !s.ok()) {
      if (callback) callback(s, offsets.value_or(OffsetMap{}));
      return;
    }
    asio::post(io_.executor(), [core = core_, offsets = std::move(offsets),
                                callback = std::move(callback)]() mutable {
      core->CommitAsync(std::move(offsets), std::move(callback));
    });
  }

  absl::StatusOr<std::map<TopicPartition, int64_t>> Committed(
      const std::vector<TopicPartition>& partitions) {
    if (absl::Status s = Usable("Committed"); !s.ok()) return s;
    return io_.Await(core_->Committed(partitions), config_.request_timeout * 2);
  }

  absl::Status Seek(const TopicPartition& tp, int64_t offset) {
    if (absl::Status s = Usable("Seek"); !s.ok()) return s;
    return io_.Call([core = core_, tp, offset] { return core->Seek(tp, offset); },
                    config_.request_timeout);
  }

  absl::StatusOr<int64_t> Position(const TopicPartition& tp) {
    if (absl::Status s = Usable("Position"); !s.ok()) return s;
    return io_.Call([core = core_, tp] { return core->Position(tp); }, config_.request_timeout);
  }

  absl::Status SetPaused(const std::vector<TopicPartition>& tps, bool paused) {
    if (absl::Status s = Usable(paused ? "Pause" : "Resume"); !s.ok()) return s;
    return io_.Call([core = core_, tps, paused] { return core->SetPaused(tps, paused); },
                    config_.request_timeout);
  }

  std::vector<TopicPartition> Assignment() {
    if (closed_) return {};
    auto r = io_.Call(
        [core = core_]() -> absl::StatusOr<std::vector<TopicPartition>> {
          return core->Assignment();
        },
        config_.request_timeout);
    return r.ok() ? std::move(*r) : std::vector<TopicPartition>{};
  }

  absl::Status Close(std::chrono::milliseconds timeout) {
    if (closed_) return close_status_;
    if (in_callback_) return absl::FailedPreconditionError("Close() called from a callback");
    if (io_.InThisThread()) return absl::FailedPreconditionError("Close() on the io thread");
    if (subscribed_) {
      if (config_.enable_auto_commit) {
        if (absl::Status s = Commit(std::nullopt); !s.ok()) {
          spdlog::warn("sluice consumer: final commit failed: {}", s.message());
          close_status_ = s;
        }
      }
      // Commit callbacks still queued run now; rebalance events are moot.
      auto events = io_.Call(
          [core = core_]() -> absl::StatusOr<std::vector<ConsumerEvent>> {
            return core->TakeEvents();
          },
          config_.request_timeout);
      if (events.ok()) {
        for (auto& e : *events) {
          if (e.kind == ConsumerEvent::Kind::kCommitted && e.callback)
            e.callback(e.status, e.offsets);
        }
      }
      if (listener_ != nullptr) {
        if (auto assigned = Assignment(); !assigned.empty()) {
          in_callback_ = true;
          listener_->OnPartitionsRevoked(assigned);
          in_callback_ = false;
        }
      }
    }
    absl::Status left = io_.Await(core_->Close(), timeout);
    if (!left.ok()) spdlog::debug("sluice consumer: leave group: {}", left.message());
    closed_ = true;
    io_.Stop();
    return close_status_;
  }

 private:
  absl::Status Usable(std::string_view what) const {
    if (closed_) return absl::FailedPreconditionError("the consumer is closed");
    if (in_callback_ && what == "Poll") {
      return absl::FailedPreconditionError("Poll() called from a rebalance or commit callback");
    }
    return absl::OkStatus();
  }

  void RunEvents(std::vector<ConsumerEvent>& events) {
    // Acknowledge even if a callback throws, or a revocation would wait forever.
    struct Ack {
      Impl* impl;
      uint64_t sequence = 0;
      ~Ack() {
        impl->in_callback_ = false;
        asio::post(impl->io_.executor(),
                   [core = impl->core_, s = sequence] { core->AckEvents(s); });
      }
    } ack{this};
    in_callback_ = true;
    for (auto& e : events) {
      switch (e.kind) {
        case ConsumerEvent::Kind::kRevoked:
          if (listener_ != nullptr) listener_->OnPartitionsRevoked(e.partitions);
          break;
        case ConsumerEvent::Kind::kAssigned:
          if (listener_ != nullptr) listener_->OnPartitionsAssigned(e.partitions);
          break;
        case ConsumerEvent::Kind::kCommitted:
          if (e.callback) e.callback(e.status, e.offsets);
          break;
      }
      ack.sequence = e.sequence;
    }
  }

  const ConsumerConfig config_;
  client::IoThread io_;
  std::shared_ptr<ConsumerCore> core_;
  RebalanceListener* listener_ = nullptr;
  bool subscribed_ = false;
  bool in_callback_ = false;
  bool closed_ = false;
  absl::Status close_status_;
};

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(ConsumerConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::unique_ptr<Consumer>(new Consumer(std::make_unique<Impl>(std::move(config))));
}

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Consumer::~Consumer() = default;

absl::Status Consumer::Subscribe(std::vector<std::string> topics, RebalanceListener* listener) {
  return impl_->Subscribe(std::move(topics), listener);
}
absl::StatusOr<std::vector<ConsumerRecord>> Consumer::Poll(std::chrono::milliseconds timeout) {
  return impl_->Poll(timeout);
}
absl::Status Consumer::Commit() { return impl_->Commit(std::nullopt); }
absl::Status Consumer::Commit(const OffsetMap& offsets) { return impl_->Commit(offsets); }
void Consumer::CommitAsync(CommitCallback callback) {
  impl_->CommitAsync(std::nullopt, std::move(callback));
}
void Consumer::CommitAsync(const OffsetMap& offsets, CommitCallback callback) {
  impl_->CommitAsync(offsets, std::move(callback));
}
absl::StatusOr<std::map<TopicPartition, int64_t>> Consumer::Committed(
    const std::vector<TopicPartition>& partitions) {
  return impl_->Committed(partitions);
}
absl::Status Consumer::Seek(const TopicPartition& partition, int64_t offset) {
  return impl_->Seek(partition, offset);
}
absl::StatusOr<int64_t> Consumer::Position(const TopicPartition& partition) {
  return impl_->Position(partition);
}
absl::Status Consumer::Pause(const std::vector<TopicPartition>& partitions) {
  return impl_->SetPaused(partitions, true);
}
absl::Status Consumer::Resume(const std::vector<TopicPartition>& partitions) {
  return impl_->SetPaused(partitions, false);
}
std::vector<TopicPartition> Consumer::Assignment() { return impl_->Assignment(); }
absl::Status Consumer::Close(std::chrono::milliseconds timeout) { return impl_->Close(timeout); }

}  // namespace sluice
