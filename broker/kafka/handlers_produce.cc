// Kafka Produce (API key 0, v0-8). The append, the long-poll wake-up and the durability wait are
// the native handler's (broker/produce_common.h); this file is the Kafka request/response shape
// and the checks Kafka makes before appending.
//
// Behaviour, and where it departs from Kafka:
// - v0-2 carry legacy message sets (magic 0/1), which Sluice does not convert: every partition is
//   answered UNSUPPORTED_VERSION and nothing is appended. They stay advertised because
//   librdkafka 2.0.2 disables compression unless Produce v0 is (see
//   /work/shared/reference/kafka-client-versions.md; Kafka 4.0 does the same).
// - acks other than 0, 1, -1: INVALID_REQUIRED_ACKS for every partition, nothing appended.
// - Transactions are not supported: a request with a transactional_id or any transactional
//   batch is answered TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition, nothing
//   appended, as Redpanda does with transactions disabled (Kafka answers the same code when a
//   transactional batch comes without an authorized transactional id).
// - Like Kafka (ProduceRequest.validateRecords): a first batch whose magic is not 2 is
//   INVALID_RECORD, zstd below v7 is UNSUPPORTED_COMPRESSION_TYPE. Anything else malformed
//   (bad CRC, truncated, record count mismatch) is storage's verdict, CORRUPT_MESSAGE. Unlike
//   Kafka, a partition may carry several batches (the native protocol allows it too): all are
//   validated before any is appended.
// - Compressed batches are stored as they came; storage checks their CRC only.
// - Topics are auto-created (--auto-create-topics); a missing partition of an existing topic is
//   UNKNOWN_TOPIC_OR_PARTITION.
// - acks=-1, or a topic whose flush policy wants a sync per append, waits for fdatasync; a
//   partition that is not durable within timeout_ms (0: 30 s) or whose sync failed is answered
//   REQUEST_TIMED_OUT / KAFKA_STORAGE_ERROR, never success.
// - An idempotent producer's duplicate batch is answered NONE with the original base offset
//   (PartitionLog::Append); sequence and epoch errors come from storage too.
// - acks=0: no response. As Kafka and Redpanda do, an error in such a request closes the
//   connection instead (the producer's only way to learn of it).
// - log_append_time_ms is always -1 (topics use CreateTime); record_errors is empty; v8's
//   error_message carries storage's explanation.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/kafka/errors.h"
#include "broker/kafka/handler.h"
#include "broker/kafka/kafka_messages.h"
#include "broker/produce_common.h"
#include "storage/record_batch.h"

namespace sluice::broker::kafka {
namespace {

using PartitionResponse = msg::ProduceResponse::TopicProduceResponse::PartitionProduceResponse;

// First version whose batches may be zstd-compressed (KIP-110).
constexpr int16_t kFirstZstdVersion = 7;
// First version carrying RecordBatch v2 (magic 2).
constexpr int16_t kFirstBatchV2Version = 3;
// Byte offset of the magic byte, the same in every message format (legacy message sets start
// with offset, size and crc; RecordBatch v2 with baseOffset, batchLength, partitionLeaderEpoch).
constexpr size_t kMagicOffset = storage::kCrcOffset - 1;

void SetError(PartitionResponse& r, ErrorCode code, std::optional<std::string> message) {
  r.error_code = Code(code);
  r.error_message = std::move(message);
  r.base_offset = -1;
  r.log_start_offset = -1;
}

// Kafka's per-partition checks before an append. `batches` is the partition's data split into
// batches (or the split's error).
std::optional<std::pair<ErrorCode, std::string>> CheckBatches(
    const msg::ProduceRequest::TopicProduceData::PartitionProduceData& p,
    const absl::StatusOr<std::vector<std::span<uint8_t>>>& batches, int16_t version) {
  if (p.records.null || p.records.data.empty()) {
    return std::make_pair(ErrorCode::kInvalidRecord, std::string("no record batch"));
  }
  if (p.records.data.size() > kMagicOffset && p.records.data[kMagicOffset] != storage::kMagicV2) {
    return std::make_pair(
        ErrorCode::kInvalidRecord,
        absl::StrCat("produce v", version, " accepts record batches with magic 2 only, got ",
                     static_cast<int>(static_cast<int8_t>(p.records.data[kMagicOffset]))));
  }
  if (!batches.ok()) return std::nullopt;  // the append reports it (CORRUPT_MESSAGE)
  for (auto b : *batches) {
    auto view = storage::RecordBatchView::Parse(b);
    if (!view.ok()) continue;  // likewise
    if (version < kFirstZstdVersion && view->compression() == storage::Compression::kZstd) {
      return std::make_pair(ErrorCode::kUnsupportedCompressionType,
                            absl::StrCat("zstd needs produce v", kFirstZstdVersion));
    }
  }
  return std::nullopt;
}

bool HasTransactionalBatch(const std::vector<std::span<uint8_t>>& batches) {
  for (auto b : batches) {
    auto view = storage::RecordBatchView::Parse(b);
    if (view.ok() && view->is_transactional()) return true;
  }
  return false;
}

}  // namespace

asio::awaitable<absl::Status> HandleProduce(RequestContext& ctx, Reader& body, Response& resp) {
  msg::ProduceRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  const int16_t version = ctx.api_version;

  // Response entries in request order, with the defaults of a partition not appended to.
  msg::ProduceResponse out;
  out.throttle_time_ms = 0;
  for (const auto& t : req.topic_data) {
    auto& rt = out.responses.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partition_data) {
      auto& rp = rt.partition_responses.emplace_back();
      rp.index = p.index;
      rp.error_code = Code(ErrorCode::kNone);
      rp.base_offset = -1;
      rp.log_append_time_ms = -1;
      rp.log_start_offset = -1;
    }
  }

