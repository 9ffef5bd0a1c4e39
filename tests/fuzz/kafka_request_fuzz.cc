// Fuzz target: the Kafka request decoder. The input is one request frame without its int32 size
// prefix (as tools/capture_kafka_corpus.py writes them): the request header (v0-v2), then the
// body. It goes through exactly what the broker's connection reads of a frame
// (ParseRequestHeader, then the registry's decoder for that key and version: the handler's own
// decode, broker/kafka/request_decoder.h), then, for a body that decodes:
//   - the decoded struct encodes and decodes back to an equal struct at that version;
//   - ApiVersions: the registry's hand-written decoder agrees with the generated struct;
//   - Produce: the checks the handler makes before appending (SplitBatches, the batch view,
//     ValidateForAppend, record iteration) run over every partition's records.
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "broker/kafka/kafka_messages.h"
#include "broker/kafka/request_decoder.h"
#include "broker/produce_common.h"
#include "storage/record_batch.h"
#include "tests/fuzz/fuzz_target.h"

namespace sluice::broker::kafka {
namespace {

// Encodes `req` at `version` and decodes the bytes again: the result must equal `req`.
template <typename Request>
void CheckRoundTrip(const Request& req, int16_t version) {
  Writer w;
  req.Encode(w, version);
  SLUICE_FUZZ_CHECK(w.splices().empty(), "a request encoded with file slices");
  std::vector<uint8_t> bytes = w.bytes();
  Reader r(bytes);
  Request again;
  const bool ok = again.Decode(r, version);
  SLUICE_FUZZ_CHECK(ok, "re-encoded request does not decode: %s", r.error().c_str());
  SLUICE_FUZZ_CHECK(r.remaining() == 0, "re-encoded request leaves %zu bytes", r.remaining());
  SLUICE_FUZZ_CHECK(again == req, "re-encoded request decodes to a different value");
}

template <typename Request>
bool DecodeAndCheck(std::span<uint8_t> body_bytes, int16_t version, Request* req) {
  Reader body(body_bytes);
  if (!req->Decode(body, version)) return false;
  CheckRoundTrip(*req, version);
  return true;
}

// What HandleProduce and AppendAll check before appending (without a log to append to).
void CheckProduceRecords(msg::ProduceRequest& req) {
  for (auto& t : req.topic_data) {
    for (auto& p : t.partition_data) {
      if (p.records.null) continue;
      auto batches = SplitBatches(p.records.data);
      if (!batches.ok()) continue;
      for (std::span<uint8_t> b : *batches) {
        auto view = storage::RecordBatchView::Parse(b);
        if (!view.ok()) continue;
        SLUICE_FUZZ_CHECK(view->size_bytes() == b.size(), "split batch and view disagree");
        (void)view->compression();
        (void)view->is_transactional();
        absl::Status valid = view->ValidateForAppend();
        size_t records = 0;
        absl::Status each = view->ForEachRecord([&](const storage::RecordView&) {
          ++records;
          return true;
        });
        if (valid.ok() && view->compression() == storage::Compression::kNone) {
          SLUICE_FUZZ_CHECK(each.ok(), "a batch valid for append does not iterate");
          SLUICE_FUZZ_CHECK(records == static_cast<size_t>(view->record_count()),
                            "iterated %zu records of %d", records, view->record_count());
        }
      }
    }
  }
}

template <typename Request>
void RunTyped(std::span<uint8_t> body, int16_t version) {
  Request req;
  DecodeAndCheck(body, version, &req);
}

void CheckBody(int16_t key, int16_t version, std::span<uint8_t> body) {
  switch (key) {
    case msg::ProduceRequest::kApiKey: {
      msg::ProduceRequest req;
      if (DecodeAndCheck(body, version, &req)) CheckProduceRecords(req);
      return;
    }
    case msg::FetchRequest::kApiKey: return RunTyped<msg::FetchRequest>(body, version);
    case msg::ListOffsetsRequest::kApiKey: return RunTyped<msg::ListOffsetsRequest>(body, version);
    case msg::MetadataRequest::kApiKey: return RunTyped<msg::MetadataRequest>(body, version);
    case msg::OffsetCommitRequest::kApiKey:
      return RunTyped<msg::OffsetCommitRequest>(body, version);
    case msg::OffsetFetchRequest::kApiKey: return RunTyped<msg::OffsetFetchRequest>(body, version);
    case msg::FindCoordinatorRequest::kApiKey:
      return RunTyped<msg::FindCoordinatorRequest>(body, version);
    case msg::JoinGroupRequest::kApiKey: return RunTyped<msg::JoinGroupRequest>(body, version);
    case msg::HeartbeatRequest::kApiKey: return RunTyped<msg::HeartbeatRequest>(body, version);
    case msg::LeaveGroupRequest::kApiKey: return RunTyped<msg::LeaveGroupRequest>(body, version);
    case msg::SyncGroupRequest::kApiKey: return RunTyped<msg::SyncGroupRequest>(body, version);
    case msg::DescribeGroupsRequest::kApiKey:
      return RunTyped<msg::DescribeGroupsRequest>(body, version);
    case msg::ListGroupsRequest::kApiKey: return RunTyped<msg::ListGroupsRequest>(body, version);
    case msg::ApiVersionsRequest::kApiKey: {
      // The registry's decoder is hand-written (handlers.cc); the generated struct must agree.
      msg::ApiVersionsRequest req;
      Reader generated(body);
      const bool generated_ok = req.Decode(generated, version);
      Reader hand(body);
      std::string name, software_version;
      const bool hand_ok = DecodeApiVersionsRequest(hand, version, &name, &software_version);
      SLUICE_FUZZ_CHECK(generated_ok == hand_ok,
                        "ApiVersions v%d: generated decoder %d (%s), hand %d (%s)", version,
                        generated_ok, generated.error().c_str(), hand_ok, hand.error().c_str());
      if (generated_ok) {
        SLUICE_FUZZ_CHECK(req.client_software_name == name &&
                              req.client_software_version == software_version,
                          "ApiVersions decoders read different software fields");
        CheckRoundTrip(req, version);
      }
      return;
    }
    case msg::CreateTopicsRequest::kApiKey: return RunTyped<msg::CreateTopicsRequest>(body, version);
    case msg::DeleteTopicsRequest::kApiKey: return RunTyped<msg::DeleteTopicsRequest>(body, version);
    case msg::DeleteRecordsRequest::kApiKey:
      return RunTyped<msg::DeleteRecordsRequest>(body, version);
    case msg::InitProducerIdRequest::kApiKey:
      return RunTyped<msg::InitProducerIdRequest>(body, version);
    case msg::OffsetForLeaderEpochRequest::kApiKey:
      return RunTyped<msg::OffsetForLeaderEpochRequest>(body, version);
    case msg::DescribeConfigsRequest::kApiKey:
      return RunTyped<msg::DescribeConfigsRequest>(body, version);
    case msg::CreatePartitionsRequest::kApiKey:
      return RunTyped<msg::CreatePartitionsRequest>(body, version);
    case msg::DeleteGroupsRequest::kApiKey: return RunTyped<msg::DeleteGroupsRequest>(body, version);
  }
  SLUICE_FUZZ_CHECK(false, "API key %d is served but not fuzzed: add it to CheckBody", key);
}

}  // namespace
}  // namespace sluice::broker::kafka

