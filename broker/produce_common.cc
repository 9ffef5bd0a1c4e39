#include "broker/produce_common.h"

#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "asio/any_io_executor.hpp"
#include "asio/associated_executor.hpp"
#include "asio/async_result.hpp"
#include "asio/post.hpp"
#include "asio/steady_timer.hpp"
#include "asio/use_awaitable.hpp"
#include "storage/errors.h"
#include "storage/record_batch.h"

namespace sluice::broker {

using storage::StorageErrc;
using storage::StorageError;

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

absl::StatusOr<Appended> AppendBatches(storage::PartitionLog& log,
                                       std::span<const std::span<uint8_t>> batches) {
  // Append validates each batch itself; checking them all up front only matters when a later
  // one could fail after an earlier one is in the log.
  if (batches.size() > 1) {
    const int64_t max_bytes = log.config().max_message_bytes;
    for (auto b : batches) {
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
  for (auto b : batches) {
    auto r = log.Append(b);
    if (!r.ok()) return r.status();  // earlier batches of this partition stay appended
    if (out.base.value() < 0) out.base = r->base_offset;
    out.last = r->last_offset;
    out.sync_before_ack = out.sync_before_ack || r->sync_before_ack;
  }
  return out;
}

absl::StatusOr<Appended> AppendAll(storage::PartitionLog& log, std::span<uint8_t> data) {
  auto batches = SplitBatches(data);
  if (!batches.ok()) return batches.status();
  return AppendBatches(log, *batches);
}

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
        if (targets.empty()) {
          asio::post(ex, finish);
          return;
        }
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

}  // namespace sluice::broker
