#include "client/src/partitioner.h"

namespace sluice::client {

int32_t Murmur2(std::string_view data) {
  // Unsigned arithmetic gives Java's wrapping int multiplication and `>>>`.
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const uint32_t length = static_cast<uint32_t>(data.size());
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  uint32_t h = kSeed ^ length;
  const uint32_t blocks = length / 4;
  for (uint32_t i = 0; i < blocks; ++i) {
    const uint8_t* b = p + 4 * i;
    uint32_t k =
        uint32_t(b[0]) | (uint32_t(b[1]) << 8) | (uint32_t(b[2]) << 16) | (uint32_t(b[3]) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const uint8_t* tail = p + (length & ~3u);
  switch (length % 4) {
    case 3:
      h ^= uint32_t(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t(tail[0]);
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

StickyPartitioner::StickyPartitioner(uint64_t seed)
    : rng_(seed != 0 ? seed : std::random_device{}()) {}

int32_t StickyPartitioner::Partition(const std::string& topic, int32_t num_partitions) {
  auto it = sticky_.find(topic);
  if (it != sticky_.end() && it->second < num_partitions) return it->second;
  const int32_t p = Pick(num_partitions, -1);
  sticky_[topic] = p;
  return p;
}

void StickyPartitioner::OnBatchDone(const std::string& topic, int32_t partition,
                                    int32_t num_partitions) {
  auto it = sticky_.find(topic);
  if (it == sticky_.end() || it->second != partition) return;
  it->second = Pick(num_partitions, partition);
}

int32_t StickyPartitioner::Pick(int32_t num_partitions, int32_t avoid) {
  if (num_partitions <= 1) return 0;
  if (avoid < 0 || avoid >= num_partitions) {
    return static_cast<int32_t>(rng_() % static_cast<uint64_t>(num_partitions));
  }
  // Uniform over the other num_partitions - 1 partitions.
  const auto r = static_cast<int32_t>(rng_() % static_cast<uint64_t>(num_partitions - 1));
  return r >= avoid ? r + 1 : r;
}

}  // namespace sluice::client
