// Fetch (long poll, zero-copy payload) and ListOffsets.
#include <chrono>

#include "absl/strings/str_cat.h"
#include "asio/this_coro.hpp"
#include "broker/native/errors.h"
#include "broker/native/handler.h"
#include "storage/errors.h"

namespace sluice::broker::native {
namespace {

// Defaults for a max_bytes of 0 (Kafka's fetch.max.bytes and max.partition.fetch.bytes).
constexpr uint64_t kDefaultMaxBytes = 50u << 20;
constexpr uint64_t kDefaultPartitionMaxBytes = 1u << 20;
// Keeps a response frame well inside the u32 length (KIP-74 may add one batch past max_bytes).
constexpr uint64_t kMaxResponseBytes = 1u << 30;

struct FetchPart {
  const pb::FetchRequest::Partition* request;
  std::shared_ptr<storage::PartitionLog> log;
  absl::Status error;
  storage::ReadResult read;
};

// Reads every partition once within the byte limits; returns the payload bytes found. As KIP-74:
// the first partition with data returns at least one batch even past the limits.
uint64_t ReadAll(std::vector<FetchPart>& parts, uint64_t max_bytes) {
  uint64_t total = 0;
  for (FetchPart& p : parts) {
    if (!p.log) continue;  // resolution failed
    p.read = storage::ReadResult{};
    p.error = absl::OkStatus();
    uint64_t part_max = p.request->max_bytes() ? p.request->max_bytes() : kDefaultPartitionMaxBytes;
    uint64_t budget = total < max_bytes ? std::min(part_max, max_bytes - total) : 0;
    if (budget == 0 && total > 0) {  // the response is full: report offsets only
      p.read.high_watermark = p.log->high_watermark();
      p.read.log_start_offset = p.log->log_start_offset();
      continue;
    }
    auto r = p.log->Read(Offset(p.request->offset()), budget, /*min_one_batch=*/total == 0);
    if (!r.ok()) {
      p.error = r.status();
      continue;
    }
    p.read = *std::move(r);
    total += p.read.total_bytes;
  }
  return total;
}

bool AnyError(const std::vector<FetchPart>& parts) {
  for (const FetchPart& p : parts) {
    if (!p.error.ok()) return true;
  }
  return false;
}

}  // namespace

asio::awaitable<void> HandleFetch(RequestContext& ctx, pb::RequestHeader& req, Response& resp) {
  const pb::FetchRequest& fr = req.fetch();
  std::vector<FetchPart> parts;
  parts.reserve(static_cast<size_t>(fr.partitions_size()));
  for (const auto& p : fr.partitions()) {
    FetchPart part{&p, nullptr, absl::OkStatus(), {}};
    auto log = ctx.broker.logs.GetPartition(p.topic(), PartitionId(p.partition()));
    if (log.ok()) {
      part.log = *std::move(log);
    } else {
      part.error = log.status();
    }
    parts.push_back(std::move(part));
  }
  const uint64_t max_bytes =
      std::min<uint64_t>(fr.max_bytes() ? fr.max_bytes() : kDefaultMaxBytes, kMaxResponseBytes);
  uint64_t total = ReadAll(parts, max_bytes);
  ctx.ReleaseNext();

  // Long poll: wait for min_bytes, an error, the deadline, or the connection or broker closing.
  // Registering before re-reading means an append that lands in between still wakes us.
  PartitionNotifier& notifier = ctx.broker.notifier;
  if (total < fr.min_bytes() && fr.max_wait_ms() > 0 && !AnyError(parts) &&
      !notifier.shutting_down()) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(fr.max_wait_ms());
    asio::any_io_executor ex = co_await asio::this_coro::executor;
    auto waker = std::make_shared<Waker>(ex);
    std::vector<PartitionNotifier::Key> keys;
    for (const FetchPart& p : parts) {
      if (p.log) keys.push_back(p.log.get());
    }
    notifier.Watch(keys, waker);
    ctx.RegisterWaker(waker);
    for (;;) {
      waker->Rearm();
      total = ReadAll(parts, max_bytes);
      if (total >= fr.min_bytes() || AnyError(parts) || ctx.connection_closed() ||
          notifier.shutting_down() || std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      co_await waker->Wait(deadline);
    }
    notifier.Unwatch(keys, waker);
  }

  auto* out = resp.header.mutable_fetch();
  for (FetchPart& p : parts) {
    auto* r = out->add_partitions();
    r->set_topic(p.request->topic());
    r->set_partition(p.request->partition());
    SetError(r->mutable_error(), p.error);
    if (p.log && !p.error.ok()) {
      r->set_high_watermark(p.log->high_watermark().value());
      r->set_log_start_offset(p.log->log_start_offset().value());
    } else if (p.log) {
      r->set_high_watermark(p.read.high_watermark.value());
      r->set_log_start_offset(p.read.log_start_offset.value());
    } else {
      r->set_high_watermark(-1);
      r->set_log_start_offset(-1);
    }
    r->set_size(static_cast<uint32_t>(p.read.total_bytes));
    resp.payload_bytes += p.read.total_bytes;
    for (auto& s : p.read.slices) resp.payload.push_back(std::move(s));
  }
}

asio::awaitable<void> HandleListOffsets(RequestContext& ctx, pb::RequestHeader& req,
                                        Response& resp) {
  auto* out = resp.header.mutable_list_offsets();
  for (const auto& p : req.list_offsets().partitions()) {
    auto* r = out->add_partitions();
    r->set_topic(p.topic());
    r->set_partition(p.partition());
    r->set_offset(-1);
    r->set_timestamp(-1);
    auto log = ctx.broker.logs.GetPartition(p.topic(), PartitionId(p.partition()));
    if (!log.ok()) {
      SetError(r->mutable_error(), log.status());
      continue;
    }
    r->mutable_error()->set_code(pb::NONE);
    if (p.timestamp() == -1) {
      r->set_offset((*log)->high_watermark().value());
    } else if (p.timestamp() == -2) {
      r->set_offset((*log)->log_start_offset().value());
    } else if (p.timestamp() < 0) {
      SetError(r->mutable_error(), pb::INVALID_REQUEST,
               absl::StrCat("timestamp ", p.timestamp(), ": use -1 (latest), -2 (earliest) or ms"));
    } else {
      auto found = (*log)->OffsetForTimestamp(p.timestamp());
      if (!found.ok()) {
        SetError(r->mutable_error(), found.status());
      } else if (*found) {
        r->set_offset((*found)->offset.value());
        r->set_timestamp((*found)->timestamp);
      }
    }
  }
  co_return;
}

}  // namespace sluice::broker::native
