#pragma once
// CRC32C (Castagnoli), as Kafka's RecordBatch v2 uses, computed by ISA-L's crc32_iscsi
// (PCLMULQDQ/CRC32 instructions, chosen at run time). See bench/crc32c_bench.cc for figures.

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::storage {

// Standard CRC32C of `data` (check value for "123456789" is 0xE3069283).
uint32_t Crc32c(std::span<const uint8_t> data);
// Continues a CRC32C: Crc32cExtend(Crc32c(a), b) == Crc32c(a ++ b).
uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data);

}  // namespace sluice::storage
