// The generated Kafka messages (kafka_messages.h from broker/kafka/schema/*.json).
//
// Three kinds of checks:
//  - every message at every supported version: populated structs round-trip, every truncation
//    and random garbage fails cleanly (run these under the sanitizer build too);
//  - byte-exact bodies built by hand from Kafka's protocol guide (kafka.apache.org/protocol),
//    which pin field order, widths, compact encodings and tagged sections;
//  - the API table and every message's constants against Kafka's published versions, so a wrong
//    flexible threshold or version range is caught even where no vector covers it.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "broker/kafka/kafka_messages.h"
#include "broker/kafka/kafka_messages_testing.h"
#include "storage/record_batch.h"

namespace sluice::broker::kafka::msg {
namespace {

using Bytes = std::vector<uint8_t>;

// Builds an expected body from bytes and string contents.
class Body {
 public:
  Body& b(std::initializer_list<int> bytes) {
    for (int x : bytes) v.push_back(static_cast<uint8_t>(x));
    return *this;
  }
  Body& s(std::string_view text) {
    v.insert(v.end(), text.begin(), text.end());
    return *this;
  }
  Bytes v;
};

std::string Hex(const Bytes& b) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (uint8_t x : b) {
    out += kDigits[x >> 4];
    out += kDigits[x & 15];
    out += ' ';
  }
  return out;
}

template <typename M>
Bytes Encode(const M& m, int16_t version) {
  Writer w;
  m.Encode(w, version);
  EXPECT_TRUE(w.splices().empty());
  return w.bytes();
}

// Decodes all of `bytes` (which must outlive the result: records view it) or fails the test.
template <typename M>
M MustDecode(Bytes& bytes, int16_t version) {
  M m;
  Reader r(bytes);
  EXPECT_TRUE(m.Decode(r, version)) << r.error();
  EXPECT_EQ(r.remaining(), 0u) << "undecoded bytes";
  return m;
}

template <typename M>
bool Decodes(Bytes bytes, int16_t version) {
  M m;
  Reader r(bytes);
  return m.Decode(r, version);
}

// ----------------------------------------------------------------- every message, every version

template <typename Tuple>
struct ToTypes;
template <typename... Ts>
struct ToTypes<std::tuple<Ts...>> {
  using type = ::testing::Types<Ts...>;
};

template <typename M>
class EveryMessageTest : public ::testing::Test {};
TYPED_TEST_SUITE(EveryMessageTest, ToTypes<testing::AllMessages>::type);

constexpr uint64_t kSeeds = 24;

TYPED_TEST(EveryMessageTest, PopulatedMessagesRoundTripAtEveryVersion) {
  using M = TypeParam;
  for (int16_t v = M::kMinVersion; v <= M::kMaxVersion; ++v) {
    bool populated = false;
    for (uint64_t seed = 0; seed < kSeeds; ++seed) {
      M in;
      testing::Filler filler(seed * 7919 + static_cast<uint64_t>(v));
      testing::Populate(in, v, filler);
      populated |= !(in == M{});
      Bytes bytes = Encode(in, v);
      M out;
      Reader r(bytes);
      ASSERT_TRUE(out.Decode(r, v)) << "v" << v << " seed " << seed << ": " << r.error();
      EXPECT_EQ(r.remaining(), 0u) << "v" << v << " seed " << seed;
      EXPECT_TRUE(in == out) << "v" << v << " seed " << seed << ": " << Hex(bytes);
      EXPECT_EQ(Encode(out, v), bytes) << "v" << v << " seed " << seed;
    }
    // A version with fields must have been exercised with non-default values.
    const size_t empty_size = Encode(M{}, v).size();
    EXPECT_TRUE(populated || empty_size <= 1) << "v" << v << " never populated";
  }
}

TYPED_TEST(EveryMessageTest, EveryTruncationFailsCleanly) {
  using M = TypeParam;
  for (int16_t v = M::kMinVersion; v <= M::kMaxVersion; ++v) {
    for (uint64_t seed = 0; seed < 4; ++seed) {
      M in;
      testing::Filler filler(seed + 1000);
      testing::Populate(in, v, filler);
      const Bytes full = Encode(in, v);
      for (size_t len = 0; len < full.size(); ++len) {
        // An exact-size copy, so a read past the end is a sanitizer error, not a silent read.
        Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
        M out;
        Reader r(cut);
        EXPECT_FALSE(out.Decode(r, v)) << "v" << v << " cut at " << len << " of " << full.size();
        EXPECT_FALSE(r.error().empty());
      }
    }
  }
}

// Random bytes and corrupted encodings: decoding fails or succeeds, never crashes; whatever
// decodes re-encodes to something that decodes to the same struct.
TYPED_TEST(EveryMessageTest, GarbageFailsOrDecodesConsistently) {
  using M = TypeParam;
  testing::Filler rnd(42);
  for (int16_t v = M::kMinVersion; v <= M::kMaxVersion; ++v) {
    for (int round = 0; round < 200; ++round) {
      Bytes input;
      if (round % 2 == 0) {
        input.resize(rnd.Count() * 16 + rnd.Count() * 3);
        for (auto& b : input) b = rnd.Value<uint8_t>(0);
      } else {
        M valid;
        testing::Filler filler(static_cast<uint64_t>(round));
        testing::Populate(valid, v, filler);
        input = Encode(valid, v);
        if (input.empty()) continue;
        for (size_t k = 0; k <= rnd.Count(); ++k) {
          input[rnd.Value<uint32_t>(0) % input.size()] = rnd.Value<uint8_t>(0);
        }
      }
      M out;
      Reader r(input);
      if (!out.Decode(r, v)) continue;
      Bytes again = Encode(out, v);
      M back;
      Reader r2(again);
      ASSERT_TRUE(back.Decode(r2, v)) << r2.error();
      EXPECT_TRUE(back == out) << "v" << v << " round " << round << ": " << Hex(input);
    }
  }
}

TYPED_TEST(EveryMessageTest, VersionsOutsideTheRangeAreRefused) {
  using M = TypeParam;
  Bytes body(64, 0);
  M m;
  Reader r(body);
  EXPECT_FALSE(m.Decode(r, static_cast<int16_t>(M::kMaxVersion + 1)));
  Reader neg(body);
  EXPECT_FALSE(m.Decode(neg, -1));
}

TYPED_TEST(EveryMessageTest, ConstantsMatchTheApiTable) {
  using M = TypeParam;
  int rows = 0;
  for (const ApiInfo& api : AllApis()) {
    if (api.key != M::kApiKey) continue;
    ++rows;
    EXPECT_EQ(api.min_version, M::kMinVersion);
    EXPECT_EQ(api.max_version, M::kMaxVersion);
    EXPECT_EQ(api.first_flexible_version, M::kFirstFlexibleVersion);
  }
  EXPECT_EQ(rows, 1);
}

// ------------------------------------------------------------------------------ the API table

TEST(ApiTableTest, MatchesWhatWeSupportAndKafkasFlexibleVersions) {
  // Our versions (the Kafka brief) and Kafka's first flexible version of each API (its
  // schemas' flexibleVersions), written out independently of the schema files.
  struct Row {
    int16_t key;
    const char* name;
    int16_t max_version;
    int16_t first_flexible;
  };
  const std::vector<Row> expected = {
      {0, "Produce", 8, 9},
      {1, "Fetch", 11, 12},
      {2, "ListOffsets", 5, 6},
      {3, "Metadata", 8, 9},
      {8, "OffsetCommit", 7, 8},
      {9, "OffsetFetch", 7, 6},
      {10, "FindCoordinator", 2, 3},
      {11, "JoinGroup", 5, 6},
      {12, "Heartbeat", 3, 4},
      {13, "LeaveGroup", 3, 4},
      {14, "SyncGroup", 3, 4},
      {15, "DescribeGroups", 4, 5},
      {16, "ListGroups", 4, 3},
      {18, "ApiVersions", 3, 3},
      {19, "CreateTopics", 4, 5},
      {20, "DeleteTopics", 3, 4},
      {21, "DeleteRecords", 1, 2},
      {22, "InitProducerId", 4, 2},
      {23, "OffsetForLeaderEpoch", 3, 4},
      {32, "DescribeConfigs", 3, 4},
      {37, "CreatePartitions", 1, 2},
      {42, "DeleteGroups", 1, 2},
  };
  auto apis = AllApis();
  ASSERT_EQ(apis.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(expected[i].name);
    EXPECT_EQ(apis[i].key, expected[i].key);
    EXPECT_STREQ(apis[i].name, expected[i].name);
    EXPECT_EQ(apis[i].min_version, 0);
    EXPECT_EQ(apis[i].max_version, expected[i].max_version);
    EXPECT_EQ(apis[i].first_flexible_version, expected[i].first_flexible);
  }
}

// -------------------------------------------------------------------- hand-built byte vectors

TEST(MessageBytesTest, MetadataRequestNullAndEmptyTopics) {
  MetadataRequest all;  // topics null = all topics (v1+)
  Bytes v1 = Body().b({0xFF, 0xFF, 0xFF, 0xFF}).v;
  EXPECT_EQ(Encode(all, 1), v1);
  EXPECT_FALSE(MustDecode<MetadataRequest>(v1, 1).topics.has_value());
  // v0 has no null array: a null is sent empty (which v0 reads as all topics), and a null
  // received at v0 is malformed.
  EXPECT_EQ(Encode(all, 0), Body().b({0, 0, 0, 0}).v);
  EXPECT_FALSE(Decodes<MetadataRequest>(v1, 0));

  MetadataRequest one;
  one.topics.emplace().push_back({.name = "t"});
  one.allow_auto_topic_creation = false;
  Bytes v4 = Body().b({0, 0, 0, 1, 0, 1}).s("t").b({0}).v;
  EXPECT_EQ(Encode(one, 4), v4);
  auto back = MustDecode<MetadataRequest>(v4, 4);
  ASSERT_TRUE(back.topics.has_value());
  ASSERT_EQ(back.topics->size(), 1u);
  EXPECT_EQ((*back.topics)[0].name, "t");
  EXPECT_FALSE(back.allow_auto_topic_creation);
  // allow_auto_topic_creation is v4+: not sent at v3, and defaults to true when absent.
  EXPECT_EQ(Encode(one, 3), Body().b({0, 0, 0, 1, 0, 1}).s("t").v);
  Bytes v3 = Encode(one, 3);
  EXPECT_TRUE(MustDecode<MetadataRequest>(v3, 3).allow_auto_topic_creation);
}

TEST(MessageBytesTest, ApiVersionsRequestV3IsFlexible) {
  ApiVersionsRequest req;
  req.client_software_name = "sluice";
  req.client_software_version = "1.0";
  // Compact strings (length + 1), then an empty tagged-field section.
  Bytes v3 = Body().b({7}).s("sluice").b({4}).s("1.0").b({0}).v;
  EXPECT_EQ(Encode(req, 3), v3);
  auto back = MustDecode<ApiVersionsRequest>(v3, 3);
  EXPECT_EQ(back.client_software_name, "sluice");
  EXPECT_EQ(back.client_software_version, "1.0");
  // v0-2 have an empty body.
  EXPECT_TRUE(Encode(req, 2).empty());
  // Unknown tags (here tag 5 with 2 bytes) are skipped.
  Bytes tagged = Body().b({7}).s("sluice").b({4}).s("1.0").b({1, 5, 2, 0xAA, 0xBB}).v;
  EXPECT_EQ(MustDecode<ApiVersionsRequest>(tagged, 3).client_software_name, "sluice");
}

TEST(MessageBytesTest, ApiVersionsResponseTaggedFields) {
  ApiVersionsResponse resp;
  resp.api_keys.push_back({.api_key = 18, .min_version = 0, .max_version = 3});
  Bytes v0 = Body().b({0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3}).v;
  EXPECT_EQ(Encode(resp, 0), v0);
  // v3: compact array, a tag section per element and one for the body; default tagged fields
  // are not sent.
  Bytes v3 = Body().b({0, 0, 2, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0}).v;
  EXPECT_EQ(Encode(resp, 3), v3);
  // Non-default tagged fields go out in ascending tag order, each with its size.
  resp.zk_migration_ready = true;
  resp.finalized_features_epoch = 5;
  Bytes with_tags = Body()
                        .b({0, 0, 2, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 0})
                        .b({2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5, 3, 1, 1})
                        .v;
  EXPECT_EQ(Encode(resp, 3), with_tags);
  auto back = MustDecode<ApiVersionsResponse>(with_tags, 3);
  EXPECT_EQ(back.finalized_features_epoch, 5);
  EXPECT_TRUE(back.zk_migration_ready);
  EXPECT_TRUE(back == resp);
}

TEST(MessageBytesTest, UnknownTagsAreSkippedAndKnownOnesRead) {
  // Tag 7 (unknown, 3 bytes) before tag 1 (FinalizedFeaturesEpoch = 9).
  Bytes body = Body()
                   .b({0, 0, 1, 0, 0, 0, 0})  // error, no api keys, throttle
                   .b({2, 7, 3, 1, 2, 3, 1, 8, 0, 0, 0, 0, 0, 0, 0, 9})
                   .v;
  EXPECT_EQ(MustDecode<ApiVersionsResponse>(body, 3).finalized_features_epoch, 9);
  // A tagged field longer than its value: the rest of its bytes are skipped.
  Bytes longer = Body().b({0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 1, 0xEE, 0xEE}).v;
  EXPECT_TRUE(MustDecode<ApiVersionsResponse>(longer, 3).zk_migration_ready);
  // A known tag too short for its value, or a size past the end, fails.
  EXPECT_FALSE(Decodes<ApiVersionsResponse>(Body().b({0, 0, 1, 0, 0, 0, 0, 1, 1, 2, 0, 5}).v, 3));
  EXPECT_FALSE(Decodes<ApiVersionsResponse>(Body().b({0, 0, 1, 0, 0, 0, 0, 1, 9, 4, 0}).v, 3));
  // Unknown tags inside a nested struct (an OffsetFetch v6 topic) are skipped too.
  Bytes nested = Body().b({2}).s("g").b({2, 2}).s("t").b({1, 1, 10, 1, 0xFF, 0}).v;
  auto req = MustDecode<OffsetFetchRequest>(nested, 6);
  ASSERT_TRUE(req.topics.has_value());
  ASSERT_EQ(req.topics->size(), 1u);
  EXPECT_EQ((*req.topics)[0].name, "t");
}

TEST(MessageBytesTest, OffsetFetchRequestBecomesFlexibleAtV6) {
  OffsetFetchRequest req;
  req.group_id = "g";
  req.topics.emplace().push_back({.name = "t", .partition_indexes = {0, 1}});
  Bytes v5 = Body()
                 .b({0, 1})
                 .s("g")
                 .b({0, 0, 0, 1, 0, 1})
                 .s("t")
                 .b({0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1})
                 .v;
  EXPECT_EQ(Encode(req, 5), v5);
  Bytes v6 = Body().b({2}).s("g").b({2, 2}).s("t").b({3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}).v;
  EXPECT_EQ(Encode(req, 6), v6);
  EXPECT_TRUE(MustDecode<OffsetFetchRequest>(v6, 6) == req);
  req.require_stable = true;
  Bytes v7 = Body().b({2}).s("g").b({2, 2}).s("t").b({3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0}).v;
  EXPECT_EQ(Encode(req, 7), v7);
  EXPECT_TRUE(MustDecode<OffsetFetchRequest>(v7, 7) == req);
  // All topics: a null array (compact null = 0).
  req.topics.reset();
  Bytes all = Body().b({2}).s("g").b({0, 1, 0}).v;
  EXPECT_EQ(Encode(req, 7), all);
  EXPECT_FALSE(MustDecode<OffsetFetchRequest>(all, 7).topics.has_value());
}

TEST(MessageBytesTest, JoinGroupRequestV5) {
  JoinGroupRequest req;
  req.group_id = "grp";
  req.session_timeout_ms = 30000;
  req.rebalance_timeout_ms = 300000;
  req.protocol_type = "consumer";
  req.protocols.push_back({.name = "range", .metadata = std::string("\x01\x02", 2)});
  Bytes v5 = Body()
                 .b({0, 3})
                 .s("grp")
                 .b({0, 0, 0x75, 0x30})     // session timeout 30000
                 .b({0, 0x04, 0x93, 0xE0})  // rebalance timeout 300000
                 .b({0, 0})                 // member id ""
                 .b({0xFF, 0xFF})           // group instance id null
                 .b({0, 8})
                 .s("consumer")
                 .b({0, 0, 0, 1, 0, 5})
                 .s("range")
                 .b({0, 0, 0, 2, 1, 2})
                 .v;
  EXPECT_EQ(Encode(req, 5), v5);
  auto back = MustDecode<JoinGroupRequest>(v5, 5);
  EXPECT_TRUE(back == req);
  EXPECT_FALSE(back.group_instance_id.has_value());
  // v0 has neither the rebalance timeout nor the instance id.
  Bytes v0 = Encode(req, 0);
  EXPECT_EQ(v0.size(), v5.size() - 4 - 2);
  EXPECT_EQ(MustDecode<JoinGroupRequest>(v0, 0).rebalance_timeout_ms, -1);
  // A null member id is malformed (the field is not nullable).
  Bytes null_member = v5;
  null_member[13] = 0xFF;
  null_member[14] = 0xFF;
  EXPECT_FALSE(Decodes<JoinGroupRequest>(null_member, 5));
}

TEST(MessageBytesTest, ProduceRequestV7CarriesARecordBatchByView) {
  storage::RecordBatchBuilder builder;
  builder.Add("key", "value", {}, 1700000000000);
  const std::string batch = builder.Build();
  ASSERT_EQ(batch[16], 2);  // magic
  Bytes v7 =
      Body()
          .b({0xFF, 0xFF})        // transactional id null
          .b({0xFF, 0xFF})        // acks -1
          .b({0, 0, 0x75, 0x30})  // timeout 30000
          .b({0, 0, 0, 1, 0, 5})
          .s("topic")
          .b({0, 0, 0, 1, 0, 0, 0, 3})  // one partition: index 3
          .b({0, 0, static_cast<int>(batch.size() >> 8), static_cast<int>(batch.size() & 0xFF)})
          .s(batch)
          .v;
  auto req = MustDecode<ProduceRequest>(v7, 7);
  EXPECT_FALSE(req.transactional_id.has_value());
  EXPECT_EQ(req.acks, -1);
  EXPECT_EQ(req.timeout_ms, 30000);
  ASSERT_EQ(req.topic_data.size(), 1u);
  EXPECT_EQ(req.topic_data[0].name, "topic");
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 1u);
  const auto& part = req.topic_data[0].partition_data[0];
  EXPECT_EQ(part.index, 3);
  ASSERT_FALSE(part.records.null);
  // The records are a view of the request buffer (Produce patches baseOffset in place).
  EXPECT_EQ(part.records.data.data(), v7.data() + (v7.size() - batch.size()));
  auto view = storage::RecordBatchView::Parse(part.records.data);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->record_count(), 1);

  ProduceRequest out;
  out.acks = -1;
  out.timeout_ms = 30000;
  Records rec;
  rec.null = false;
  rec.owned = batch;
  out.topic_data.push_back({.name = "topic", .partition_data = {{.index = 3, .records = rec}}});
  EXPECT_EQ(Encode(out, 7), v7);
  // transactional_id is v3+: at v2 it is not sent even when set.
  out.transactional_id = "tx";
  Bytes v2 = Encode(out, 2);
  EXPECT_EQ(Bytes(v2.begin(), v2.begin() + 2), Body().b({0xFF, 0xFF}).v);  // acks first
  EXPECT_EQ(v2.size(), v7.size() - 2);
}

