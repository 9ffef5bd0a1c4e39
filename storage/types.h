#pragma once
// Strong integer types for the quantities a log deals in, so an offset cannot be passed where a
// file position or a partition number is expected (Redpanda's model::offset).

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>

namespace sluice {

template <typename Tag, typename Rep>
class StrongInt {
 public:
  using rep = Rep;
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr auto operator<=>(const StrongInt&) const = default;
  constexpr StrongInt operator+(Rep d) const { return StrongInt(v_ + d); }
  constexpr StrongInt operator-(Rep d) const { return StrongInt(v_ - d); }
  constexpr Rep operator-(StrongInt o) const { return v_ - o.v_; }
  StrongInt& operator+=(Rep d) { v_ += d; return *this; }
  static constexpr StrongInt Max() { return StrongInt(std::numeric_limits<Rep>::max()); }
  friend std::ostream& operator<<(std::ostream& os, StrongInt s) { return os << s.v_; }
  template <typename H>
  friend H AbslHashValue(H h, StrongInt s) { return H::combine(std::move(h), s.v_); }

 private:
  Rep v_ = 0;
};

// A record's position in its partition (Kafka offset).
using Offset = StrongInt<struct OffsetTag, int64_t>;
// A partition number within a topic.
using PartitionId = StrongInt<struct PartitionIdTag, int32_t>;
// Milliseconds since the Unix epoch, as Kafka timestamps are.
using TimestampMs = StrongInt<struct TimestampTag, int64_t>;

}  // namespace sluice

template <typename Tag, typename Rep>
struct std::hash<sluice::StrongInt<Tag, Rep>> {
  size_t operator()(sluice::StrongInt<Tag, Rep> s) const { return std::hash<Rep>()(s.value()); }
};
