// Fuzz target: the RecordBatch v2 view (storage/record_batch.h). The input is a run of batches
// as a segment or a Produce partition holds them. Each batch at the current position goes through
// Parse, VerifyCrc, ValidateForAppend and ForEachRecord, with these invariants:
//   - Parse's view covers exactly PeekBatchSize bytes, inside the input, with magic 2;
//   - a batch valid for append has a good CRC and recordCount = lastOffsetDelta + 1 > 0, and if
//     uncompressed its records iterate to exactly recordCount records with offsetDeltas 0, 1, ...
//     whose keys, values and headers lie inside the batch;
//   - such a batch rebuilt with RecordBatchBuilder from its decoded records is valid for append
//     and decodes to the same records.
#include <optional>
#include <string>
#include <vector>

#include "storage/record_batch.h"
#include "tests/fuzz/fuzz_target.h"

namespace sluice::storage {
namespace {

struct Decoded {
  int64_t timestamp;
  std::optional<std::string> key, value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  bool operator==(const Decoded&) const = default;
};

std::optional<std::string> Own(std::optional<std::string_view> s) {
  if (!s) return std::nullopt;
  return std::string(*s);
}

bool Inside(Bytes outer, std::string_view s) {
  const auto* b = reinterpret_cast<const uint8_t*>(s.data());
  return s.empty() || (b >= outer.data() && b + s.size() <= outer.data() + outer.size());
}

// Decodes every record of an uncompressed batch, checking the views stay inside it.
absl::Status DecodeAll(const RecordBatchView& v, std::vector<Decoded>* out) {
  return v.ForEachRecord([&](const RecordView& r) {
    if (r.key) SLUICE_FUZZ_CHECK(Inside(v.bytes(), *r.key), "key outside the batch");
    if (r.value) SLUICE_FUZZ_CHECK(Inside(v.bytes(), *r.value), "value outside the batch");
    Decoded d;
    // The builder's rule: base + delta, wrapping.
    d.timestamp = static_cast<int64_t>(static_cast<uint64_t>(v.base_timestamp()) +
                                       static_cast<uint64_t>(r.timestamp_delta));
    d.key = Own(r.key);
    d.value = Own(r.value);
    for (const RecordHeaderView& h : r.headers) {
      SLUICE_FUZZ_CHECK(Inside(v.bytes(), h.key), "header key outside the batch");
      if (h.value) SLUICE_FUZZ_CHECK(Inside(v.bytes(), *h.value), "header value outside");
      d.headers.emplace_back(std::string(h.key), Own(h.value));
    }
    out->push_back(std::move(d));
    return true;
  });
}

void CheckBatch(const RecordBatchView& v, Bytes input) {
  auto peek = PeekBatchSize(v.bytes());
  SLUICE_FUZZ_CHECK(peek.ok() && *peek == v.size_bytes(), "Parse and PeekBatchSize disagree");
  SLUICE_FUZZ_CHECK(v.size_bytes() >= kBatchHeaderSize && v.size_bytes() <= input.size(),
                    "view of %zu bytes from %zu", v.size_bytes(), input.size());
  SLUICE_FUZZ_CHECK(v.size_bytes() == kLogOverhead + static_cast<size_t>(v.batch_length()),
                    "view size and batchLength disagree");
  SLUICE_FUZZ_CHECK(v.magic() == kMagicV2 && v.record_count() >= 0, "Parse let a bad header by");
  (void)CompressionName(v.compression());
  (void)v.timestamp_type();
  (void)v.is_control();
  (void)v.has_delete_horizon();
  (void)v.last_offset();

  const absl::Status crc = v.VerifyCrc();
  const absl::Status valid = v.ValidateForAppend();
  std::vector<Decoded> records;
  const absl::Status each = DecodeAll(v, &records);
  if (!valid.ok()) return;
  SLUICE_FUZZ_CHECK(crc.ok(), "valid for append with a bad CRC");
  SLUICE_FUZZ_CHECK(v.record_count() > 0 && v.last_offset_delta() + 1 == v.record_count(),
                    "valid for append with recordCount %d, lastOffsetDelta %d", v.record_count(),
                    v.last_offset_delta());
  if (v.compression() != Compression::kNone) {
    SLUICE_FUZZ_CHECK(absl::IsUnimplemented(each), "iterated a compressed batch");
    return;
  }
  SLUICE_FUZZ_CHECK(each.ok(), "valid for append but records do not iterate: %s",
                    std::string(each.message()).c_str());
  SLUICE_FUZZ_CHECK(records.size() == static_cast<size_t>(v.record_count()),
                    "iterated %zu of %d records", records.size(), v.record_count());

  // Rebuild it: same records, valid again.
  RecordBatchBuilder::Options o;
  o.producer_id = v.producer_id();
  o.producer_epoch = v.producer_epoch();
  o.base_sequence = v.base_sequence();
  RecordBatchBuilder b(o);
  for (const Decoded& d : records) {
    std::vector<RecordBatchBuilder::Header> headers;
    for (const auto& [k, val] : d.headers) headers.push_back({k, val});
    b.Add(d.key, d.value, headers, d.timestamp);
  }
  std::string rebuilt = b.Build();
  auto again = RecordBatchView::Parse(AsBytes(rebuilt));
  SLUICE_FUZZ_CHECK(again.ok(), "rebuilt batch does not parse");
  SLUICE_FUZZ_CHECK(again->ValidateForAppend().ok(), "rebuilt batch is not valid for append");
  std::vector<Decoded> records_again;
  SLUICE_FUZZ_CHECK(DecodeAll(*again, &records_again).ok(), "rebuilt batch does not iterate");
  SLUICE_FUZZ_CHECK(records_again == records, "rebuilt batch decodes to different records");
}

}  // namespace
}  // namespace sluice::storage

SLUICE_FUZZ_TARGET(record_batch) {
  using namespace sluice::storage;
  Bytes input(data, size);
  // Walk the input as a segment is walked: one batch after another while the sizes hold.
  for (int i = 0; i < 64 && !input.empty(); ++i) {
    auto view = RecordBatchView::Parse(input);
    if (!view.ok()) {
      // PeekBatchSize alone may still accept what Parse rejects (a short input, a bad magic).
      (void)PeekBatchSize(input);
      break;
    }
    CheckBatch(*view, input);
    input = input.subspan(view->size_bytes());
  }
  return 0;
}
