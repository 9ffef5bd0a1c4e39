// The Kafka listener and connection of the real `sluiced` over raw loopback sockets: request
// framing and headers, ApiVersions at every version (the advertised table must be exactly the
// handler registry), KIP-511's answer to an ApiVersions version above ours, pipelining, byte-wise
// writes, and every way a connection is closed for bad input while others keep working. Requests
// are built and responses read with the broker's own wire primitives (kafka::Writer/Reader, tested
// by wire_test); the expected table comes from the registry (kafka::AllHandlers()).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "broker/kafka/handler.h"
#include "broker/kafka/wire.h"
#include "gtest/gtest.h"
#include "tests/integration/sluiced_process.h"

namespace sluice {
namespace {

namespace kafka = ::sluice::broker::kafka;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kIoTimeoutMs = 15000;  // any single socket wait
constexpr int16_t kApiVersions = 18;
constexpr int16_t kUnsupportedVersion = 35;
constexpr int16_t kInvalidRequest = 42;

// ---------------------------------------------------------------- a raw Kafka client

class KConn {
 public:
  explicit KConn(uint16_t port) : fd_(e2e::ConnectLoopback(port)) {}
  ~KConn() {
    if (fd_ >= 0) close(fd_);
  }
  KConn(const KConn&) = delete;
  KConn& operator=(const KConn&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool Send(const std::vector<uint8_t>& bytes) { return Send(bytes.data(), bytes.size()); }
  bool Send(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    while (n > 0) {
      ssize_t w = send(fd_, b, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      b += w;
      n -= size_t(w);
    }
    return true;
  }

  // Exactly n bytes, or nullopt on EOF, error or timeout.
  std::optional<std::vector<uint8_t>> RecvExact(size_t n) {
    std::vector<uint8_t> out(n);
    size_t got = 0;
    const auto until = Clock::now() + milliseconds(kIoTimeoutMs);
    while (got < n) {
      if (Clock::now() >= until) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      ssize_t r = recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) return std::nullopt;
      got += size_t(r);
    }
    return out;
  }

  // One response frame without its size prefix; nullopt on EOF or timeout.
  std::optional<std::vector<uint8_t>> RecvFrame() {
    auto size = RecvExact(4);
    if (!size) return std::nullopt;
    const uint32_t n = (uint32_t((*size)[0]) << 24) | (uint32_t((*size)[1]) << 16) |
                       (uint32_t((*size)[2]) << 8) | (*size)[3];
    if (n > (64u << 20)) return std::nullopt;
    return RecvExact(n);
  }

  // True if the broker closes the connection (EOF or reset) within `ms`, reading and dropping
  // anything before that.
  bool WaitClosed(int ms) {
    const auto until = Clock::now() + milliseconds(ms);
    char buf[4096];
    while (Clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t r = recv(fd_, buf, sizeof(buf), 0);
      if (r <= 0) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------- requests and responses

struct RequestHeader {
  int16_t api_key = kApiVersions;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id = "kafka-wire-test";
  bool tagged = false;  // header v2
};

// The whole frame: size, header, body.
std::vector<uint8_t> Frame(const RequestHeader& h, const std::vector<uint8_t>& body) {
  kafka::Writer w;
  const size_t at = w.ReserveInt32();
  w.Int16(h.api_key);
  w.Int16(h.api_version);
  w.Int32(h.correlation_id);
  w.NullableString(h.client_id);
  if (h.tagged) w.UnsignedVarint(0);
  w.Raw(std::span<const uint8_t>(body));
  w.PatchInt32(at, static_cast<int32_t>(w.bytes().size() - 4));
  return w.bytes();
}

// An ApiVersions request as a client of that version sends it (header v2 and the client software
// fields from v3).
std::vector<uint8_t> ApiVersionsRequest(int16_t version, int32_t correlation_id,
                                        const std::string& software = "sluice-test") {
  RequestHeader h;
  h.api_version = version;
  h.correlation_id = correlation_id;
  h.tagged = version >= 3;
  kafka::Writer body;
  if (version >= 3) {
    body.CompactString(software);
    body.CompactString("1.0.0");
    body.UnsignedVarint(0);
  }
  return Frame(h, body.bytes());
}

struct ApiRange {
  int16_t key, min, max;
  bool operator==(const ApiRange&) const = default;
};

struct ApiVersionsResponse {
  int32_t correlation_id = 0;
  int16_t error_code = -1;
  std::vector<ApiRange> apis;
  std::optional<int32_t> throttle_time_ms;
  std::string error;  // why the bytes did not parse as expected; "" if they did
};

// Parses a response frame (after its size) with response header v0 and an ApiVersions body at
// `version`; any byte left over is an error.
ApiVersionsResponse ParseApiVersions(std::vector<uint8_t> frame, int16_t version) {
  ApiVersionsResponse out;
  const bool flexible = version >= 3;
  kafka::Reader r{std::span<uint8_t>(frame)};
  out.correlation_id = r.Int32();
  out.error_code = r.Int16();
  const int32_t n = r.ArrayLength(flexible, 6);
  for (int32_t i = 0; i < n && r.ok(); ++i) {
    ApiRange a;
    a.key = r.Int16();
    a.min = r.Int16();
    a.max = r.Int16();
    if (flexible && r.UnsignedVarint() != 0) r.Fail("an api_keys entry has tagged fields");
    out.apis.push_back(a);
  }
  if (version >= 1) out.throttle_time_ms = r.Int32();
  if (flexible && r.UnsignedVarint() != 0) r.Fail("the body has tagged fields");
  if (r.ok() && r.remaining() != 0) r.Fail(std::to_string(r.remaining()) + " bytes left over");
  out.error = r.error();
  return out;
}

// What the registry says we serve, in its order.
std::vector<ApiRange> Registry() {
  std::vector<ApiRange> out;
  for (const kafka::ApiHandler& h : kafka::AllHandlers()) {
    out.push_back({h.key, h.min_version, h.max_version});
  }
  return out;
}

// The versions the broker is meant to serve (docs: the Kafka issue's brief), by API key. Every
// advertised API must be one of these with exactly this range.
const std::map<int16_t, int16_t>& IntendedMaxVersions() {
  static const std::map<int16_t, int16_t> m = {{18, 3}, {3, 8},  {0, 8},  {1, 11}, {2, 5},  {8, 7},
                                               {9, 7},  {10, 2}, {11, 5}, {12, 3}, {13, 3}, {14, 3},
                                               {15, 4}, {16, 4}, {19, 4}, {20, 3}, {21, 1}, {22, 4},
                                               {23, 3}, {32, 3}, {37, 1}, {42, 1}};
  return m;
}

using e2e::HttpGet;

// ---------------------------------------------------------------- fixture

class KafkaWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = e2e::MakeTempDir("sluice-kafka-wire");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    if (broker_) {
      const int code = broker_->Stop();
      EXPECT_EQ(code, 0) << "sluiced did not shut down cleanly";
      if (HasFailure()) std::cerr << "---- sluiced log ----\n" << broker_->Log();
      broker_.reset();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void StartBroker(std::vector<std::string> flags = {}) {
    flags.insert(flags.end(), {"--log-level", "debug"});
    broker_ = std::make_unique<e2e::BrokerProcess>(SLUICED_PATH, dir_, std::move(flags));
    ASSERT_TRUE(broker_->Start()) << "sluiced did not start; log:\n" << broker_->Log();
  }
  std::unique_ptr<KConn> Connect() {
    auto c = std::make_unique<KConn>(broker_->kafka_port);
    EXPECT_TRUE(c->ok());
    return c;
  }
  // Sends an ApiVersions request and parses the answer at `parse_version`.
  ApiVersionsResponse Call(KConn& c, const std::vector<uint8_t>& request, int16_t parse_version) {
    EXPECT_TRUE(c.Send(request));
    auto frame = c.RecvFrame();
    if (!frame) {
      ApiVersionsResponse none;
      none.error = "no response";
      return none;
    }
    return ParseApiVersions(std::move(*frame), parse_version);
  }
  // Whether the log has `s`, waiting (bounded) for it: lines logged while serving can trail the
  // event the test saw.
  bool LogHas(const std::string& s) {
    const auto until = Clock::now() + milliseconds(5000);
    for (;;) {
      if (broker_->Log().find(s) != std::string::npos) return true;
      if (Clock::now() >= until) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  std::string dir_;
  std::unique_ptr<e2e::BrokerProcess> broker_;
};

// ---------------------------------------------------------------- cases

TEST_F(KafkaWireTest, PortFileAndStartLogNameTheKafkaPort) {
  StartBroker();
  EXPECT_NE(broker_->kafka_port, 0);
  EXPECT_NE(broker_->kafka_port, broker_->native_port);
  EXPECT_TRUE(LogHas("kafka port " + std::to_string(broker_->kafka_port)));
  EXPECT_TRUE(
      LogHas("kafka protocol listening on 127.0.0.1:" + std::to_string(broker_->kafka_port)));
}

TEST_F(KafkaWireTest, RegistryIsWhatTheBrokerIsMeantToServe) {
  // The table is non-empty, ApiVersions is in it with the range the connection relies on, and
  // every row is an API of the intended list with the intended range.
  const std::vector<ApiRange> reg = Registry();
  ASSERT_FALSE(reg.empty());
  EXPECT_NE(std::find(reg.begin(), reg.end(), ApiRange{kApiVersions, 0, 3}), reg.end());
  for (const ApiRange& a : reg) {
    auto it = IntendedMaxVersions().find(a.key);
    ASSERT_NE(it, IntendedMaxVersions().end())
        << "API key " << a.key << " is not meant to be served";
    EXPECT_EQ(a.min, 0) << "API key " << a.key;
    EXPECT_EQ(a.max, it->second) << "API key " << a.key;
  }
  const kafka::ApiHandler* av = kafka::FindHandler(kApiVersions);
  ASSERT_NE(av, nullptr);
  EXPECT_EQ(av->first_flexible_version, 3);
  EXPECT_EQ(kafka::FindHandler(-1), nullptr);
  EXPECT_EQ(kafka::FindHandler(999), nullptr);
}

TEST_F(KafkaWireTest, ApiVersionsAtEveryVersionAdvertisesExactlyTheRegistry) {
  StartBroker();
  auto c = Connect();
  for (int16_t v = 0; v <= 3; ++v) {
    SCOPED_TRACE("ApiVersions v" + std::to_string(v));
    ApiVersionsResponse r = Call(*c, ApiVersionsRequest(v, 1000 + v), v);
    // Parsing with response header v0 (no tag byte after the correlation id) and nothing left
    // over proves the header shape, v3 included.
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.correlation_id, 1000 + v);
    EXPECT_EQ(r.error_code, 0);
    EXPECT_EQ(r.apis, Registry());
    if (v >= 1) {
      EXPECT_EQ(r.throttle_time_ms, 0);
    } else {
      EXPECT_FALSE(r.throttle_time_ms.has_value());
    }
  }
}

TEST_F(KafkaWireTest, ApiVersionsAboveOurRangeGetsAV0UnsupportedVersionAnswer) {
  StartBroker();
  auto c = Connect();
  // What a newer client sends first: its highest version, header v2, the v3+ body.
  ApiVersionsResponse r = Call(*c, ApiVersionsRequest(7, 77), 0);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.correlation_id, 77);
  EXPECT_EQ(r.error_code, kUnsupportedVersion);
  EXPECT_EQ(r.apis, (std::vector<ApiRange>{{kApiVersions, 0, 3}}));
  // The connection stays usable: the client retries at a version we have.
  r = Call(*c, ApiVersionsRequest(3, 78), 3);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.correlation_id, 78);
  EXPECT_EQ(r.apis, Registry());
  // A negative version is outside our range too.
  RequestHeader h{.api_version = -1, .correlation_id = 79};
  r = Call(*c, Frame(h, {}), 0);
  EXPECT_EQ(r.correlation_id, 79);
  EXPECT_EQ(r.error_code, kUnsupportedVersion);
}

TEST_F(KafkaWireTest, ApiVersionsV3WithAnInvalidSoftwareNameIsAnInvalidRequest) {
  StartBroker();
  auto c = Connect();
  ApiVersionsResponse r = Call(*c, ApiVersionsRequest(3, 5, "-not valid-"), 3);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.correlation_id, 5);
  EXPECT_EQ(r.error_code, kInvalidRequest);
  EXPECT_TRUE(r.apis.empty());
  r = Call(*c, ApiVersionsRequest(3, 6), 3);
  EXPECT_EQ(r.error_code, 0);
}

TEST_F(KafkaWireTest, NullClientIdIsAccepted) {
  StartBroker();
  auto c = Connect();
  RequestHeader h{.api_version = 1, .correlation_id = 9, .client_id = std::nullopt};
  ApiVersionsResponse r = Call(*c, Frame(h, {}), 1);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.correlation_id, 9);
  EXPECT_EQ(r.error_code, 0);
}

TEST_F(KafkaWireTest, PipelinedRequestsAreAnsweredInOrder) {
  StartBroker();
  auto c = Connect();
  constexpr int kRequests = 200;
  std::vector<uint8_t> all;
  for (int i = 0; i < kRequests; ++i) {
    auto f = ApiVersionsRequest(static_cast<int16_t>(i % 4), 5000 + i);
    all.insert(all.end(), f.begin(), f.end());
  }
  ASSERT_TRUE(c->Send(all));  // one write: every request in flight at once
  for (int i = 0; i < kRequests; ++i) {
    auto frame = c->RecvFrame();
    ASSERT_TRUE(frame.has_value()) << "response " << i;
    ApiVersionsResponse r = ParseApiVersions(std::move(*frame), static_cast<int16_t>(i % 4));
    ASSERT_EQ(r.error, "") << "response " << i;
    ASSERT_EQ(r.correlation_id, 5000 + i);
    ASSERT_EQ(r.apis, Registry());
  }
}

TEST_F(KafkaWireTest, ARequestWrittenOneByteAtATimeIsAnswered) {
  StartBroker();
  auto c = Connect();
  const std::vector<uint8_t> f = ApiVersionsRequest(3, 31337);
  for (uint8_t b : f) {
    ASSERT_TRUE(c->Send(&b, 1));
    std::this_thread::sleep_for(milliseconds(2));
  }
  auto frame = c->RecvFrame();
  ASSERT_TRUE(frame.has_value());
  ApiVersionsResponse r = ParseApiVersions(std::move(*frame), 3);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.correlation_id, 31337);
  EXPECT_EQ(r.apis, Registry());
}

TEST_F(KafkaWireTest, AHalfClosedClientStillGetsItsAnswers) {
  StartBroker();
  auto c = Connect();
  std::vector<uint8_t> two = ApiVersionsRequest(2, 1);
  const std::vector<uint8_t> second = ApiVersionsRequest(3, 2);
  two.insert(two.end(), second.begin(), second.end());
  ASSERT_TRUE(c->Send(two));
  ASSERT_EQ(shutdown(c->fd(), SHUT_WR), 0);
  auto f1 = c->RecvFrame();
  auto f2 = c->RecvFrame();
  ASSERT_TRUE(f1 && f2);
  EXPECT_EQ(ParseApiVersions(std::move(*f1), 2).correlation_id, 1);
  EXPECT_EQ(ParseApiVersions(std::move(*f2), 3).correlation_id, 2);
  EXPECT_TRUE(c->WaitClosed(5000));
}

TEST_F(KafkaWireTest, BadSizePrefixesCloseOnlyTheirConnection) {
  StartBroker({"--max-frame-bytes", "4096"});
  auto healthy = Connect();
  for (int32_t size : {-1, 0, std::numeric_limits<int32_t>::min(), 4097, 1 << 30}) {
    SCOPED_TRACE("size " + std::to_string(size));
    auto bad = Connect();
    kafka::Writer w;
    w.Int32(size);
    w.Raw(std::string_view("garbage-after-the-size"));
    ASSERT_TRUE(bad->Send(w.bytes()));
    EXPECT_TRUE(bad->WaitClosed(5000));
    ApiVersionsResponse r = Call(*healthy, ApiVersionsRequest(1, size), 1);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.correlation_id, size);
  }
  // A request of exactly the limit is read and answered (a v0 ApiVersions request padded to the
  // limit: its body is empty and what follows is not read).
  auto edge = Connect();
  RequestHeader h{.api_version = 0, .correlation_id = 4096};
  std::vector<uint8_t> f = Frame(h, {});
  f.resize(4 + 4096, 0);
  f[0] = 0, f[1] = 0, f[2] = 0x10, f[3] = 0;  // size 4096
  ApiVersionsResponse r = Call(*edge, f, 0);
  EXPECT_EQ(r.correlation_id, 4096);
  EXPECT_EQ(r.error_code, 0);
  EXPECT_TRUE(LogHas("request size -1 is not positive"));
  EXPECT_TRUE(LogHas("request size 4097 exceeds the limit 4096"));
}

TEST_F(KafkaWireTest, UnknownApiKeyClosesTheConnectionAfterEarlierAnswers) {
  StartBroker();
  auto c = Connect();
  // ApiVersions, then an API key nobody has: the first is answered, then the connection closes.
  std::vector<uint8_t> both = ApiVersionsRequest(0, 1);
  RequestHeader unknown{.api_key = 999, .api_version = 0, .correlation_id = 2};
  const std::vector<uint8_t> f = Frame(unknown, {0, 0, 0, 0});
  both.insert(both.end(), f.begin(), f.end());
  ASSERT_TRUE(c->Send(both));
  auto first = c->RecvFrame();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(ParseApiVersions(std::move(*first), 0).correlation_id, 1);
  EXPECT_TRUE(c->WaitClosed(5000));
  EXPECT_TRUE(LogHas("unknown API key 999"));
  auto other = Connect();
  EXPECT_EQ(Call(*other, ApiVersionsRequest(0, 3), 0).error_code, 0);
}

TEST_F(KafkaWireTest, UnsupportedVersionOfAnotherApiClosesTheConnection) {
  StartBroker();
  const kafka::ApiHandler* other = nullptr;
  for (const kafka::ApiHandler& h : kafka::AllHandlers()) {
    if (h.key != kApiVersions) other = &h;
  }
  ASSERT_NE(other, nullptr) << "the registry serves nothing but ApiVersions";
  auto c = Connect();
  RequestHeader h{.api_key = other->key,
                  .api_version = static_cast<int16_t>(other->max_version + 1),
                  .correlation_id = 8};
  h.tagged = h.api_version >= other->first_flexible_version;
  ASSERT_TRUE(c->Send(Frame(h, std::vector<uint8_t>(32, 0))));
  EXPECT_TRUE(c->WaitClosed(5000));
  EXPECT_TRUE(LogHas(std::string(other->name) + " version " + std::to_string(h.api_version) +
                     " is not supported"));
}

TEST_F(KafkaWireTest, TruncatedOrUnparsableHeadersCloseTheConnection) {
  StartBroker();
  {  // 3 bytes: not even api_key and api_version
    auto c = Connect();
    const std::vector<uint8_t> f = {0, 0, 0, 3, 0, 18, 0};
    ASSERT_TRUE(c->Send(f));
    EXPECT_TRUE(c->WaitClosed(5000));
  }
  {  // a client id longer than the frame
    auto c = Connect();
    kafka::Writer w;
    w.Int32(10);
    w.Int16(kApiVersions);
    w.Int16(0);
    w.Int32(1);
    w.Int16(50);  // client id length, 0 bytes of it follow
    ASSERT_TRUE(c->Send(w.bytes()));
    EXPECT_TRUE(c->WaitClosed(5000));
  }
  {  // v3 header v2 without its tagged section
    auto c = Connect();
    RequestHeader h{.api_version = 3, .correlation_id = 1};
    ASSERT_TRUE(c->Send(Frame(h, {})));
    EXPECT_TRUE(c->WaitClosed(5000));
  }
  {  // a v3 body that stops inside the client software name
    auto c = Connect();
    RequestHeader h{.api_version = 3, .correlation_id = 1, .tagged = true};
    ASSERT_TRUE(c->Send(Frame(h, {20, 'a', 'b'})));
    EXPECT_TRUE(c->WaitClosed(5000));
  }
  {  // the connection ends inside a frame
    auto c = Connect();
    std::vector<uint8_t> f = ApiVersionsRequest(1, 1);
    f.resize(f.size() - 3);
    ASSERT_TRUE(c->Send(f));
    ASSERT_EQ(shutdown(c->fd(), SHUT_WR), 0);
    EXPECT_TRUE(c->WaitClosed(5000));
  }
  EXPECT_TRUE(LogHas("truncated request header"));
  EXPECT_TRUE(LogHas("unparsable api_versions v0 request header"));
  EXPECT_TRUE(LogHas("unparsable api_versions v3 request header"));
  EXPECT_TRUE(LogHas("malformed api_versions v3 request (correlation id 1)"));
  EXPECT_TRUE(LogHas("truncated frame"));
  auto fine = Connect();
  EXPECT_EQ(Call(*fine, ApiVersionsRequest(3, 1), 3).error_code, 0);
}

TEST_F(KafkaWireTest, MaxConnectionsCountsKafkaAndNativeTogether) {
  StartBroker({"--max-connections", "2"});
  auto a = Connect();
  KConn native(broker_->native_port);
  ASSERT_TRUE(native.ok());
  // Both accepted before the third arrives: a round trip on `a` proves the broker has it.
  ASSERT_EQ(Call(*a, ApiVersionsRequest(0, 1), 0).error_code, 0);
  std::this_thread::sleep_for(milliseconds(200));  // the native accept runs on the same thread
  auto refused = Connect();
  EXPECT_TRUE(refused->WaitClosed(5000));
  EXPECT_EQ(Call(*a, ApiVersionsRequest(0, 2), 0).correlation_id, 2);
}

TEST_F(KafkaWireTest, IdleConnectionsAreClosed) {
  StartBroker({"--idle-timeout-ms", "300"});
  auto c = Connect();
  ASSERT_EQ(Call(*c, ApiVersionsRequest(0, 1), 0).error_code, 0);
  const auto t0 = Clock::now();
  EXPECT_TRUE(c->WaitClosed(5000));
  EXPECT_GE(Clock::now() - t0, milliseconds(200));
}

TEST_F(KafkaWireTest, MetricsCountKafkaRequestsByApi) {
  StartBroker();
  auto c = Connect();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Call(*c, ApiVersionsRequest(2, i), 2).error_code, 0);
  const std::string m = HttpGet(broker_->http_port, "/metrics");
  EXPECT_NE(m.find("sluice_kafka_requests_total{api=\"api_versions\"} 3"), std::string::npos) << m;
  EXPECT_NE(m.find("sluice_kafka_request_duration_seconds_count{api=\"api_versions\"} 3"),
            std::string::npos);
  EXPECT_NE(m.find("sluice_kafka_request_errors_total{api=\"api_versions\"} 0"), std::string::npos);
}

TEST_F(KafkaWireTest, ShutdownDrainsOpenKafkaConnections) {
  StartBroker();
  auto c = Connect();
  ASSERT_EQ(Call(*c, ApiVersionsRequest(0, 1), 0).error_code, 0);
  // An idle open connection must not hold up a clean stop (TearDown checks exit code 0).
  EXPECT_EQ(broker_->Stop(), 0);
  EXPECT_TRUE(c->WaitClosed(5000));
  broker_.reset();
}

}  // namespace
}  // namespace sluice
