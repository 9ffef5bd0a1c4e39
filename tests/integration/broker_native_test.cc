// End-to-end tests of the native protocol against the real `sluiced` binary, started with
// fork/exec on ephemeral loopback ports in a temporary data dir. The client here is a minimal raw
// framed-protobuf client written for the test (it must not depend on client/). Every wait is
// bounded; children are stopped by PID only (SIGTERM, then SIGKILL after a bound).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "proto/native.pb.h"
#include "proto/native_frame.h"
#include "storage/record_batch.h"
#include "tests/integration/sluiced_process.h"

namespace sluice {
namespace {

namespace pb = ::sluice::native;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kIoTimeoutMs = 15000;  // any single socket wait
constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kStopTimeout = std::chrono::seconds(20);

// ---------------------------------------------------------------- the broker process

// Waits for `pid` to exit for at most `timeout`; returns its wait status or nullopt.
std::optional<int> WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  auto until = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return std::nullopt;
    if (Clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Runs sluiced to completion (bounded) and returns its exit code, -1 if it did not exit.
int RunToExit(const std::vector<std::string>& flags, const std::string& log_path) {
  std::vector<std::string> args{SLUICED_PATH};
  args.insert(args.end(), flags.begin(), flags.end());
  pid_t pid = Spawn(args, log_path);
  auto status = WaitPid(pid, std::chrono::seconds(20));
  if (!status) {
    kill(pid, SIGKILL);
    WaitPid(pid, std::chrono::seconds(5));
    return -1;
  }
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

class BrokerProcess {
 public:
  BrokerProcess(std::string dir, std::vector<std::string> flags)
      : dir_(std::move(dir)), flags_(std::move(flags)) {}
  ~BrokerProcess() { Kill(); }

  // Starts sluiced and waits (bounded) for its port file.
  bool Start() {
    std::string port_file = dir_ + "/ports";
    fs::remove(port_file);
    std::vector<std::string> args{
        SLUICED_PATH,  "--data-dir",  dir_ + "/data", "--native-addr", "127.0.0.1:0",
        "--http-addr", "127.0.0.1:0", "--port-file",  port_file,       "--io-threads",
        "2",           "--log-level", "debug",        "--kafka-addr",  "127.0.0.1:0"};
    args.insert(args.end(), flags_.begin(), flags_.end());
    pid_ = Spawn(args, log_path());
    auto until = Clock::now() + kStartTimeout;
    while (Clock::now() < until) {
      std::ifstream f(port_file);
      std::string line;
      while (std::getline(f, line)) {
        if (line.rfind("native=", 0) == 0) native_port = uint16_t(std::stoi(line.substr(7)));
        if (line.rfind("http=", 0) == 0) http_port = uint16_t(std::stoi(line.substr(5)));
      }
      if (native_port && http_port) return true;
      if (WaitPid(pid_, milliseconds(0))) {
        pid_ = -1;
        return false;  // exited during start-up
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  // SIGTERM and wait; returns the exit code (-1 if it had to be killed or died by a signal).
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    auto status = WaitPid(pid_, kStopTimeout);
    if (!status) {
      Kill();
      return -1;
    }
    pid_ = -1;
    native_port = http_port = 0;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(5));
    pid_ = -1;
  }

  std::string log_path() const { return dir_ + "/sluiced.log"; }
  std::string Log() const {
    std::ifstream f(log_path());
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  uint16_t native_port = 0;
  uint16_t http_port = 0;

 private:
  std::string dir_;
  std::vector<std::string> flags_;
  pid_t pid_ = -1;
};

// ---------------------------------------------------------------- a raw framed client

struct Frame {
  pb::ResponseHeader header;
  std::string payload;
};

class Conn {
 public:
  explicit Conn(uint16_t port) : fd_(e2e::ConnectLoopback(port)) {}
  ~Conn() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool SendRaw(std::string_view bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, kIoTimeoutMs) <= 0) return false;
      ssize_t n = send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += size_t(n);
    }
    return true;
  }

  // Sends `h` (version 1 unless set, a fresh request id unless set) with `payload`.
  uint64_t Send(pb::RequestHeader h, std::string_view payload = {}) {
    if (h.version() == 0) h.set_version(1);
    if (h.request_id() == 0) h.set_request_id(next_id_++);
    std::string header = h.SerializeAsString();
    std::string frame = native::FramePrefix(header.size(), payload.size()) + header;
    frame.append(payload);
    EXPECT_TRUE(SendRaw(frame));
    return h.request_id();
  }

  // Reads one response frame; nullopt if the connection closed or nothing came in time.
  std::optional<Frame> Read(int timeout_ms = kIoTimeoutMs) {
    std::string prefix;
    if (!ReadExactly(4, &prefix, timeout_ms)) return std::nullopt;
    uint32_t length = native::GetFrameU32(reinterpret_cast<const uint8_t*>(prefix.data()));
    std::string body;
    if (!ReadExactly(length, &body, timeout_ms)) return std::nullopt;
    uint32_t hl = native::GetFrameU32(reinterpret_cast<const uint8_t*>(body.data()));
    Frame f;
    EXPECT_LE(hl + 4, length);
    EXPECT_TRUE(f.header.ParseFromArray(body.data() + 4, int(hl)));
    body.erase(0, 4 + hl);
    f.payload = std::move(body);
    return f;
  }

  Frame Call(const pb::RequestHeader& h, std::string_view payload = {}) {
    uint64_t id = Send(h, payload);
    auto f = Read();
    EXPECT_TRUE(f.has_value()) << "no response to request " << id;
    if (!f) return Frame{};
    EXPECT_EQ(f->header.request_id(), id);
    return std::move(*f);
  }

  // True if the broker closes the connection (EOF or reset) within the timeout.
  bool WaitClosed(int timeout_ms = kIoTimeoutMs) {
    auto until = Clock::now() + milliseconds(timeout_ms);
    char buf[4096];
    while (Clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool ReadExactly(size_t n, std::string* out, int timeout_ms) {
    out->resize(n);
    size_t at = 0;
    auto until = Clock::now() + milliseconds(timeout_ms);
    while (at < n) {
      int left = int(std::chrono::duration_cast<milliseconds>(until - Clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) return false;
      ssize_t r = recv(fd_, out->data() + at, n - at, 0);
      if (r <= 0) return false;
      at += size_t(r);
    }
    return true;
  }

  int fd_ = -1;
  uint64_t next_id_ = 1;
};

std::string HttpGet(uint16_t port, const std::string& path, const std::string& method = "GET") {
  Conn c(port);
  if (!c.ok()) return "";
  c.SendRaw(method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
  std::string out;
  char buf[8192];
  auto until = Clock::now() + milliseconds(kIoTimeoutMs);
  while (Clock::now() < until) {
    pollfd p{c.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(c.fd(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

// ---------------------------------------------------------------- request helpers

std::string MakeBatch(int records, int64_t timestamp_ms, const std::string& tag) {
  storage::RecordBatchBuilder b;
  for (int i = 0; i < records; ++i) {
    std::string key = tag + "-k" + std::to_string(i);
    std::string value = tag + "-value-" + std::to_string(i) + std::string(50, 'x');
    b.Add(key, value, {}, timestamp_ms + i);
  }
  return b.Build();
}

// The batch as the broker stores it: baseOffset patched.
std::string WithBase(std::string batch, int64_t base) {
  storage::SetBaseOffset(std::span<uint8_t>(reinterpret_cast<uint8_t*>(batch.data()), batch.size()),
                         Offset(base));
  return batch;
}

pb::RequestHeader ApiVersionsReq() {
  pb::RequestHeader h;
  h.mutable_api_versions();
  return h;
}

pb::RequestHeader MetadataReq(std::vector<std::string> topics, bool auto_create) {
  pb::RequestHeader h;
  for (auto& t : topics) h.mutable_metadata()->add_topics(t);
  h.mutable_metadata()->set_allow_auto_create(auto_create);
  return h;
}

pb::RequestHeader ProduceReq(const std::string& topic, int32_t partition, int32_t acks,
                             const std::vector<std::string>& batches, std::string* payload) {
  pb::RequestHeader h;
  auto* p = h.mutable_produce();
  p->set_acks(acks);
  p->set_timeout_ms(10000);
  auto* part = p->add_partitions();
  part->set_topic(topic);
  part->set_partition(partition);
  payload->clear();
  for (const auto& b : batches) *payload += b;
  part->set_size(uint32_t(payload->size()));
  return h;
}

pb::ProduceResponse::Partition Produce(Conn& c, const std::string& topic, int32_t partition,
                                       int32_t acks, const std::vector<std::string>& batches) {
  std::string payload;
  pb::RequestHeader h = ProduceReq(topic, partition, acks, batches, &payload);
  Frame f = c.Call(h, payload);
  EXPECT_EQ(f.header.produce().partitions_size(), 1);
  return f.header.produce().partitions_size() ? f.header.produce().partitions(0)
                                              : pb::ProduceResponse::Partition{};
}

pb::RequestHeader FetchReq(const std::string& topic, int32_t partition, int64_t offset,
                           uint32_t max_wait_ms = 0, uint32_t min_bytes = 0) {
  pb::RequestHeader h;
  auto* f = h.mutable_fetch();
  f->set_max_wait_ms(max_wait_ms);
  f->set_min_bytes(min_bytes);
  f->set_max_bytes(10 << 20);
  auto* p = f->add_partitions();
  p->set_topic(topic);
  p->set_partition(partition);
  p->set_offset(offset);
  p->set_max_bytes(1 << 20);
  return h;
}

pb::ListOffsetsResponse::Partition ListOffset(Conn& c, const std::string& topic, int64_t ts) {
  pb::RequestHeader h;
  auto* p = h.mutable_list_offsets()->add_partitions();
  p->set_topic(topic);
  p->set_partition(0);
  p->set_timestamp(ts);
  Frame f = c.Call(h);
  EXPECT_EQ(f.header.list_offsets().partitions_size(), 1);
  return f.header.list_offsets().partitions_size() ? f.header.list_offsets().partitions(0)
                                                   : pb::ListOffsetsResponse::Partition{};
}

pb::ErrorCode CreateTopic(Conn& c, const std::string& name, int32_t partitions,
                          std::map<std::string, std::string> configs = {},
                          bool validate_only = false) {
  pb::RequestHeader h;
  auto* ct = h.mutable_create_topics();
  ct->set_validate_only(validate_only);
  auto* t = ct->add_topics();
  t->set_name(name);
  t->set_partitions(partitions);
  for (auto& [k, v] : configs) (*t->mutable_configs())[k] = v;
  Frame f = c.Call(h);
  return f.header.create_topics().topics_size() ? f.header.create_topics().topics(0).error().code()
                                                : pb::UNKNOWN_SERVER_ERROR;
}

// ---------------------------------------------------------------- fixture

class BrokerNativeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-it-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (broker_) {
      int code = broker_->Stop();
      EXPECT_EQ(code, 0) << "sluiced did not shut down cleanly; log:\n" << broker_->Log();
      if (HasFailure()) std::cerr << "---- sluiced log ----\n" << broker_->Log();
      broker_.reset();
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void StartBroker(std::vector<std::string> flags = {}) {
    broker_ = std::make_unique<BrokerProcess>(dir_, std::move(flags));
    ASSERT_TRUE(broker_->Start()) << "sluiced did not start; log:\n" << broker_->Log();
  }
  std::unique_ptr<Conn> Connect() {
    auto c = std::make_unique<Conn>(broker_->native_port);
    EXPECT_TRUE(c->ok());
    return c;
  }

  std::string dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

// ---------------------------------------------------------------- cases
TEST_F(BrokerNativeTest, ApiVersionsAndMetadataAutoCreate) {
  StartBroker({"--num-partitions", "2"});
  auto c = Connect();
  Frame f = c->Call(ApiVersionsReq());
  EXPECT_EQ(f.header.api_versions().min_version(), 1u);
  EXPECT_EQ(f.header.api_versions().max_version(), 1u);

  pb::RequestHeader md = MetadataReq({"auto-one"}, false);
  f = c->Call(md);  // allow_auto_create not set: not created
  ASSERT_EQ(f.header.metadata().topics_size(), 1);
  EXPECT_EQ(f.header.metadata().topics(0).error().code(), pb::UNKNOWN_TOPIC_OR_PARTITION);

  md.mutable_metadata()->set_allow_auto_create(true);
  md.mutable_metadata()->add_topics("bad/name");
  f = c->Call(md);
  const auto& m = f.header.metadata();
  ASSERT_EQ(m.brokers_size(), 1);
  EXPECT_EQ(m.brokers(0).port(), broker_->native_port);
  EXPECT_EQ(m.brokers(0).host(), "127.0.0.1");
  ASSERT_EQ(m.topics_size(), 2);
  EXPECT_EQ(m.topics(0).error().code(), pb::NONE);
  EXPECT_EQ(m.topics(0).partitions_size(), 2);  // --num-partitions
  EXPECT_EQ(m.topics(0).partitions(1).leader(), 0);
  EXPECT_EQ(m.topics(0).partitions(1).high_watermark(), 0);
  EXPECT_EQ(m.topics(1).error().code(), pb::INVALID_TOPIC);

  f = c->Call(MetadataReq({}, false));
  ASSERT_EQ(f.header.metadata().topics_size(), 1);
  EXPECT_EQ(f.header.metadata().topics(0).name(), "auto-one");

  // Produce auto-creates too.
  EXPECT_EQ(Produce(*c, "made-on-produce", 1, -1, {MakeBatch(1, 1, "x")}).error().code(), pb::NONE);
  EXPECT_EQ(c->Call(MetadataReq({"made-on-produce"}, false))
                .header.metadata()
                .topics(0)
                .partitions_size(),
            2);
}

TEST_F(BrokerNativeTest, ProduceAcks1AndAllThenFetchByteExact) {
  StartBroker();
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "events", 2, {{"retention.ms", "3600000"}}), pb::NONE);
  EXPECT_EQ(CreateTopic(*c, "events", 2), pb::TOPIC_ALREADY_EXISTS);

  std::string b1 = MakeBatch(3, 1000, "a"), b2 = MakeBatch(2, 2000, "b"),
              b3 = MakeBatch(4, 3000, "c");
  auto r = Produce(*c, "events", 0, 1, {b1});
  EXPECT_EQ(r.error().code(), pb::NONE) << r.error().message();
  EXPECT_EQ(r.base_offset(), 0);
  r = Produce(*c, "events", 0, -1, {b2, b3});  // two batches in one partition's data
  EXPECT_EQ(r.error().code(), pb::NONE) << r.error().message();
  EXPECT_EQ(r.base_offset(), 3);
  r = Produce(*c, "events", 1, -1, {b1});
  EXPECT_EQ(r.base_offset(), 0);

  Frame f = c->Call(FetchReq("events", 0, 0));
  ASSERT_EQ(f.header.fetch().partitions_size(), 1);
  const auto& p = f.header.fetch().partitions(0);
  EXPECT_EQ(p.error().code(), pb::NONE);
  EXPECT_EQ(p.high_watermark(), 9);
  EXPECT_EQ(p.size(), f.payload.size());
  EXPECT_EQ(f.payload, WithBase(b1, 0) + WithBase(b2, 3) + WithBase(b3, 5));

  f = c->Call(FetchReq("events", 0, 4));  // mid-batch: from the batch holding offset 4
  EXPECT_EQ(f.payload, WithBase(b2, 3) + WithBase(b3, 5));
  f = c->Call(FetchReq("events", 0, 9));  // at the end: nothing, no error
  EXPECT_EQ(f.header.fetch().partitions(0).error().code(), pb::NONE);
  EXPECT_TRUE(f.payload.empty());
  f = c->Call(FetchReq("events", 0, 10));
  EXPECT_EQ(f.header.fetch().partitions(0).error().code(), pb::OFFSET_OUT_OF_RANGE);

  pb::RequestHeader dc;
  dc.mutable_describe_configs()->add_topics("events");
  f = c->Call(dc);
  ASSERT_EQ(f.header.describe_configs().topics_size(), 1);
  const auto& t = f.header.describe_configs().topics(0);
  EXPECT_EQ(t.configs().at("retention.ms"), "3600000");
  ASSERT_EQ(t.overridden_size(), 1);
  EXPECT_EQ(t.overridden(0), "retention.ms");
}

TEST_F(BrokerNativeTest, CreateTopicsValidation) {
  StartBroker();
  auto c = Connect();
  EXPECT_EQ(CreateTopic(*c, "v", 1, {{"retention.ms", "soon"}}), pb::INVALID_CONFIG);
  EXPECT_EQ(CreateTopic(*c, "v", 1, {{"no.such.config", "1"}}), pb::INVALID_CONFIG);
  EXPECT_EQ(CreateTopic(*c, "v", 100000), pb::INVALID_PARTITIONS);
  EXPECT_EQ(CreateTopic(*c, "..", 1), pb::INVALID_TOPIC);
  EXPECT_EQ(CreateTopic(*c, "v", 0, {}, /*validate_only=*/true), pb::NONE);
  pb::RequestHeader md = MetadataReq({"v"}, false);
  EXPECT_EQ(c->Call(md).header.metadata().topics(0).error().code(), pb::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(CreateTopic(*c, "v", 0), pb::NONE);  // 0: the broker default
  pb::RequestHeader del;
  del.mutable_delete_topics()->add_topics("v");
  del.mutable_delete_topics()->add_topics("never");
  Frame f = c->Call(del);
  ASSERT_EQ(f.header.delete_topics().topics_size(), 2);
  EXPECT_EQ(f.header.delete_topics().topics(0).error().code(), pb::NONE);
  EXPECT_EQ(f.header.delete_topics().topics(1).error().code(), pb::UNKNOWN_TOPIC_OR_PARTITION);
}

TEST_F(BrokerNativeTest, LongPollFetchWakesOnProduceAndTimesOutEmpty) {
  StartBroker();
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "poll", 1), pb::NONE);

  // Nothing arrives: the fetch returns empty after about max_wait_ms.
  auto t0 = Clock::now();
  Frame f = c->Call(FetchReq("poll", 0, 0, /*max_wait_ms=*/400, /*min_bytes=*/1));
  auto waited = Clock::now() - t0;
  EXPECT_TRUE(f.payload.empty());
  EXPECT_EQ(f.header.fetch().partitions(0).error().code(), pb::NONE);
  EXPECT_GE(waited, milliseconds(350));
  EXPECT_LT(waited, milliseconds(5000));

  // Data arrives from another connection while the fetch waits: it returns at once.
  uint64_t id = c->Send(FetchReq("poll", 0, 0, /*max_wait_ms=*/10000, /*min_bytes=*/1));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_FALSE(c->Read(50).has_value());  // still waiting
  auto producer = Connect();
  std::string b = MakeBatch(2, 5000, "p");
  t0 = Clock::now();
  EXPECT_EQ(Produce(*producer, "poll", 0, 1, {b}).error().code(), pb::NONE);
  auto got = c->Read();
  ASSERT_TRUE(got.has_value());
  EXPECT_LT(Clock::now() - t0, milliseconds(3000));
  EXPECT_EQ(got->header.request_id(), id);
  EXPECT_EQ(got->payload, WithBase(b, 0));
}

TEST_F(BrokerNativeTest, ListOffsetsEarliestLatestAndByTimestamp) {
  StartBroker();
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "lo", 1), pb::NONE);
  for (int i = 0; i < 3; ++i) {
    Produce(*c, "lo", 0, 1, {MakeBatch(2, 10000 * (i + 1), "t" + std::to_string(i))});
  }
  // offsets 0-1: ts 10000-10001, 2-3: 20000-20001, 4-5: 30000-30001
  EXPECT_EQ(ListOffset(*c, "lo", -2).offset(), 0);
  EXPECT_EQ(ListOffset(*c, "lo", -1).offset(), 6);
  auto r = ListOffset(*c, "lo", 20001);
  EXPECT_EQ(r.offset(), 3);
  EXPECT_EQ(r.timestamp(), 20001);
  EXPECT_EQ(ListOffset(*c, "lo", 15000).offset(), 2);
  EXPECT_EQ(ListOffset(*c, "lo", 99999).offset(), -1);
  EXPECT_EQ(ListOffset(*c, "missing", -1).error().code(), pb::UNKNOWN_TOPIC_OR_PARTITION);
}

TEST_F(BrokerNativeTest, UnknownTopicsAndPartitions) {
  StartBroker({"--auto-create-topics=false"});
  auto c = Connect();
  auto r = Produce(*c, "nope", 0, 1, {MakeBatch(1, 1, "x")});
  EXPECT_EQ(r.error().code(), pb::UNKNOWN_TOPIC_OR_PARTITION);
  Frame f = c->Call(FetchReq("nope", 0, 0, 100, 1));
  EXPECT_EQ(f.header.fetch().partitions(0).error().code(), pb::UNKNOWN_TOPIC_OR_PARTITION);
  ASSERT_EQ(CreateTopic(*c, "one", 1), pb::NONE);
  EXPECT_EQ(Produce(*c, "one", 5, 1, {MakeBatch(1, 1, "x")}).error().code(),
            pb::UNKNOWN_TOPIC_OR_PARTITION);
  // Refused by --auto-create-topics=false.
  pb::RequestHeader md = MetadataReq({"nope"}, true);
  EXPECT_EQ(c->Call(md).header.metadata().topics(0).error().code(), pb::UNKNOWN_TOPIC_OR_PARTITION);
}

TEST_F(BrokerNativeTest, CorruptBatchIsRejectedAndNothingAppended) {
  StartBroker();
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "crc", 1), pb::NONE);
  std::string good = MakeBatch(2, 1, "g");
  EXPECT_EQ(Produce(*c, "crc", 0, 1, {good}).error().code(), pb::NONE);
  std::string bad = MakeBatch(2, 1, "b");
  bad[bad.size() - 3] ^= 0x5a;  // inside the records: the CRC no longer matches
  auto r = Produce(*c, "crc", 0, -1, {bad});
  EXPECT_EQ(r.error().code(), pb::CORRUPT_MESSAGE);
  EXPECT_EQ(r.base_offset(), -1);
  // A good batch followed by a bad one in the same partition data: neither is appended.
  r = Produce(*c, "crc", 0, 1, {MakeBatch(1, 1, "ok"), bad});
  EXPECT_EQ(r.error().code(), pb::CORRUPT_MESSAGE);
  // Truncated batch data.
  r = Produce(*c, "crc", 0, 1, {good.substr(0, good.size() - 5)});
  EXPECT_EQ(r.error().code(), pb::CORRUPT_MESSAGE);
  EXPECT_EQ(ListOffset(*c, "crc", -1).offset(), 2);
  EXPECT_EQ(c->Call(FetchReq("crc", 0, 0)).payload, WithBase(good, 0));
}

TEST_F(BrokerNativeTest, OversizedFrameClosesOnlyThatConnection) {
  StartBroker({"--max-frame-bytes", "4096"});
  auto other = Connect();
  auto c = Connect();
  std::string prefix(8, '\0');
  native::PutFrameU32(reinterpret_cast<uint8_t*>(prefix.data()), 1u << 30);
  native::PutFrameU32(reinterpret_cast<uint8_t*>(prefix.data()) + 4, 10);
  ASSERT_TRUE(c->SendRaw(prefix));
  EXPECT_TRUE(c->WaitClosed());
  pb::RequestHeader av = ApiVersionsReq();
  EXPECT_EQ(other->Call(av).header.api_versions().max_version(), 1u);
  auto again = Connect();
  EXPECT_EQ(again->Call(av).header.api_versions().max_version(), 1u);
  EXPECT_NE(broker_->Log().find("exceeds the limit 4096"), std::string::npos);
}

TEST_F(BrokerNativeTest, MalformedFramesCloseTheConnectionUnsupportedVersionDoesNot) {
  StartBroker();
  {
    auto c = Connect();
    pb::RequestHeader h = MetadataReq({}, false);
    h.set_version(99);
    EXPECT_EQ(c->Call(h).header.error().code(), pb::UNSUPPORTED_VERSION);
    EXPECT_EQ(c->Call(ApiVersionsReq()).header.api_versions().max_version(), 1u);
  }
  auto frame = [](std::string header, std::string payload) {
    return native::FramePrefix(header.size(), payload.size()) + header + payload;
  };
  {  // garbage header bytes
    auto c = Connect();
    ASSERT_TRUE(c->SendRaw(frame(std::string(16, '\xff'), "")));
    EXPECT_TRUE(c->WaitClosed());
  }
  {  // a header without a request
    auto c = Connect();
    pb::RequestHeader h;
    h.set_version(1);
    h.set_request_id(7);
    ASSERT_TRUE(c->SendRaw(frame(h.SerializeAsString(), "")));
    EXPECT_TRUE(c->WaitClosed());
  }
  {  // header length larger than the frame
    auto c = Connect();
    std::string p(8, '\0');
    native::PutFrameU32(reinterpret_cast<uint8_t*>(p.data()), 10);
    native::PutFrameU32(reinterpret_cast<uint8_t*>(p.data()) + 4, 50);
    ASSERT_TRUE(c->SendRaw(p + "xxxxxx"));
    EXPECT_TRUE(c->WaitClosed());
  }
  {  // produce sizes that do not add up to the payload
    auto c = Connect();
    std::string payload;
    pb::RequestHeader h = ProduceReq("t", 0, 1, {MakeBatch(1, 1, "x")}, &payload);
    h.set_version(1);
    ASSERT_TRUE(c->SendRaw(frame(h.SerializeAsString(), payload + "extra")));
    EXPECT_TRUE(c->WaitClosed());
  }
  {  // truncated frame: the client stops sending halfway and closes its side
    auto c = Connect();
    pb::RequestHeader h;
    h.set_version(1);
    h.mutable_api_versions();
    std::string full = frame(h.SerializeAsString(), "");
    full[3] = char(full[3] + 20);  // claims 20 more bytes than will come
    ASSERT_TRUE(c->SendRaw(full));
    shutdown(c->fd(), SHUT_WR);
    EXPECT_TRUE(c->WaitClosed());
  }
  pb::RequestHeader av = ApiVersionsReq();
  EXPECT_EQ(Connect()->Call(av).header.api_versions().max_version(), 1u);
  std::string log = broker_->Log();
  EXPECT_NE(log.find("unparsable request header"), std::string::npos);
  EXPECT_NE(log.find("without a request"), std::string::npos);
  EXPECT_NE(log.find("truncated frame"), std::string::npos);
  EXPECT_NE(log.find("add up to"), std::string::npos);
}

TEST_F(BrokerNativeTest, PipelinedRequestsAreAnsweredInOrderAndAcks0IsSilent) {
  // A tiny in-flight limit: the broker must stop reading and resume, never deadlock.
  StartBroker({"--max-inflight-bytes-per-connection", "1024"});
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "pipe", 1), pb::NONE);
  std::vector<uint64_t> expected;
  for (int i = 0; i < 60; ++i) {
    std::string payload;
    int32_t acks = i % 3 == 0 ? -1 : (i % 3 == 1 ? 0 : 1);
    pb::RequestHeader h = ProduceReq("pipe", 0, acks, {MakeBatch(1, i, "p")}, &payload);
    uint64_t id = c->Send(h, payload);
    if (acks != 0) expected.push_back(id);
    if (i % 10 == 0) {
      expected.push_back(c->Send(MetadataReq({}, false)));
    }
  }
  for (uint64_t id : expected) {
    auto f = c->Read();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->header.request_id(), id);
  }
  EXPECT_EQ(ListOffset(*c, "pipe", -1).offset(), 60);
  // Offsets follow request order.
  Frame f = c->Call(FetchReq("pipe", 0, 0));
  auto view = storage::RecordBatchView::Parse(storage::AsBytes(f.payload));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->base_offset().value(), 0);
  EXPECT_EQ(view->base_timestamp(), 0);
}

TEST_F(BrokerNativeTest, RestartAfterSigtermKeepsData) {
  StartBroker();
  std::string b = MakeBatch(5, 42, "keep");
  {
    auto c = Connect();
    ASSERT_EQ(CreateTopic(*c, "durable", 1), pb::NONE);
    ASSERT_EQ(Produce(*c, "durable", 0, -1, {b}).error().code(), pb::NONE);
    ASSERT_EQ(Produce(*c, "durable", 0, 1, {b}).error().code(), pb::NONE);
  }
  // A long poll in flight at SIGTERM is answered (empty) and the broker still exits 0 quickly.
  auto poller = Connect();
  uint64_t id = poller->Send(FetchReq("durable", 0, 10, /*max_wait_ms=*/60000, /*min_bytes=*/1));
  std::this_thread::sleep_for(milliseconds(100));
  auto t0 = Clock::now();
  ASSERT_EQ(broker_->Stop(), 0) << broker_->Log();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(10));
  auto answer = poller->Read(1000);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->header.request_id(), id);
  EXPECT_TRUE(answer->payload.empty());
  ASSERT_TRUE(broker_->Start()) << broker_->Log();
  auto c = Connect();
  EXPECT_EQ(ListOffset(*c, "durable", -1).offset(), 10);
  EXPECT_EQ(c->Call(FetchReq("durable", 0, 0)).payload, WithBase(b, 0) + WithBase(b, 5));
  EXPECT_EQ(Produce(*c, "durable", 0, 1, {b}).base_offset(), 10);
}

