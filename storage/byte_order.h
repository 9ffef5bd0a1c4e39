#pragma once
// Big-endian loads and stores of fixed-width integers: the byte order of Kafka's wire format and
// of our on-disk batches. Header-only. memcpy keeps them free of alignment and aliasing UB and
// compiles to a single load/store plus a bswap. Callers check bounds; these do not.
//
// Example:
//   uint8_t buf[4];
//   StoreBigEndian<int32_t>(buf, -2);            // buf == {0xff, 0xff, 0xff, 0xfe}
//   int32_t v = LoadBigEndian<int32_t>(buf);     // v == -2

#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sluice::storage {
namespace byte_order_internal {

template <std::unsigned_integral U>
constexpr U ToOrFromBigEndian(U v) {
  if constexpr (sizeof(U) == 1 || std::endian::native == std::endian::big) {
    return v;
  } else if constexpr (sizeof(U) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(U) == 4) {
    return __builtin_bswap32(v);
  } else {
    static_assert(sizeof(U) == 8);
    return __builtin_bswap64(v);
  }
}

}  // namespace byte_order_internal

// Reads a T stored big-endian at p[0, sizeof(T)).
template <std::integral T>
requires(!std::same_as<T, bool>) T LoadBigEndian(const uint8_t* p) {
  std::make_unsigned_t<T> u;
  std::memcpy(&u, p, sizeof(u));
  // Unsigned-to-signed conversion is modular since C++20: no UB for any bit pattern.
  return static_cast<T>(byte_order_internal::ToOrFromBigEndian(u));
}

// Writes `v` big-endian to p[0, sizeof(T)).
template <std::integral T>
requires(!std::same_as<T, bool>) void StoreBigEndian(uint8_t* p, T v) {
  const auto u = byte_order_internal::ToOrFromBigEndian(static_cast<std::make_unsigned_t<T>>(v));
  std::memcpy(p, &u, sizeof(u));
}

}  // namespace sluice::storage
