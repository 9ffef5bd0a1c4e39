#pragma once
// Partition choice compatible with Kafka's Java producer: a keyed record goes to
// toPositive(murmur2(key)) % partitions, so the same key lands on the same partition whichever
// client produced it; a record without a key goes to the topic's sticky partition, which changes
// only when a batch for it is completed, so small keyless records still fill large batches.
//
// Example:
//   int32_t p = KeyPartition("customer-17", 12);
//   StickyPartitioner sticky(/*seed=*/0);
//   int32_t q = sticky.Partition("orders", 12);   // the same q until OnBatchDone("orders", q)

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>

namespace sluice::client {

// Kafka's Utils.murmur2: MurmurHash2, seed 0x9747b28c, little-endian 4-byte blocks, as a signed
// 32-bit value.
int32_t Murmur2(std::string_view data);

// Kafka's Utils.toPositive: clears the sign bit (not abs(), so INT32_MIN maps to 0).
inline int32_t ToPositive(int32_t v) { return v & 0x7fffffff; }

// Kafka's default partition for a keyed record. `num_partitions` > 0.
inline int32_t KeyPartition(std::string_view key, int32_t num_partitions) {
  return ToPositive(Murmur2(key)) % num_partitions;
}

// Per-topic sticky partition for records without a key. Owned by the producer's io thread.
class StickyPartitioner {
 public:
  // `seed` 0: seeded from std::random_device.
  explicit StickyPartitioner(uint64_t seed);

  // The topic's current sticky partition, chosen at random on first use or when the topic's
  // partition count no longer covers it.
  int32_t Partition(const std::string& topic, int32_t num_partitions);

  // A batch of `partition` was completed (full or sent). If it is the sticky one, switch to a
  // different partition chosen at random (when there is more than one).
  void OnBatchDone(const std::string& topic, int32_t partition, int32_t num_partitions);

 private:
  int32_t Pick(int32_t num_partitions, int32_t avoid);

  std::mt19937_64 rng_;
  std::map<std::string, int32_t, std::less<>> sticky_;
};

}  // namespace sluice::client
