// Produce: append each partition's batches, then acknowledge per acks and the flush policy.
#include <chrono>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "asio/associated_executor.hpp"
#include "asio/async_result.hpp"
#include "asio/post.hpp"
#include "asio/steady_timer.hpp"
#include "asio/use_awaitable.hpp"
#include "broker/native/errors.h"
#include "broker/native/handler.h"
#include "storage/errors.h"
#include "storage/record_batch.h"

namespace sluice::broker::native {
namespace {

using storage::StorageErrc;
using storage::StorageError;

// A produce's timeout_ms of 0 means this (Kafka's request.timeout.ms default).
constexpr uint32_t kDefaultTimeoutMs = 30000;

struct Appended {
  Offset base{-1};
  Offset last{-1};
  bool sync_before_ack = false;
};

// Splits one partition's data into its batches. Each must be whole; the last must end exactly
// at the end of the data.
absl::StatusOr<std::vector<std::span<uint8_t>>> SplitBatches(std::span<uint8_t> data) {
  std::vector<std::span<uint8_t>> batches;
  size_t pos = 0;
  while (pos < data.size()) {
    std::span<uint8_t> rest = data.subspan(pos);
    auto size = storage::PeekBatchSize(rest);
    if (!size.ok()) return size.status();
    if (*size > rest.size()) {
      return StorageError(StorageErrc::kCorruptBatch,
                          absl::StrCat("batch at byte ", pos, " of the partition's data needs ",
                                       *size, " bytes, only ", rest.size(), " remain"));
    }
    batches.push_back(rest.first(*size));
    pos += *size;
  }
  if (batches.empty()) {
    return StorageError(StorageErrc::kCorruptBatch, "the partition's data holds no record batch");
  }
  return batches;
}

// Appends every batch of `data` (patching baseOffset in place: the frame buffer is ours). When
// there are several, all are validated first, so a bad one means none is appended.
absl::StatusOr<Appended> AppendAll(storage::PartitionLog& log, std::span<uint8_t> data) {
  auto batches = SplitBatches(data);
  if (!batches.ok()) return batches.status();
  if (batches->size() > 1) {
    const int64_t max_bytes = log.config().max_message_bytes;
    for (auto b : *batches) {
      auto view = storage::RecordBatchView::Parse(b);
      if (!view.ok()) return view.status();
      absl::Status s = view->ValidateForAppend();
      if (!s.ok()) return s;
      if (static_cast<int64_t>(b.size()) > max_bytes) {
        return StorageError(
            StorageErrc::kBatchTooLarge,
            absl::StrCat("batch of ", b.size(), " bytes exceeds max.message.bytes ", max_bytes));
      }
    }
  }
  Appended out;
  for (auto b : *batches) {
    auto r = log.Append(b);
    if (!r.ok()) return r.status();  // earlier batches of this partition stay appended
    if (out.base.value() < 0) out.base = r->base_offset;
    out.last = r->last_offset;
    out.sync_before_ack = out.sync_before_ack || r->sync_before_ack;
  }
  return out;
}

struct DurableTarget {
  std::shared_ptr<storage::PartitionLog> log;
  Offset last;
};

// Waits until each target is durable or `timeout` passes; one status per target
// (DeadlineExceeded for those still waiting at the timeout). PartitionLog::AwaitDurable calls
// back on the flusher thread; the result is delivered on the awaiting coroutine's executor.
// Not a coroutine: the lambda must not be created inside a co_await expression (GCC 12 bug, see
// broker/README.md).
asio::awaitable<std::vector<absl::Status>> AwaitDurable(std::vector<DurableTarget> targets,
                                                        std::chrono::milliseconds timeout) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::vector<absl::Status>)>(
      [targets = std::move(targets), timeout](auto handler) mutable {
        using Handler = decltype(handler);
        auto ex = asio::get_associated_executor(handler);
        struct State {
          State(asio::any_io_executor e, size_t n)
              : timer(e),
                remaining(n),
                results(n, absl::DeadlineExceededError("not durable within the produce timeout")) {}
          asio::steady_timer timer;        // executor only
          std::optional<Handler> handler;  // executor only; reset once completed
          std::mutex mu;                   // guards the two below (flusher thread vs executor)
          size_t remaining;
          std::vector<absl::Status> results;
        };
        auto st = std::make_shared<State>(ex, targets.size());
        st->handler.emplace(std::move(handler));
        // Runs on the executor: completes the wait once (all durable, or the timeout).
        auto finish = [st] {
          if (!st->handler) return;
          Handler h = std::move(*st->handler);
          st->handler.reset();
          st->timer.cancel();
          std::vector<absl::Status> results;
          {
            std::lock_guard l(st->mu);
            results = st->results;
          }
          std::move(h)(std::move(results));
        };
        st->timer.expires_after(timeout);
        st->timer.async_wait([finish](asio::error_code ec) {
          if (!ec) finish();
        });
        for (size_t i = 0; i < targets.size(); ++i) {
          targets[i].log->AwaitDurable(targets[i].last, [st, i, ex, finish](absl::Status s) {
            bool all;
            {
              std::lock_guard l(st->mu);
              st->results[i] = std::move(s);
              all = --st->remaining == 0;
            }
            if (all) asio::post(ex, finish);
          });
        }
      },
      asio::use_awaitable);
}

}  // namespace

