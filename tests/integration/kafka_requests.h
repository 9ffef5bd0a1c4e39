#pragma once
// Kafka requests and record batches for the integration tests that speak raw Kafka (see
// kafka_test_conn.h for the connection): batches built with storage's RecordBatchBuilder, Produce /
// Fetch / ListOffsets requests from the generated message structs, and the single partition of a
// one-partition response.

#include <cstdint>
#include <span>
#include <string>

#include "broker/kafka/kafka_messages.h"
#include "broker/kafka/wire.h"
#include "gtest/gtest.h"
#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/record_batch.h"

namespace sluice::kafka_test {

namespace msg = broker::kafka::msg;

using ProducePartition = msg::ProduceResponse::TopicProduceResponse::PartitionProduceResponse;
using FetchPartition = msg::FetchResponse::FetchableTopicResponse::PartitionData;
using ListOffsetsPartition =
    msg::ListOffsetsResponse::ListOffsetsTopicResponse::ListOffsetsPartitionResponse;

// ---------------------------------------------------------------- batches

inline std::span<uint8_t> View(std::string& s) {
  return {reinterpret_cast<uint8_t*>(s.data()), s.size()};
}

inline std::string MakeBatch(int records, int64_t timestamp_ms, const std::string& tag,
                      storage::RecordBatchBuilder::Options options = {}) {
  storage::RecordBatchBuilder b(options);
  for (int i = 0; i < records; ++i) {
    std::string key = tag + "-k" + std::to_string(i);
    std::string value = tag + "-value-" + std::to_string(i) + std::string(40, 'x');
    b.Add(key, value, {}, timestamp_ms + i);
  }
  return b.Build();
}

// The batch as the broker stores and serves it: baseOffset patched.
inline std::string WithBase(std::string batch, int64_t base) {
  storage::SetBaseOffset(View(batch), Offset(base));
  return batch;
}

// Sets the attributes (e.g. a compression codec) and recomputes the CRC, so the batch stays
// valid for a broker that checks only the CRC of compressed batches.
inline std::string WithAttributes(std::string batch, int16_t attributes) {
  uint8_t* b = reinterpret_cast<uint8_t*>(batch.data());
  storage::StoreBigEndian<int16_t>(b + storage::kAttributesOffset, attributes);
  const uint32_t crc = storage::Crc32c(std::span<const uint8_t>(
      b + storage::kAttributesOffset, batch.size() - storage::kAttributesOffset));
  storage::StoreBigEndian<uint32_t>(b + storage::kCrcOffset, crc);
  return batch;
}

inline std::string Copy(const broker::kafka::Records& r) {
  return std::string(r.data.begin(), r.data.end());
}

// ---------------------------------------------------------------- requests

// `data` must outlive the request (records view it).
inline msg::ProduceRequest ProduceReq(const std::string& topic, int32_t partition, std::string& data,
                               int16_t acks = -1) {
  msg::ProduceRequest req;
  req.acks = acks;
  req.timeout_ms = 10000;
  auto& t = req.topic_data.emplace_back();
  t.name = topic;
  auto& p = t.partition_data.emplace_back();
  p.index = partition;
  p.records.null = false;
  p.records.data = View(data);
  return req;
}

inline msg::FetchRequest FetchReq(const std::string& topic, int32_t partition, int64_t offset,
                           int32_t max_wait_ms = 0, int32_t min_bytes = 0,
                           int32_t partition_max_bytes = 1 << 20) {
  msg::FetchRequest req;
  req.replica_id = -1;
  req.max_wait_ms = max_wait_ms;
  req.min_bytes = min_bytes;
  req.max_bytes = 10 << 20;
  req.isolation_level = 0;
  req.session_id = 0;
  req.session_epoch = -1;
  auto& t = req.topics.emplace_back();
  t.topic = topic;
  auto& p = t.partitions.emplace_back();
  p.partition = partition;
  p.fetch_offset = offset;
  p.partition_max_bytes = partition_max_bytes;
  return req;
}

inline msg::ListOffsetsRequest ListOffsetsReq(const std::string& topic, int64_t timestamp,
                                       int32_t max_num_offsets = 1) {
  msg::ListOffsetsRequest req;
  req.replica_id = -1;
  auto& t = req.topics.emplace_back();
  t.name = topic;
  auto& p = t.partitions.emplace_back();
  p.partition_index = 0;
  p.timestamp = timestamp;
  p.max_num_offsets = max_num_offsets;
  return req;
}

// The single partition of a one-partition response, or a default one (after a test failure).
inline ProducePartition OnlyPartition(const msg::ProduceResponse& r) {
  if (r.responses.size() != 1 || r.responses[0].partition_responses.size() != 1) {
    ADD_FAILURE() << "expected one partition in the produce response";
    return {};
  }
  return r.responses[0].partition_responses[0];
}

inline const FetchPartition* OnlyPartition(const msg::FetchResponse& r) {
  if (r.responses.size() != 1 || r.responses[0].partitions.size() != 1) {
    ADD_FAILURE() << "expected one partition in the fetch response";
    return nullptr;
  }
  return &r.responses[0].partitions[0];
}

inline ListOffsetsPartition OnlyPartition(const msg::ListOffsetsResponse& r) {
  if (r.topics.size() != 1 || r.topics[0].partitions.size() != 1) {
    ADD_FAILURE() << "expected one partition in the list offsets response";
    return {};
  }
  return r.topics[0].partitions[0];
}

}  // namespace sluice::kafka_test
