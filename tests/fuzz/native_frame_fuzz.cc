// Fuzz target: the broker's native frame decoder. The input is a byte stream as a client sends
// it: frames `u32 length | u32 header_length | RequestHeader | payload`, one after another. Each
// goes through what the native connection's reader does (CheckFrameLength, CheckHeaderLength,
// ParseRequestFrame, the handler lookup; broker/native/connection.cc) until a frame is malformed
// (the connection would close) or the stream ends mid-frame (it would wait for more). For a
// Produce the broker accepts, the payload is then split among the partitions as HandleProduce
// does, and each partition's batches are checked as AppendAll does before appending.
//   Invariants: an accepted frame's payload is exactly the partitions' sizes (HandleProduce
//   slices the payload trusting it); other requests carry no payload.
#include <span>
#include <vector>

#include "broker/native/frame.h"
#include "broker/native/handler.h"
#include "broker/produce_common.h"
#include "proto/native.pb.h"
#include "proto/native_frame.h"
#include "storage/record_batch.h"
#include "tests/fuzz/fuzz_target.h"

namespace sluice::broker::native {
namespace {

namespace wire = ::sluice::native;

void CheckProduce(const pb::RequestHeader& h, std::span<uint8_t> payload) {
  size_t at = 0;
  for (const auto& p : h.produce().partitions()) {
    SLUICE_FUZZ_CHECK(at + p.size() <= payload.size(),
                      "partition sizes run past the %zu-byte payload", payload.size());
    std::span<uint8_t> data = payload.subspan(at, p.size());
    at += p.size();
    auto batches = SplitBatches(data);
    if (!batches.ok()) continue;
    size_t covered = 0;
    for (std::span<uint8_t> b : *batches) {
      covered += b.size();
      auto view = storage::RecordBatchView::Parse(b);
      if (view.ok()) (void)view->ValidateForAppend();
    }
    SLUICE_FUZZ_CHECK(covered == data.size(), "SplitBatches covered %zu of %zu bytes", covered,
                      data.size());
  }
  SLUICE_FUZZ_CHECK(at == payload.size(), "partition sizes leave payload bytes over");
}

}  // namespace
}  // namespace sluice::broker::native

SLUICE_FUZZ_TARGET(native_frame) {
  using namespace sluice::broker::native;
  namespace wire = ::sluice::native;
  // The reader's buffer is mutable (Produce patches baseOffset in place); so is ours.
  std::vector<uint8_t> stream(data, data + size);
  size_t pos = 0;
  for (int frames = 0; frames < 64; ++frames) {
    if (stream.size() - pos < wire::kLengthFieldSize) break;
    const uint32_t length = wire::GetFrameU32(stream.data() + pos);
    if (wire::CheckFrameLength(length, wire::kDefaultMaxFrameBytes)) break;
    if (stream.size() - pos < wire::kFramePrefixSize) break;
    const uint32_t header_length = wire::GetFrameU32(stream.data() + pos + 4);
    if (wire::CheckHeaderLength(header_length, length)) break;
    if (stream.size() - pos - wire::kLengthFieldSize < length) break;  // waits for the rest
    std::span<uint8_t> body(stream.data() + pos + wire::kFramePrefixSize, length - 4);
    pos += wire::kLengthFieldSize + length;

    pb::RequestHeader header;
    if (ParseRequestFrame(body, header_length, &header)) break;  // malformed: closes
    if (!SupportedVersion(header)) continue;                     // UNSUPPORTED_VERSION
    SLUICE_FUZZ_CHECK(header.request_case() != pb::RequestHeader::REQUEST_NOT_SET,
                      "a supported-version header without a request was accepted");
    std::span<uint8_t> payload = body.subspan(header_length);
    const HandlerInfo* handler = FindHandler(header.request_case());
    if (handler != nullptr) {
      SLUICE_FUZZ_CHECK(handler->request == header.request_case(), "wrong handler");
    }
    if (header.request_case() == pb::RequestHeader::kProduce) {
      CheckProduce(header, payload);
    } else {
      SLUICE_FUZZ_CHECK(payload.empty(), "a %d request with %zu payload bytes was accepted",
                        static_cast<int>(header.request_case()), payload.size());
    }
  }
  return 0;
}
