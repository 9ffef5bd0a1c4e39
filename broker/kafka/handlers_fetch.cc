// Kafka Fetch (API key 1, v0-11) and ListOffsets (API key 2, v0-5). The reads, the long poll and
// the offset lookup are the native handlers' (broker/fetch_common.h); this file is the Kafka
// request/response shape.
//
// Fetch behaviour, and where it departs from Kafka:
// - v0-3 consumers expect legacy message sets, which Sluice does not down-convert: every
//   partition is answered UNSUPPORTED_VERSION with empty records.
// - Records are sent zero-copy: the response's records carry the segments' file slices, which the
//   connection sendfile()s. Whole batches only; KIP-74: the first partition with data returns at
//   least one batch even past partition_max_bytes / max_bytes.
// - Long poll on max_wait_ms / min_bytes, woken by appends; an error in any partition answers at
//   once (as Kafka does).
// - Unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION (fetch never auto-creates). A fetch
//   offset outside [log start, high watermark]: OFFSET_OUT_OF_RANGE with the high watermark and
//   log start filled in, so the consumer can apply its auto.offset.reset.
// - There are no transactions, so read_committed reads what read_uncommitted reads: the last
//   stable offset is the high watermark and there are no aborted transactions (null for
//   read_uncommitted, empty for read_committed, as Kafka answers).
// - Fetch sessions (KIP-227, v7+) are not kept: the response's session_id is always 0, which tells
//   the client "no session" (Kafka's FetchSessionHandler then sends full fetches again; librdkafka
//   2.0.2 does not use sessions at all). Every response is a full one for the partitions
//   requested; forgotten_topics_data is ignored (nothing was remembered).
// - replica_id, current_leader_epoch (v9+) and rack_id (v11) are ignored: one node, no epochs,
//   no follower fetching; preferred_read_replica is always -1.
//
// ListOffsets behaviour:
// - timestamp -1: the high watermark (latest, also for read_committed: no transactions); -2: the
//   log start (earliest); else the first offset whose record timestamp is >= it (-1/-1 when every
//   record is older); another negative timestamp is INVALID_REQUEST.
// - v0 answers old_style_offsets with at most one offset, the one v1 would answer (Kafka's
//   legacy segment-based list is not reproduced); empty when max_num_offsets <= 0 or nothing
//   was found.
// - v1+: a partition named twice in one request is INVALID_REQUEST for each occurrence, as Kafka.
// - v4+: leader_epoch -1 (no epochs); current_leader_epoch is ignored.
#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/fetch_common.h"
#include "broker/kafka/errors.h"
#include "broker/kafka/handler.h"
#include "broker/kafka/kafka_messages.h"