TEST_F(BrokerNativeTest, HealthzAndMetricsOverHttp) {
  StartBroker();
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "m", 1), pb::NONE);
  Produce(*c, "m", 0, -1, {MakeBatch(3, 1, "m")});
  c->Call(FetchReq("m", 0, 0));
  std::string h = HttpGet(broker_->http_port, "/healthz");
  EXPECT_EQ(h.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << h;
  EXPECT_NE(h.find("\r\n\r\nok"), std::string::npos);
  std::string m = HttpGet(broker_->http_port, "/metrics");
  for (const char* series :
       {"sluice_requests_total{api=\"produce\"} 1", "sluice_requests_total{api=\"fetch\"} 1",
        "sluice_request_duration_seconds_bucket{api=\"produce\",le=\"+Inf\"} 1",
        "sluice_request_duration_seconds_count{api=\"create_topics\"} 1", "sluice_bytes_in_total ",
        "sluice_bytes_out_total ", "sluice_connections 1",
        "sluice_partition_log_end_offset{topic=\"m\",partition=\"0\"} 3",
        "sluice_partition_high_watermark{topic=\"m\",partition=\"0\"} 3",
        "sluice_partition_fenced{topic=\"m\",partition=\"0\"} 0", "# TYPE sluice_group_lag gauge",
        "sluice_fsync_duration_seconds_count "}) {
    EXPECT_NE(m.find(series), std::string::npos) << "missing " << series << " in\n" << m;
  }
  EXPECT_EQ(HttpGet(broker_->http_port, "/nope").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(HttpGet(broker_->http_port, "/metrics", "POST").rfind("HTTP/1.1 405", 0), 0u);
}

TEST_F(BrokerNativeTest, GroupOffsetsCommitAndFetch) {
  StartBroker();
  auto c = Connect();
  pb::RequestHeader fc;
  fc.mutable_find_coordinator()->set_group_id("g");
  Frame f = c->Call(fc);
  EXPECT_EQ(f.header.find_coordinator().coordinator().port(), broker_->native_port);
  ASSERT_EQ(CreateTopic(*c, "gt", 1), pb::NONE);
  Produce(*c, "gt", 0, 1, {MakeBatch(4, 1, "g")});
  pb::RequestHeader oc;
  auto* commit = oc.mutable_offset_commit();
  commit->set_group_id("g");
  commit->set_generation_id(-1);
  auto* p = commit->add_partitions();
  p->set_topic("gt");
  p->set_partition(0);
  p->set_offset(1);
  f = c->Call(oc);
  ASSERT_EQ(f.header.offset_commit().partitions_size(), 1);
  EXPECT_EQ(f.header.offset_commit().partitions(0).error().code(), pb::NONE);
  pb::RequestHeader of;
  of.mutable_offset_fetch()->set_group_id("g");
  f = c->Call(of);
  ASSERT_EQ(f.header.offset_fetch().partitions_size(), 1);
  EXPECT_EQ(f.header.offset_fetch().partitions(0).offset(), 1);
  std::string m = HttpGet(broker_->http_port, "/metrics");
  EXPECT_NE(m.find("sluice_group_lag{group=\"g\",topic=\"gt\",partition=\"0\"} 3"),
            std::string::npos)
      << m;
}

TEST_F(BrokerNativeTest, IdleAndMaxConnectionsLimits) {
  StartBroker({"--idle-timeout-ms", "300", "--max-connections", "2"});
  auto a = Connect();
  auto b = Connect();
  std::this_thread::sleep_for(milliseconds(50));
  auto refused = Connect();
  EXPECT_TRUE(refused->WaitClosed(5000));
  EXPECT_TRUE(a->WaitClosed(5000));  // idle
  EXPECT_TRUE(b->WaitClosed(5000));
  auto fresh = Connect();
  pb::RequestHeader av = ApiVersionsReq();
  EXPECT_EQ(fresh->Call(av).header.api_versions().max_version(), 1u);
}

TEST_F(BrokerNativeTest, ConfigFileAndBadFlags) {
  std::string log = dir_ + "/flags.log";
  EXPECT_EQ(RunToExit({"--help"}, log), 0);
  EXPECT_EQ(RunToExit({"--num-partitions", "0"}, log), 2);
  EXPECT_EQ(RunToExit({"--native-addr", "nowhere"}, log), 2);
  EXPECT_EQ(RunToExit({"--kafka-addr", "1.2.3.4:99999"}, log), 2);
  EXPECT_EQ(RunToExit({"--log-level", "loud"}, log), 2);
  EXPECT_EQ(RunToExit({"--log-segment-bytes", "3"}, log), 2);
  EXPECT_EQ(RunToExit({"--bogus"}, log), 2);
  { std::ofstream(dir_ + "/bad.toml") << "no-such-key = 1\n"; }
  EXPECT_EQ(RunToExit({"--config", dir_ + "/bad.toml"}, log), 2);
  {
    std::ofstream(dir_ + "/good.toml") << "num-partitions = 3\nauto_create_topics = true\n"
                                          "log-level = \"info\"\nnode-id = 4\n";
  }
  StartBroker({"--config", dir_ + "/good.toml", "--node-id", "7"});  // the flag wins
  auto c = Connect();
  Frame f = c->Call(MetadataReq({"from-file"}, true));
  EXPECT_EQ(f.header.metadata().topics(0).partitions_size(), 3);
  EXPECT_EQ(f.header.metadata().brokers(0).node_id(), 7);
}

}  // namespace
}  // namespace sluice
