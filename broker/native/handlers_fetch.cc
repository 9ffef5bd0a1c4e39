// Fetch (long poll, zero-copy payload) and ListOffsets. The read loop, the long poll and the offset
// lookup are shared with the Kafka handlers (broker/fetch_common.h).
#include <algorithm>
#include <chrono>

#include "broker/fetch_common.h"
#include "broker/native/errors.h"
#include "broker/native/handler.h"

namespace sluice::broker::native {
namespace {

// Defaults for a max_bytes of 0 (Kafka's fetch.max.bytes and max.partition.fetch.bytes).
constexpr uint64_t kDefaultMaxBytes = 50u << 20;
constexpr uint64_t kDefaultPartitionMaxBytes = 1u << 20;
// Keeps a response frame well inside the u32 length (KIP-74 may add one batch past max_bytes).
constexpr uint64_t kMaxResponseBytes = 1u << 30;

}  // namespace

asio::awaitable<void> HandleFetch(RequestContext& ctx, pb::RequestHeader& req, Response& resp) {
  const pb::FetchRequest& fr = req.fetch();
  std::vector<FetchPart> parts;
  parts.reserve(static_cast<size_t>(fr.partitions_size()));
  for (const auto& p : fr.partitions()) {
    FetchPart part;
    part.offset = Offset(p.offset());
    part.max_bytes = p.max_bytes() ? p.max_bytes() : kDefaultPartitionMaxBytes;
    auto log = ctx.broker.logs.GetPartition(p.topic(), PartitionId(p.partition()));
    if (log.ok()) {
      part.log = *std::move(log);
    } else {
      part.error = log.status();
    }
    parts.push_back(std::move(part));
  }
  FetchLimits limits;
  limits.max_bytes =
      std::min<uint64_t>(fr.max_bytes() ? fr.max_bytes() : kDefaultMaxBytes, kMaxResponseBytes);
  limits.min_bytes = fr.min_bytes();
  limits.max_wait = std::chrono::milliseconds(
      std::min<int64_t>(fr.max_wait_ms(), ctx.broker.config.request_timeout_ms));
  // Named before the co_await: see broker/README.md on lambdas in co_await expressions.
  const FetchHooks hooks{
      [&ctx] { ctx.ReleaseNext(); },
      [&ctx] { return ctx.connection_closed(); },
      [&ctx](const std::shared_ptr<Waker>& w) { ctx.RegisterWaker(w); },
  };
  co_await ReadWithLongPoll(ctx.broker.notifier, parts, limits, hooks);

  auto* out = resp.header.mutable_fetch();
  for (int i = 0; i < fr.partitions_size(); ++i) {
    const auto& rp = fr.partitions(i);
    FetchPart& p = parts[static_cast<size_t>(i)];
    auto* r = out->add_partitions();
    r->set_topic(rp.topic());
    r->set_partition(rp.partition());
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
    auto found = LookupOffset(**log, p.timestamp());
    SetError(r->mutable_error(), found.status());
    if (!found.ok()) continue;
    r->set_offset(found->offset.value());
    r->set_timestamp(found->timestamp);
  }
  co_return;
}

}  // namespace sluice::broker::native