SLUICE_FUZZ_TARGET(kafka_request) {
  using namespace sluice::broker::kafka;
  // The connection decodes in its own (mutable) frame buffer; so do we.
  std::vector<uint8_t> frame(data, data + size);
  absl::StatusOr<ParsedRequestHeader> parsed = ParseRequestHeader(frame);
  const absl::Status decoded = DecodeRequest(frame);
  if (!parsed.ok()) {
    SLUICE_FUZZ_CHECK(!decoded.ok(), "DecodeRequest accepts what ParseRequestHeader rejects");
    return 0;
  }
  SLUICE_FUZZ_CHECK(parsed->api != nullptr && parsed->api->key == parsed->header.api_key,
                    "header parsed to the wrong API");
  SLUICE_FUZZ_CHECK(parsed->header_size <= frame.size(), "header size %u past the frame",
                    parsed->header_size);
  const ApiHandler& api = *parsed->api;
  const int16_t version = parsed->header.api_version;
  if (!api.supports(version)) {
    SLUICE_FUZZ_CHECK(api.key == kApiVersionsKey, "unsupported version let through");
    return 0;
  }
  std::span<uint8_t> body = std::span<uint8_t>(frame).subspan(parsed->header_size);
  // The registry's decoder and the typed one below are the same function for generated structs.
  std::vector<uint8_t> copy(body.begin(), body.end());
  Reader r(copy);
  const bool registry_ok = api.decode(r, version);
  SLUICE_FUZZ_CHECK(registry_ok == decoded.ok(), "DecodeRequest and the registry disagree");
  CheckBody(api.key, version, body);
  return 0;
}
