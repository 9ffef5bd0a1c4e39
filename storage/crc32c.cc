#include "storage/crc32c.h"

#include <isa-l/crc.h>

namespace sluice::storage {

uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data) {
  // crc32_iscsi takes and returns the un-inverted register.
  return crc32_iscsi(const_cast<unsigned char*>(data.data()), static_cast<int>(data.size()),
                     crc ^ 0xFFFFFFFFu) ^
         0xFFFFFFFFu;
}

uint32_t Crc32c(std::span<const uint8_t> data) { return Crc32cExtend(0, data); }

}  // namespace sluice::storage
