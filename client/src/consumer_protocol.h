#pragma once
// Kafka's ConsumerProtocol encodings, which consumer group members exchange through the
// coordinator as opaque bytes: the Subscription each member sends in JoinGroup and the
// Assignment the leader sends for each member in SyncGroup. Using Kafka's layout lets Kafka
// clients and sluice consumers share a group. Big-endian; strings are int16 length + bytes;
// arrays are an int32 count; bytes are an int32 length (-1: null).
//
//   Subscription v0: int16 version | [string topic] | bytes user_data
//                v1+ appends [string topic, [int32 partition]] owned_partitions (read, not
//                written: we write v0)
//   Assignment v0:   int16 version | [string topic, [int32 partition]] | bytes user_data
//   StickyAssignorUserData v1 (in user_data, for "cooperative-sticky"):
//                    [string topic, [int32 partition]] previous_assignment | int32 generation
//
// Example:
//   std::string bytes = EncodeSubscription({.topics = {"orders"}});
//   absl::StatusOr<Subscription> s = DecodeSubscription(bytes);

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sluice/types.h"

namespace sluice::client {

struct Subscription {
  std::vector<std::string> topics;
  std::string user_data;                         // empty: null
  std::vector<TopicPartition> owned_partitions;  // from v1+ subscriptions (Kafka clients)
};

struct MemberAssignment {
  std::vector<TopicPartition> partitions;
  std::string user_data;  // empty: null
};

struct StickyUserData {
  std::vector<TopicPartition> previous_assignment;
  int32_t generation = -1;
};

std::string EncodeSubscription(const Subscription& s);
// Accepts every version: later versions only append fields.
absl::StatusOr<Subscription> DecodeSubscription(std::string_view bytes);

// Partitions are written grouped by topic, in (topic, partition) order.
std::string EncodeAssignment(const MemberAssignment& a);
absl::StatusOr<MemberAssignment> DecodeAssignment(std::string_view bytes);

std::string EncodeStickyUserData(const StickyUserData& d);
absl::StatusOr<StickyUserData> DecodeStickyUserData(std::string_view bytes);

}  // namespace sluice::client