  // Split every partition's data first: request-wide checks look at all batches.
  std::vector<std::vector<absl::StatusOr<std::vector<std::span<uint8_t>>>>> split;
  bool transactional = req.transactional_id.has_value();
  for (auto& t : req.topic_data) {
    auto& st = split.emplace_back();
    for (auto& p : t.partition_data) {
      st.push_back(SplitBatches(p.records.data));
      if (st.back().ok()) transactional = transactional || HasTransactionalBatch(*st.back());
    }
  }

  std::optional<std::pair<ErrorCode, std::string>> request_error;
  if (version < kFirstBatchV2Version) {
    request_error.emplace(ErrorCode::kUnsupportedVersion,
                          "legacy message formats (produce v0-2) are not supported; use v3+");
  } else if (req.acks != 0 && req.acks != 1 && req.acks != -1) {
    request_error.emplace(ErrorCode::kInvalidRequiredAcks,
                          absl::StrCat("acks must be 0, 1 or -1, got ", req.acks));
  } else if (transactional) {
    request_error.emplace(ErrorCode::kTransactionalIdAuthorizationFailed,
                          "transactions are not supported by this broker");
  }

  std::vector<DurableTarget> durable;
  std::vector<PartitionResponse*> durable_response;  // the response entry of each target
  bool any_error = false;
  for (size_t ti = 0; ti < req.topic_data.size(); ++ti) {
    auto& t = req.topic_data[ti];
    for (size_t pi = 0; pi < t.partition_data.size(); ++pi) {
      auto& p = t.partition_data[pi];
      PartitionResponse& r = out.responses[ti].partition_responses[pi];
      if (request_error) {
        SetError(r, request_error->first, request_error->second);
        any_error = true;
        continue;
      }
      const auto& batches = split[ti][pi];
      if (auto bad = CheckBatches(p, batches, version)) {
        SetError(r, bad->first, std::move(bad->second));
        any_error = true;
        continue;
      }
      auto log = co_await ctx.broker.topics.Partition(t.name, p.index, /*auto_create=*/true);
      absl::Status failed = !log.ok() ? log.status() : batches.status();
      absl::StatusOr<Appended> appended =
          failed.ok() ? AppendBatches(**log, *batches) : absl::StatusOr<Appended>(failed);
      if (!appended.ok()) {
        SetError(r, ErrorFor(appended.status()), MessageFor(appended.status()));
        any_error = true;
        continue;
      }
      ctx.broker.notifier.Notify(log->get());
      r.base_offset = appended->base.value();
      r.log_start_offset = (*log)->log_start_offset().value();
      if (req.acks == -1 || appended->sync_before_ack) {
        durable.push_back(DurableTarget{*log, appended->last});
        durable_response.push_back(&r);
      }
    }
  }
  // Appends are done: later requests on this connection may start while we wait for fdatasync.
  ctx.ReleaseNext();

  if (req.acks == 0) {
    resp.send = false;
    if (any_error) {
      co_return absl::FailedPreconditionError(
          "acks=0 produce failed for some partition: closing the connection to tell the client");
    }
    co_return absl::OkStatus();
  }
  if (!durable.empty()) {
    std::vector<absl::Status> results =
        co_await AwaitDurable(std::move(durable), ProduceTimeout(req.timeout_ms, ctx.broker.config.request_timeout_ms));
    for (size_t k = 0; k < results.size(); ++k) {
      if (results[k].ok()) continue;
      SetError(*durable_response[k], DurabilityErrorFor(results[k]),
               absl::StrCat("not durable: ", results[k].message()));
    }
  }
  out.Encode(resp.body, version);
  co_return absl::OkStatus();
}

}  // namespace sluice::broker::kafka