namespace sluice::broker::kafka {
namespace {

using FetchPartitionResponse = msg::FetchResponse::FetchableTopicResponse::PartitionData;
using ListOffsetsPartitionResponse =
    msg::ListOffsetsResponse::ListOffsetsTopicResponse::ListOffsetsPartitionResponse;

// First Fetch version whose clients read RecordBatch v2 (magic 2).
constexpr int16_t kFirstBatchV2FetchVersion = 4;
// Keeps a response well inside the int32 frame length (KIP-74 may add one batch past max_bytes).
constexpr uint64_t kMaxResponseBytes = 1u << 30;
// Fetch's isolation_level.
constexpr int8_t kReadCommitted = 1;

uint64_t NonNegative(int64_t v) { return v > 0 ? static_cast<uint64_t>(v) : 0; }

Records EmptyRecords() {
  Records r;
  r.null = false;
  return r;
}

}  // namespace

asio::awaitable<absl::Status> HandleFetch(RequestContext& ctx, Reader& body, Response& resp) {
  msg::FetchRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  const int16_t version = ctx.api_version;
  const bool supported = version >= kFirstBatchV2FetchVersion;

  // Resolve every partition, in request order.
  std::vector<FetchPart> parts;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) {
      FetchPart& part = parts.emplace_back();
      part.offset = Offset(p.fetch_offset);
      part.max_bytes = NonNegative(p.partition_max_bytes);
      if (!supported) continue;  // answered below without reading
      auto log = ctx.broker.logs.GetPartition(t.topic, PartitionId(p.partition));
      if (log.ok()) {
        part.log = *std::move(log);
      } else {
        part.error = log.status();
      }
    }
  }
  if (supported) {
    FetchLimits limits;
    limits.max_bytes = std::min(NonNegative(req.max_bytes), kMaxResponseBytes);
    limits.min_bytes = NonNegative(req.min_bytes);
    limits.max_wait = std::chrono::milliseconds(
        std::min<int64_t>(NonNegative(req.max_wait_ms), ctx.broker.config.request_timeout_ms));
    // Named before the co_await: see broker/README.md on lambdas in co_await expressions.
    const FetchHooks hooks{
        [&ctx] { ctx.ReleaseNext(); },
        [&ctx] { return ctx.connection_closed(); },
        [&ctx](const std::shared_ptr<Waker>& w) { ctx.RegisterWaker(w); },
    };
    co_await ReadWithLongPoll(ctx.broker.notifier, parts, limits, hooks);
  }

  msg::FetchResponse out;
  out.throttle_time_ms = 0;
  out.error_code = Code(ErrorCode::kNone);
  out.session_id = 0;  // no fetch session (see the top of the file)
  size_t i = 0;
  for (const auto& t : req.topics) {
    auto& rt = out.responses.emplace_back();
    rt.topic = t.topic;
    for (const auto& p : t.partitions) {
      FetchPart& part = parts[i++];
      FetchPartitionResponse& r = rt.partitions.emplace_back();
      r.partition_index = p.partition;
      r.preferred_read_replica = -1;
      r.records = EmptyRecords();
      if (!supported) {
        r.error_code = Code(ErrorCode::kUnsupportedVersion);
        r.high_watermark = r.last_stable_offset = r.log_start_offset = -1;
        continue;
      }
      r.error_code = Code(ErrorFor(part.error));
      if (!part.log) {
        r.high_watermark = r.last_stable_offset = r.log_start_offset = -1;
        continue;
      }
      if (part.error.ok()) {
        r.high_watermark = part.read.high_watermark.value();
        r.log_start_offset = part.read.log_start_offset.value();
        r.records.slices = std::move(part.read.slices);
      } else {
        r.high_watermark = part.log->high_watermark().value();
        r.log_start_offset = part.log->log_start_offset().value();
      }
      r.last_stable_offset = r.high_watermark;
      if (req.isolation_level == kReadCommitted) r.aborted_transactions.emplace();
    }
  }
  out.Encode(resp.body, version);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> HandleListOffsets(RequestContext& ctx, Reader& body,
                                                Response& resp) {
  msg::ListOffsetsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  const int16_t version = ctx.api_version;

  std::map<std::pair<std::string, int32_t>, int> seen;  // v1+: duplicates are refused
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) ++seen[{t.name, p.partition_index}];
  }

  msg::ListOffsetsResponse out;
  out.throttle_time_ms = 0;
  for (const auto& t : req.topics) {
    auto& rt = out.topics.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partitions) {
      ListOffsetsPartitionResponse& r = rt.partitions.emplace_back();
      r.partition_index = p.partition_index;
      r.timestamp = -1;
      r.offset = -1;
      r.leader_epoch = -1;
      absl::StatusOr<ListedOffset> found = absl::InvalidArgumentError("partition listed twice");
      if (version == 0 || seen[{t.name, p.partition_index}] == 1) {
        auto log = ctx.broker.logs.GetPartition(t.name, PartitionId(p.partition_index));
        if (log.ok()) {
          found = LookupOffset(**log, p.timestamp);
        } else {
          found = log.status();
        }
      }
      r.error_code = Code(ErrorFor(found.status()));
      if (!found.ok()) continue;
      r.timestamp = found->timestamp;
      r.offset = found->offset.value();
      if (found->offset.value() >= 0 && p.max_num_offsets > 0) {
        r.old_style_offsets.push_back(found->offset.value());
      }
    }
  }
  out.Encode(resp.body, version);
  co_return absl::OkStatus();
}

}  // namespace sluice::broker::kafka
