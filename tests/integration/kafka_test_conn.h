#pragma once
// A blocking raw Kafka connection for integration tests: sends the generated request structs and
// decodes the responses, independent of the broker's connection code. Used from the test's main
// thread only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "broker/kafka/kafka_messages.h"
#include "broker/kafka/wire.h"
#include "gtest/gtest.h"
#include "tests/integration/sluiced_process.h"

namespace sluice::kafka_test {

namespace msg = broker::kafka::msg;
using broker::kafka::Reader;
using broker::kafka::Writer;
using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

inline constexpr int kIoTimeoutMs = 15000;  // any single socket wait

// ---------------------------------------------------------------- a raw Kafka connection

// One blocking TCP connection speaking Kafka framing: request header v1 (v2 at flexible
// versions), response header v0 (v1 at flexible versions). Requests may be pipelined: Send()
// queues the correlation id that the next Receive() must see. Decoded records view the last
// frame received, valid until the next Receive().
class KafkaConn {
 public:
  explicit KafkaConn(std::string client_id) : client_id_(std::move(client_id)) {}
  ~KafkaConn() {
    if (fd_ >= 0) close(fd_);
  }
  KafkaConn(const KafkaConn&) = delete;
  KafkaConn& operator=(const KafkaConn&) = delete;

  AssertionResult Connect(uint16_t port) {
    fd_ = e2e::ConnectLoopback(port);
    if (fd_ < 0) return AssertionFailure() << "connect to 127.0.0.1:" << port << " failed";
    return AssertionSuccess();
  }

  template <typename Req>
  AssertionResult Send(const Req& req, int16_t version) {
    Writer w;
    const size_t size_at = w.ReserveInt32();
    w.Int16(Req::kApiKey);
    w.Int16(version);
    w.Int32(++correlation_);
    w.NullableString(client_id_);
    if (version >= Req::kFirstFlexibleVersion) w.UnsignedVarint(0);  // no tagged fields
    req.Encode(w, version);
    w.PatchInt32(size_at, static_cast<int32_t>(w.bytes().size() - 4));
    const std::vector<uint8_t>& bytes = w.bytes();
    for (size_t sent = 0; sent < bytes.size();) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return AssertionFailure() << "send failed";
      sent += static_cast<size_t>(n);
    }
    pending_.push_back(correlation_);
    return AssertionSuccess();
  }

  // Forgets the last request sent (acks=0 produce: no response will come).
  void ExpectNoResponse() { pending_.pop_back(); }

  template <typename Resp>
  AssertionResult Receive(Resp* resp, int16_t version) {
    std::vector<uint8_t> size_bytes(4);
    if (!ReadExactly(size_bytes)) return AssertionFailure() << "no response (timeout or EOF)";
    Reader sr(size_bytes);
    const int32_t size = sr.Int32();
    if (size < 4) return AssertionFailure() << "bad response size " << size;
    frame_.assign(static_cast<size_t>(size), 0);
    if (!ReadExactly(frame_)) return AssertionFailure() << "truncated response";
    Reader r(frame_);
    const int32_t correlation = r.Int32();
    if (version >= Resp::kFirstFlexibleVersion) {
      const uint32_t tags = r.UnsignedVarint();
      for (uint32_t i = 0; i < tags && r.ok(); ++i) {
        r.UnsignedVarint();
        r.Take(r.UnsignedVarint());
      }
    }
    if (pending_.empty()) return AssertionFailure() << "response without a request";
    const int32_t expected = pending_.front();
    pending_.pop_front();
    if (correlation != expected) {
      return AssertionFailure() << "correlation id " << correlation << ", expected " << expected;
    }
    if (!resp->Decode(r, version)) return AssertionFailure() << "undecodable: " << r.error();
    if (r.remaining() != 0) return AssertionFailure() << r.remaining() << " trailing bytes";
    return AssertionSuccess();
  }

  template <typename Req, typename Resp>
  AssertionResult Call(const Req& req, int16_t version, Resp* resp) {
    AssertionResult sent = Send(req, version);
    return sent ? Receive(resp, version) : sent;
  }

  // Whether response bytes (or EOF) arrived within `ms`.
  bool Readable(int ms) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
  }

  // True if the broker closes the connection within the I/O timeout (bytes before EOF are
  // discarded).
  bool WaitClosed() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kIoTimeoutMs);
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
      if (!Readable(50)) continue;
      if (::recv(fd_, buf, sizeof(buf), 0) <= 0) return true;
    }
    return false;
  }

 private:
  bool ReadExactly(std::vector<uint8_t>& out) {
    using std::chrono::milliseconds;
    using std::chrono::steady_clock;
    const auto until = steady_clock::now() + milliseconds(kIoTimeoutMs);
    for (size_t got = 0; got < out.size();) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(until - steady_clock::now()).count();
      if (left <= 0 || !Readable(static_cast<int>(left))) return false;
      ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

  std::string client_id_;
  int fd_ = -1;
  int32_t correlation_ = 0;
  std::deque<int32_t> pending_;
  std::vector<uint8_t> frame_;  // the last response; decoded records view it
};

}  // namespace sluice::kafka_test
