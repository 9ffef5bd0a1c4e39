// Kafka handlers: DeleteRecords, OffsetForLeaderEpoch, InitProducerId.
#include <limits>

#include "absl/strings/str_cat.h"
#include "broker/kafka/errors.h"
#include "broker/kafka/handler.h"
#include "broker/kafka/kafka_messages.h"
#include "storage/errors.h"

namespace sluice::broker::kafka {

asio::awaitable<absl::Status> HandleDeleteRecords(RequestContext& ctx, Reader& body,
                                                  Response& resp) {
  msg::DeleteRecordsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::DeleteRecordsResponse out;
  for (const auto& t : req.topics) {
    msg::DeleteRecordsResponse::DeleteRecordsTopicResult tr;
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      msg::DeleteRecordsResponse::DeleteRecordsTopicResult::DeleteRecordsPartitionResult pr;
      pr.partition_index = p.partition_index;
      pr.low_watermark = -1;
      auto log = ctx.broker.logs.GetPartition(t.name, PartitionId(p.partition_index));
      if (!log.ok()) {
        pr.error_code = Code(ErrorFor(log.status()));
        tr.partitions.push_back(std::move(pr));
        continue;
      }
      // -1 means "up to the high watermark" (Kafka's DeleteRecordsRequest.HIGH_WATERMARK).
      const int64_t hw = (*log)->high_watermark().value();
      const int64_t offset = p.offset == -1 ? hw : p.offset;
      absl::Status s;
      if (offset < 0 || offset > hw) {
        s = storage::StorageError(storage::StorageErrc::kOffsetOutOfRange,
                                  absl::StrCat("offset ", p.offset, " is outside [0, ", hw, "]"));
      } else {
        s = (*log)->DeleteRecordsBefore(Offset(offset));
      }
      pr.error_code = Code(ErrorFor(s));
      pr.low_watermark = (*log)->log_start_offset().value();
      tr.partitions.push_back(std::move(pr));
    }
    out.topics.push_back(std::move(tr));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

// A single node never changes leader, so every partition has one leader epoch and its end is
// the log end: a client asking for any epoch learns that its log does not diverge from ours.
asio::awaitable<absl::Status> HandleOffsetForLeaderEpoch(RequestContext& ctx, Reader& body,
                                                         Response& resp) {
  msg::OffsetForLeaderEpochRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::OffsetForLeaderEpochResponse out;
  for (const auto& t : req.topics) {
    msg::OffsetForLeaderEpochResponse::OffsetForLeaderTopicResult tr;
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      msg::OffsetForLeaderEpochResponse::OffsetForLeaderTopicResult::EpochEndOffset e;
      e.partition = p.partition;
      auto log = ctx.broker.logs.GetPartition(t.topic, PartitionId(p.partition));
      if (!log.ok()) {
        e.error_code = Code(ErrorFor(log.status()));
        e.leader_epoch = -1;
        e.end_offset = -1;
      } else {
        e.error_code = Code(ErrorCode::kNone);
        e.leader_epoch = p.leader_epoch;
        e.end_offset = (*log)->log_end_offset().value();
      }
      tr.partitions.push_back(std::move(e));
    }
    out.topics.push_back(std::move(tr));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

// Idempotent producers only: a producer id unique across restarts, epoch 0. Transactions are not
// implemented, so a transactional id is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as
// Produce refuses transactional batches (and as Redpanda answers with transactions off). With a known producer id and epoch (v3+,
// KIP-360) the epoch is bumped, as Kafka does for a producer recovering from a sequence error.
asio::awaitable<absl::Status> HandleInitProducerId(RequestContext& ctx, Reader& body,
                                                   Response& resp) {
  msg::InitProducerIdRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::InitProducerIdResponse out;
  out.producer_id = -1;
  out.producer_epoch = -1;
  if (req.transactional_id && !req.transactional_id->empty()) {
    out.error_code = Code(ErrorCode::kTransactionalIdAuthorizationFailed);
  } else if (req.producer_id >= 0 && req.producer_epoch >= 0 &&
             req.producer_epoch < std::numeric_limits<int16_t>::max() - 1) {
    out.error_code = Code(ErrorCode::kNone);
    out.producer_id = req.producer_id;
    out.producer_epoch = static_cast<int16_t>(req.producer_epoch + 1);
  } else {
    // A new id (also when the epoch would overflow, as Kafka does).
    auto id = ctx.broker.logs.AllocateProducerId();
    if (!id.ok()) {
      out.error_code = Code(ErrorFor(id.status()));
    } else {
      out.error_code = Code(ErrorCode::kNone);
      out.producer_id = *id;
      out.producer_epoch = 0;
    }
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

}  // namespace sluice::broker::kafka
