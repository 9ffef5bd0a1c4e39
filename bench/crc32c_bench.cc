// CRC32C throughput: storage::Crc32c (ISA-L's crc32_iscsi, PCLMULQDQ folding chosen at run time)
// against two portable software implementations kept here only as yardsticks, so the choice of
// ISA-L is backed by a number. Part of the storage_bench binary.

#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "benchmark/benchmark.h"
#include "storage/crc32c.h"

namespace sluice::bench {
namespace {

// Reflected Castagnoli polynomial.
constexpr uint32_t kPoly = 0x82F63B78u;

// tables[k][b]: the CRC of byte b followed by k zero bytes (slicing-by-8, Intel's 2008 paper).
constexpr std::array<std::array<uint32_t, 256>, 8> MakeTables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPoly : 0);
    t[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}
constexpr auto kTables = MakeTables();

// The classic one-table, byte-at-a-time loop.
uint32_t Crc32cBytewise(std::span<const uint8_t> data) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : data) c = (c >> 8) ^ kTables[0][(c ^ b) & 0xFF];
  return c ^ 0xFFFFFFFFu;
}

// Slicing-by-8: eight table lookups per 8 bytes, no data dependency between them.
uint32_t Crc32cSlicing8(std::span<const uint8_t> data) {
  uint32_t c = 0xFFFFFFFFu;
  const uint8_t* p = data.data();
  size_t n = data.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo = c ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
                       uint32_t(p[3]) << 24);
    c = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
        kTables[4][lo >> 24] ^ kTables[3][p[4]] ^ kTables[2][p[5]] ^ kTables[1][p[6]] ^
        kTables[0][p[7]];
  }
  for (; n > 0; ++p, --n) c = (c >> 8) ^ kTables[0][(c ^ *p) & 0xFF];
  return c ^ 0xFFFFFFFFu;
}

const std::vector<uint8_t>& RandomBytes() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> v(1 << 20);
    std::mt19937 rng(7);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
  }();
  return bytes;
}

// Runs `crc` over range(0) bytes; first checks it against the standard check value and against
// storage::Crc32c on the benchmark's own input, so a fast wrong answer cannot pass.
template <uint32_t (*crc)(std::span<const uint8_t>)>
void RunCrc(benchmark::State& state) {
  static constexpr uint8_t kCheck[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  std::span<const uint8_t> data(RandomBytes().data(), static_cast<size_t>(state.range(0)));
  if (crc(std::span<const uint8_t>(kCheck, sizeof(kCheck))) != 0xE3069283u || crc(data) != storage::Crc32c(data)) {
    state.SkipWithError("CRC32C implementation gives a wrong result");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(crc(data));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(data.size()));
}

uint32_t IsaL(std::span<const uint8_t> data) { return storage::Crc32c(data); }

void BM_Crc32c(benchmark::State& state) { RunCrc<IsaL>(state); }
void BM_Crc32cSlicing8(benchmark::State& state) { RunCrc<Crc32cSlicing8>(state); }
void BM_Crc32cBytewise(benchmark::State& state) { RunCrc<Crc32cBytewise>(state); }

BENCHMARK(BM_Crc32c)->Arg(1024)->Arg(65536)->Arg(1 << 20);
BENCHMARK(BM_Crc32cSlicing8)->Arg(1024)->Arg(65536)->Arg(1 << 20);
BENCHMARK(BM_Crc32cBytewise)->Arg(1024)->Arg(65536)->Arg(1 << 20);

}  // namespace
}  // namespace sluice::bench
