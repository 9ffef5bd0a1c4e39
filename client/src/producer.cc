// sluice::Producer: the thread-safe front of ProducerCore. Send() runs on the caller's thread up
// to the buffer reservation, then posts the record to the io thread.

#include "sluice/producer.h"

#include <atomic>
#include <mutex>
#include <shared_mutex>

#include "absl/strings/str_cat.h"
#include "client/src/buffer_pool.h"
#include "client/src/io_thread.h"
#include "client/src/producer_core.h"
#include "client/src/time_util.h"
#include "storage/record_batch.h"

namespace sluice {

using client::Clock;

// Owns the io thread (declared first, so it outlives the core whose handlers it may still hold),
// the buffer pool shared with Send() callers, and the core.
class Producer::Impl {
 public:
  explicit Impl(ProducerConfig config)
      : config_(std::move(config)),
        pool_(std::make_shared<client::BufferPool>(config_.buffer_memory)),
        io_("sluice-producer"),
        core_(std::make_shared<client::ProducerCore>(io_.executor(), config_, pool_)) {}

  ~Impl() { Close(std::chrono::milliseconds(30000)).IgnoreError(); }

  std::future<SendResult> Send(Record record, Callback callback) {
    auto promise = std::make_shared<std::promise<SendResult>>();
    std::future<SendResult> future = promise->get_future();
    auto fail = [&](absl::Status s) {
      if (callback) callback(s);
      promise->set_value(std::move(s));
      return std::move(future);
    };
    if (record.topic.empty()) return fail(absl::InvalidArgumentError("the record has no topic"));
    const size_t size = client::EstimateRecordSize(record);
    if (size + storage::kBatchHeaderSize > config_.max_request_size) {
      return fail(absl::InvalidArgumentError(absl::StrCat("a record of ~", size,
                                                          " bytes exceeds max_request_size (",
                                                          config_.max_request_size, " bytes)")));
    }
    std::shared_lock lock(send_mu_);
    if (closing_) return fail(absl::CancelledError("the producer is closed"));
    // On the io thread (a callback) blocking would stall the very thread that frees memory.
    const auto deadline =
        io_.InThisThread() ? Clock::now() : client::DeadlineAfter(config_.max_block);
    if (absl::Status s = pool_->Reserve(size, deadline); !s.ok()) return fail(std::move(s));

    client::RecordCompletion completion;
    completion.timestamp_ms =
        record.timestamp_ms.value_or(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
    record.timestamp_ms = completion.timestamp_ms;
    completion.callback = std::move(callback);
    completion.promise = std::move(promise);
    asio::post(io_.executor(),
               [core = core_, record = std::move(record), completion = std::move(completion),
                size]() mutable { core->Enqueue(std::move(record), std::move(completion), size); });
    return future;
  }

  absl::Status Flush(std::chrono::milliseconds timeout) {
    if (io_.InThisThread()) {
      return absl::FailedPreconditionError("Flush() called from a producer callback");
    }
    if (io_.stopped()) return absl::OkStatus();
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> f = done->get_future();
    asio::post(io_.executor(),
               [core = core_, done] { core->Flush([done] { done->set_value(); }); });
    if (!client::WaitReady(f, timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("flush did not complete within ", timeout.count(), " ms"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int32_t> PartitionCount(const std::string& topic,
                                         std::chrono::milliseconds timeout) {
    return io_.Await(core_->PartitionCount(topic), timeout);
  }

  absl::Status Close(std::chrono::milliseconds timeout) {
    if (io_.InThisThread()) {
      return absl::FailedPreconditionError("Close() called from a producer callback");
    }
    std::lock_guard close_lock(close_mu_);
    if (closed_) return close_status_;
    closing_ = true;
    pool_->Close();                                   // wakes Send() calls blocked on memory
    { std::unique_lock wait_for_senders(send_mu_); }  // every accepted record is now posted
    close_status_ = Flush(timeout);
    asio::post(io_.executor(), [core = core_] {
      core->Shutdown(absl::CancelledError("the producer was closed before the record was sent"));
    });
    io_.Stop();
    closed_ = true;
    return close_status_;
  }

 private:
  const ProducerConfig config_;
  std::shared_ptr<client::BufferPool> pool_;
  client::IoThread io_;
  std::shared_ptr<client::ProducerCore> core_;

  std::shared_mutex send_mu_;  // shared by Send(), exclusive once by Close()
  std::atomic<bool> closing_{false};
  std::mutex close_mu_;
  bool closed_ = false;  // guarded by close_mu_
  absl::Status close_status_;
};

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(ProducerConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::unique_ptr<Producer>(new Producer(std::make_unique<Impl>(std::move(config))));
}

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Producer::~Producer() = default;

std::future<SendResult> Producer::Send(Record record, Callback callback) {
  return impl_->Send(std::move(record), std::move(callback));
}
absl::Status Producer::Flush(std::chrono::milliseconds timeout) { return impl_->Flush(timeout); }
absl::StatusOr<int32_t> Producer::PartitionCount(const std::string& topic,
                                                 std::chrono::milliseconds timeout) {
  return impl_->PartitionCount(topic, timeout);
}
absl::Status Producer::Close(std::chrono::milliseconds timeout) { return impl_->Close(timeout); }

}  // namespace sluice
