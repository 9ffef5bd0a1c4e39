#pragma once
// Key and value layouts of the column families in the metadata RocksDB (data/meta/). All integers
// big-endian so keys sort numerically; see docs/storage.md for the full description.
//
// Every per-partition key starts with an 8-byte PartitionKey: topic_id (u32) | partition (u32).
// Topic ids are never reused, so a deleted topic's leftovers can never alias a new topic's.
//
//   cf "offset_index": PartitionKey | base_offset (u64)
//                      -> last_offset_delta (u32) | segment_base (u64) | position (u64) |
//                         size (u32) | max_timestamp (i64)                           [32 bytes]
//   cf "time_index":   PartitionKey | max_timestamp (i64, sign bit flipped) -> base_offset (u64)
//                      written only when a batch raises the partition's max timestamp, so both
//                      columns rise together and Seek(T) finds the first batch with a record >= T.
//   cf "partitions":   PartitionKey | 'c' -> checkpoint: segment_base | position | next_offset
//                      PartitionKey | 'l' -> log_start_offset
//                      PartitionKey | 's' | segment_base -> closed segment summary:
//                                             size (u64) | max_timestamp (i64)
//                      PartitionKey | 'p' -> producer state snapshot, written in the same write
//                                            batch as the checkpoint 'c' (producer_state.cc):
//                        format (u8 = 1) | as_of offset (u64) | producer count (u32) | per
//                        producer: producer_id (i64) | epoch (i16) | last_append_ms (i64) |
//                        batch count n (u8, 1..5) | n x { first_seq (i32) | last_seq (i32) |
//                        base_offset (i64) | last_offset (i64) | max_timestamp (i64) }
//   cf "topics":       topic name -> TopicRecord (proto/storage_meta.proto);
//                      "\0next_topic_id" -> u32
//   cf "default":      "next_producer_id" -> u64, the first producer id not yet reserved
//
// The offset and time indexes are written without RocksDB's WAL: the segments are the truth and
// recovery rebuilds whatever index tail a crash lost. Everything else is written with the WAL.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sluice::storage::index_format {

constexpr size_t kPartitionKeySize = 8;
constexpr size_t kOffsetEntryValueSize = 32;

inline void PutU32(std::string* dst, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  dst->append(b, 4);
}
inline void PutU64(std::string* dst, uint64_t v) {
  PutU32(dst, uint32_t(v >> 32));
  PutU32(dst, uint32_t(v));
}
inline uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t(u[0]) << 24) | (uint32_t(u[1]) << 16) | (uint32_t(u[2]) << 8) | u[3];
}
inline uint64_t GetU64(const char* p) { return (uint64_t(GetU32(p)) << 32) | GetU32(p + 4); }

// Order-preserving encoding of a signed timestamp.
inline uint64_t EncodeTimestamp(int64_t ts) { return uint64_t(ts) ^ (uint64_t(1) << 63); }
inline int64_t DecodeTimestamp(uint64_t v) { return int64_t(v ^ (uint64_t(1) << 63)); }

}  // namespace sluice::storage::index_format