asio::awaitable<void> HandleProduce(RequestContext& ctx, pb::RequestHeader& req, Response& resp) {
  const pb::ProduceRequest& pr = req.produce();
  auto* out = resp.header.mutable_produce();
  const int32_t acks = pr.acks();
  const bool valid_acks = acks == 0 || acks == 1 || acks == -1;
  if (!valid_acks) {
    SetError(resp.header.mutable_error(), pb::INVALID_REQUEST,
             absl::StrCat("acks must be 0, 1 or -1, got ", acks));
  }

  std::vector<DurableTarget> durable;
  std::vector<int> durable_index;  // response partition of each target
  size_t at = 0;
  for (int i = 0; i < pr.partitions_size(); ++i) {
    const auto& p = pr.partitions(i);
    auto* r = out->add_partitions();
    r->set_topic(p.topic());
    r->set_partition(p.partition());
    r->set_base_offset(-1);
    r->set_log_start_offset(-1);
    std::span<uint8_t> data = ctx.payload.subspan(at, p.size());  // sizes checked by the reader
    at += p.size();
    if (!valid_acks) {
      SetError(r->mutable_error(), pb::INVALID_REQUEST, "invalid acks");
      continue;
    }
    auto log = co_await ctx.broker.topics.Partition(p.topic(), p.partition(), /*auto_create=*/true);
    if (!log.ok()) {
      SetError(r->mutable_error(), log.status());
      continue;
    }
    auto appended = AppendAll(**log, data);
    if (!appended.ok()) {
      SetError(r->mutable_error(), appended.status());
      continue;
    }
    ctx.broker.notifier.Notify(log->get());
    r->mutable_error()->set_code(pb::NONE);
    r->set_base_offset(appended->base.value());
    r->set_log_start_offset((*log)->log_start_offset().value());
    if (acks == -1 || appended->sync_before_ack) {
      durable.push_back(DurableTarget{*log, appended->last});
      durable_index.push_back(i);
    }
  }
  // Appends are done: later requests on this connection may start while we wait for fdatasync.
  ctx.ReleaseNext();
  if (acks == 0) {
    resp.send = false;
    co_return;
  }
  if (durable.empty()) co_return;
  const uint32_t timeout_ms = pr.timeout_ms() ? pr.timeout_ms() : kDefaultTimeoutMs;
  std::vector<absl::Status> results =
      co_await AwaitDurable(std::move(durable), std::chrono::milliseconds(timeout_ms));
  for (size_t k = 0; k < results.size(); ++k) {
    if (results[k].ok()) continue;
    auto* r = out->mutable_partitions(durable_index[k]);
    SetDurabilityError(r->mutable_error(), results[k]);
    r->set_base_offset(-1);
  }
}

}  // namespace sluice::broker::native