TEST(MessageBytesTest, FetchResponseRecordsSlicesAreSpliced) {
  FetchResponse resp;
  auto& topic = resp.responses.emplace_back();
  topic.topic = "t";
  auto& part = topic.partitions.emplace_back();
  part.high_watermark = 10;
  part.records.null = false;
  part.records.slices.push_back(storage::FileSlice{nullptr, 4096, 100});
  Writer w;
  resp.Encode(w, 4);
  // throttle, topics[1], "t", partitions[1], index, error, hw, lso, aborted (null), records.
  Bytes expected = Body()
                       .b({0, 0, 0, 0, 0, 0, 0, 1, 0, 1})
                       .s("t")
                       .b({0, 0, 0, 1, 0, 0, 0, 0, 0, 0})
                       .b({0, 0, 0, 0, 0, 0, 0, 10})
                       .b({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
                       .b({0xFF, 0xFF, 0xFF, 0xFF})
                       .b({0, 0, 0, 100})
                       .v;
  EXPECT_EQ(w.bytes(), expected) << Hex(w.bytes());
  ASSERT_EQ(w.splices().size(), 1u);
  EXPECT_EQ(w.splices()[0].at, expected.size());
  EXPECT_EQ(w.size(), expected.size() + 100);
}

TEST(MessageBytesTest, FindCoordinatorResponseV0AndV1) {
  FindCoordinatorResponse resp;
  resp.error_code = 15;
  resp.node_id = 1;
  resp.host = "h";
  resp.port = 9092;
  EXPECT_EQ(Encode(resp, 0), Body().b({0, 15, 0, 0, 0, 1, 0, 1}).s("h").b({0, 0, 0x23, 0x84}).v);
  Bytes v1 =
      Body().b({0, 0, 0, 0, 0, 15, 0xFF, 0xFF, 0, 0, 0, 1, 0, 1}).s("h").b({0, 0, 0x23, 0x84}).v;
  EXPECT_EQ(Encode(resp, 1), v1);
  EXPECT_TRUE(MustDecode<FindCoordinatorResponse>(v1, 1) == resp);
}

TEST(MessageBytesTest, ListGroupsResponseFlexibleFromV3) {
  ListGroupsResponse resp;
  resp.groups.push_back({.group_id = "g", .protocol_type = "consumer", .group_state = "Stable"});
  Bytes v2 = Body().b({0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}).s("g").b({0, 8}).s("consumer").v;
  EXPECT_EQ(Encode(resp, 2), v2);
  Bytes v3 = Body().b({0, 0, 0, 0, 0, 0, 2, 2}).s("g").b({9}).s("consumer").b({0, 0}).v;
  EXPECT_EQ(Encode(resp, 3), v3);
  Bytes v4 =
      Body().b({0, 0, 0, 0, 0, 0, 2, 2}).s("g").b({9}).s("consumer").b({7}).s("Stable").b({0, 0}).v;
  EXPECT_EQ(Encode(resp, 4), v4);
  EXPECT_TRUE(MustDecode<ListGroupsResponse>(v4, 4) == resp);
}

TEST(MessageBytesTest, InitProducerIdRequestFlexibleFromV2) {
  InitProducerIdRequest req;  // transactional id null, producer id/epoch -1
  req.transaction_timeout_ms = 60000;
  EXPECT_EQ(Encode(req, 1), Body().b({0xFF, 0xFF, 0, 0, 0xEA, 0x60}).v);
  EXPECT_EQ(Encode(req, 2), Body().b({0, 0, 0, 0xEA, 0x60, 0}).v);
  Bytes v3 = Body()
                 .b({0, 0, 0, 0xEA, 0x60})
                 .b({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0})
                 .v;
  EXPECT_EQ(Encode(req, 3), v3);
  EXPECT_TRUE(MustDecode<InitProducerIdRequest>(v3, 3) == req);
}

// The error of decoding `bytes` as M at `version` ("" if it decodes).
template <typename M>
std::string DecodeError(Bytes bytes, int16_t version) {
  M m;
  Reader r(bytes);
  m.Decode(r, version);
  return r.error();
}

TEST(MessageBytesTest, HugeArrayCountsFailBeforeAllocating) {
  // DescribeGroups v0: groups = 2^31-1 strings, in an 8-byte body.
  EXPECT_NE(
      DecodeError<DescribeGroupsRequest>(Body().b({0x7F, 0xFF, 0xFF, 0xFF, 0, 1, 'g', 0}).v, 0)
          .find("cannot fit"),
      std::string::npos);
  // Compact: 2^31-1 elements (varint 2^31).
  EXPECT_NE(DecodeError<ListGroupsRequest>(Body().b({0x80, 0x80, 0x80, 0x80, 0x08, 0}).v, 4)
                .find("cannot fit"),
            std::string::npos);
  // The check counts each element's fixed fields: an OffsetCommit v2 partition takes at least
  // 4 + 8 + 2 bytes, so 2 partitions cannot fit in the 20 bytes left, and the count is refused
  // before any partition is read.
  Body commit;
  commit.b({0, 1}).s("g").b({0, 0, 0, 1, 0, 1}).s("m");  // group, generation, member
  commit.b({0, 0, 0, 0, 0, 0, 0, 0}).b({0, 0, 0, 1, 0, 1}).s("t").b({0, 0, 0, 2});
  commit.v.resize(commit.v.size() + 20);
  const std::string error = DecodeError<OffsetCommitRequest>(commit.v, 2);
  EXPECT_NE(error.find("array of 2 elements cannot fit"), std::string::npos) << error;
  // With 28 bytes the count is accepted (and the zero bytes decode as two partitions).
  commit.v.resize(commit.v.size() + 8);
  EXPECT_EQ(DecodeError<OffsetCommitRequest>(commit.v, 2), "");
}

}  // namespace
}  // namespace sluice::broker::kafka::msg
