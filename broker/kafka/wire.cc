#include "broker/kafka/wire.h"

#include <bit>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "storage/absl_compat.h"
#include "storage/byte_order.h"
#include "storage/varint.h"

namespace sluice::broker::kafka {

using storage::LoadBigEndian;
using storage::StoreBigEndian;

uint64_t Records::size() const {
  uint64_t n = data.size() + owned.size();
  for (const auto& s : slices) n += s.size;
  return n;
}

// ------------------------------------------------------------------------------------ Reader

void Reader::Fail(std::string_view why) {
  if (error_.empty()) error_ = absl::StrCat(ToAbsl(why), " at byte ", pos_);
}

bool Reader::Need(size_t n, const char* what) {
  if (!ok()) return false;
  if (data_.size() - pos_ < n) {
    Fail(absl::StrCat(what, " needs ", n, " bytes, ", data_.size() - pos_, " left"));
    return false;
  }
  return true;
}

#define SLUICE_READ_FIXED(Name, T)            \
  T Reader::Name() {                          \
    if (!Need(sizeof(T), #Name)) return T{};  \
    T v = LoadBigEndian<T>(data_.data() + pos_); \
    pos_ += sizeof(T);                        \
    return v;                                 \
  }
SLUICE_READ_FIXED(Int8, int8_t)
SLUICE_READ_FIXED(Int16, int16_t)
SLUICE_READ_FIXED(Int32, int32_t)
SLUICE_READ_FIXED(Int64, int64_t)
SLUICE_READ_FIXED(Uint16, uint16_t)
SLUICE_READ_FIXED(Uint32, uint32_t)
#undef SLUICE_READ_FIXED

double Reader::Float64() { return std::bit_cast<double>(static_cast<uint64_t>(Int64())); }

bool Reader::Bool() { return Int8() != 0; }

int32_t Reader::Varint() {
  if (!ok()) return 0;
  auto d = storage::DecodeVarint(data_.subspan(pos_));
  if (!d) {
    Fail("malformed varint");
    return 0;
  }
  pos_ += d->size;
  return d->value;
}

int64_t Reader::Varlong() {
  if (!ok()) return 0;
  auto d = storage::DecodeVarlong(data_.subspan(pos_));
  if (!d) {
    Fail("malformed varlong");
    return 0;
  }
  pos_ += d->size;
  return d->value;
}

uint32_t Reader::UnsignedVarint() {
  if (!ok()) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 5; ++i) {
    if (pos_ >= data_.size()) {
      Fail("truncated unsigned varint");
      return 0;
    }
    const uint8_t b = data_[pos_++];
    if (i == 4 && (b & 0xF0) != 0) {
      Fail("unsigned varint exceeds 32 bits");
      return 0;
    }
    v |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  Fail("unsigned varint longer than 5 bytes");
  return 0;
}

Uuid Reader::ReadUuid() {
  Uuid u{};
  if (!Need(u.size(), "uuid")) return u;
  std::memcpy(u.data(), data_.data() + pos_, u.size());
  pos_ += u.size();
  return u;
}

std::span<uint8_t> Reader::Take(size_t n) {
  if (!Need(n, "field")) return {};
  auto out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Reader Reader::Sub(size_t n) {
  auto s = Take(n);
  Reader r(s);
  if (!ok()) r.Fail("truncated tagged field");
  return r;
}

namespace {
std::string AsString(std::span<uint8_t> s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}
}  // namespace

std::optional<std::string> Reader::NullableString() {
  const int16_t n = Int16();
  if (!ok()) return std::nullopt;
  if (n == -1) return std::nullopt;
  if (n < 0) {
    Fail(absl::StrCat("string length ", n));
    return std::nullopt;
  }
  if (!Need(static_cast<size_t>(n), "string")) return std::nullopt;
  return AsString(Take(static_cast<size_t>(n)));
}

std::string Reader::String() {
  const size_t at = pos_;
  auto s = NullableString();
  if (ok() && !s) {
    pos_ = at;
    Fail("null in a non-nullable string");
  }
  return s.value_or("");
}

std::optional<std::string> Reader::CompactNullableString() {
  const uint32_t n = UnsignedVarint();
  if (!ok() || n == 0) return std::nullopt;
  if (!Need(n - 1, "compact string")) return std::nullopt;
  return AsString(Take(n - 1));
}

std::string Reader::CompactString() {
  const size_t at = pos_;
  auto s = CompactNullableString();
  if (ok() && !s) {
    pos_ = at;
    Fail("null in a non-nullable compact string");
  }
  return s.value_or("");
}

std::optional<std::string> Reader::NullableBytes() {
  const int32_t n = Int32();
  if (!ok() || n == -1) return std::nullopt;
  if (n < 0) {
    Fail(absl::StrCat("bytes length ", n));
    return std::nullopt;
  }
  if (!Need(static_cast<size_t>(n), "bytes")) return std::nullopt;
  return AsString(Take(static_cast<size_t>(n)));
}

std::string Reader::Bytes() {
  const size_t at = pos_;
  auto s = NullableBytes();
  if (ok() && !s) {
    pos_ = at;
    Fail("null in non-nullable bytes");
  }
  return s.value_or("");
}

std::optional<std::string> Reader::CompactNullableBytes() { return CompactNullableString(); }

std::string Reader::CompactBytes() {
  const size_t at = pos_;
  auto s = CompactNullableBytes();
  if (ok() && !s) {
    pos_ = at;
    Fail("null in non-nullable compact bytes");
  }
  return s.value_or("");
}

Records Reader::ReadRecords(bool compact) {
  Records r;
  int64_t n;
  if (compact) {
    n = static_cast<int64_t>(UnsignedVarint()) - 1;
  } else {
    n = Int32();
  }
  if (!ok() || n == -1) return r;
  if (n < 0) {
    Fail(absl::StrCat("records length ", n));
    return r;
  }
  if (!Need(static_cast<size_t>(n), "records")) return r;
  r.null = false;
  r.data = Take(static_cast<size_t>(n));
  return r;
}

void Reader::ChargeMemory(size_t bytes) {
  memory_charged_ += bytes;
  if (memory_charged_ > memory_budget_) {
    Fail(absl::StrCat("the request would decode into more than ", memory_budget_,
                      " bytes of memory (", kMemoryAmplification, "x its ", data_.size(),
                      " bytes)"));
  }
}

int32_t Reader::ArrayLength(bool compact, size_t min_element_bytes) {
  int64_t n;
  if (compact) {
    n = static_cast<int64_t>(UnsignedVarint()) - 1;
  } else {
    n = Int32();
  }
  if (!ok()) return 0;
  if (n < -1 || n > std::numeric_limits<int32_t>::max()) {
    Fail(absl::StrCat("array length ", n));
    return 0;
  }
  if (n > 0 && static_cast<uint64_t>(n) * std::max<size_t>(min_element_bytes, 1) >
                   data_.size() - pos_) {
    Fail(absl::StrCat("array of ", n, " elements cannot fit in the ", data_.size() - pos_,
                      " bytes left"));
    return 0;
  }
  return static_cast<int32_t>(n);
}

// ------------------------------------------------------------------------------------ Writer

#define SLUICE_WRITE_FIXED(Name, T)                  \
  void Writer::Name(T v) {                           \
    const size_t at = bytes_.size();                 \
    bytes_.resize(at + sizeof(T));                   \
    StoreBigEndian<T>(bytes_.data() + at, v);        \
  }
SLUICE_WRITE_FIXED(Int8, int8_t)
SLUICE_WRITE_FIXED(Int16, int16_t)
SLUICE_WRITE_FIXED(Int32, int32_t)
SLUICE_WRITE_FIXED(Int64, int64_t)
SLUICE_WRITE_FIXED(Uint16, uint16_t)
SLUICE_WRITE_FIXED(Uint32, uint32_t)
#undef SLUICE_WRITE_FIXED

void Writer::Float64(double v) { Int64(static_cast<int64_t>(std::bit_cast<uint64_t>(v))); }

void Writer::UnsignedVarint(uint32_t v) {
  for (; v >= 0x80; v >>= 7) bytes_.push_back(static_cast<uint8_t>((v & 0x7F) | 0x80));
  bytes_.push_back(static_cast<uint8_t>(v));
}

void Writer::Varint(int32_t v) {
  uint32_t u = storage::ZigZagEncode32(v);
  for (; u >= 0x80; u >>= 7) bytes_.push_back(static_cast<uint8_t>((u & 0x7F) | 0x80));
  bytes_.push_back(static_cast<uint8_t>(u));
}

void Writer::Varlong(int64_t v) {
  uint64_t u = storage::ZigZagEncode64(v);
  for (; u >= 0x80; u >>= 7) bytes_.push_back(static_cast<uint8_t>((u & 0x7F) | 0x80));
  bytes_.push_back(static_cast<uint8_t>(u));
}

void Writer::WriteUuid(const Uuid& v) { bytes_.insert(bytes_.end(), v.begin(), v.end()); }

void Writer::Raw(std::span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }

void Writer::Raw(std::string_view b) {
  Raw(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

void Writer::String(std::string_view s) {
  // An int16 length cannot say more; a longer string is cut rather than sent with a wrapped
  // length that would desynchronise the whole response.
  s = s.substr(0, std::numeric_limits<int16_t>::max());
  Int16(static_cast<int16_t>(s.size()));
  Raw(s);
}

void Writer::NullableString(const std::optional<std::string>& s) {
  if (!s) {
    Int16(-1);
  } else {
    String(*s);
  }
}

void Writer::CompactString(std::string_view s) {
  UnsignedVarint(static_cast<uint32_t>(s.size() + 1));
  Raw(s);
}

void Writer::CompactNullableString(const std::optional<std::string>& s) {
  if (!s) {
    UnsignedVarint(0);
  } else {
    CompactString(*s);
  }
}

void Writer::Bytes(std::string_view s) {
  Int32(static_cast<int32_t>(s.size()));
  Raw(s);
}

void Writer::NullableBytes(const std::optional<std::string>& s) {
  if (!s) {
    Int32(-1);
  } else {
    Bytes(*s);
  }
}

void Writer::CompactBytes(std::string_view s) { CompactString(s); }

void Writer::CompactNullableBytes(const std::optional<std::string>& s) { CompactNullableString(s); }

void Writer::WriteRecords(const Records& r, bool compact) {
  if (r.null) {
    if (compact) {
      UnsignedVarint(0);
    } else {
      Int32(-1);
    }
    return;
  }
  const uint64_t n = r.size();
  if (compact) {
    UnsignedVarint(static_cast<uint32_t>(n + 1));
  } else {
    Int32(static_cast<int32_t>(n));
  }
  Raw(std::span<const uint8_t>(r.data.data(), r.data.size()));
  Raw(r.owned);
  for (const auto& s : r.slices) {
    if (s.size == 0) continue;
    splices_.push_back(Splice{bytes_.size(), s});
    spliced_bytes_ += s.size;
  }
}

void Writer::ArrayLength(int32_t n, bool compact) {
  if (compact) {
    UnsignedVarint(static_cast<uint32_t>(n + 1));
  } else {
    Int32(n);
  }
}

size_t Writer::ReserveInt32() {
  const size_t at = bytes_.size();
  Int32(0);
  return at;
}

void Writer::PatchInt32(size_t at, int32_t v) { StoreBigEndian<int32_t>(bytes_.data() + at, v); }

}  // namespace sluice::broker::kafka
