#pragma once
// Helpers of hostile_clients_test.cc: a raw loopback socket that can send anything (bytewise,
// non-blocking, half-closed) and tell EOF or a reset from silence; Kafka and native frames built
// from the generated structs and protobuf; a response parser for each protocol; the broker's RSS
// from /proc and a metric from its /metrics page; request builders; a client that never reads its
// responses; a swarm of non-blocking connections. Independent of the broker's connection code. Used
// from the test's main thread only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "broker/kafka/kafka_messages.h"
#include "broker/kafka/wire.h"
#include "gtest/gtest.h"
#include "proto/native.pb.h"
#include "proto/native_frame.h"
#include "storage/record_batch.h"
#include "tests/integration/sluiced_process.h"

namespace sluice::hostile {

namespace msg = broker::kafka::msg;
namespace pb = ::sluice::native;
using broker::kafka::Reader;
using broker::kafka::Writer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline constexpr int kIoTimeoutMs = 10000;  // any single socket wait

inline std::string AsString(const std::vector<uint8_t>& v) {
  return std::string(v.begin(), v.end());
}
inline std::span<uint8_t> MutableView(std::string& s) {
  return {reinterpret_cast<uint8_t*>(s.data()), s.size()};
}

// ---------------------------------------------------------------- the broker process

// VmRSS of `pid` in KiB (/proc/<pid>/status), -1 if it cannot be read.
inline int64_t RssKib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// ---------------------------------------------------------------- a raw socket

// One loopback TCP connection that sends whatever it is given. Every wait is bounded.
class RawSocket {
 public:
  // `rcvbuf`/`sndbuf` > 0 fix SO_RCVBUF/SO_SNDBUF before connecting (no autotuning: a client that
  // reads nothing then absorbs little of what the broker sends, and queues little itself).
  explicit RawSocket(uint16_t port, int rcvbuf = 0, int sndbuf = 0) {
    fd_ = e2e::ConnectLoopback(port, rcvbuf, sndbuf);
    if (fd_ < 0) return;
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    local_port_ = ntohs(local.sin_port);
  }
  ~RawSocket() { Close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // How the broker names this connection in its log lines ("127.0.0.1:PORT").
  std::string peer() const { return "127.0.0.1:" + std::to_string(local_port_); }

  // Sends all of `bytes`, waiting (bounded) while the socket is full.
  bool Send(std::string_view bytes, int timeout_ms = kIoTimeoutMs) {
    const auto until = Clock::now() + milliseconds(timeout_ms);
    size_t at = 0;
    while (at < bytes.size()) {
      const int left =
          static_cast<int>(std::chrono::duration_cast<milliseconds>(until - Clock::now()).count());
      pollfd p{fd_, POLLOUT, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) return false;
      const ssize_t n = send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<size_t>(n);
    }
    return true;
  }

  // One send() per byte, pausing `pause` after every `every` bytes so the broker's reads see the
  // frame in pieces.
  bool SendBytewise(std::string_view bytes, size_t every = 16,
                    milliseconds pause = milliseconds(1)) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (!Send(bytes.substr(i, 1))) return false;
      if ((i + 1) % every == 0) std::this_thread::sleep_for(pause);
    }
    return true;
  }

  // Whatever part of `bytes` the kernel takes without waiting; -1 on an error other than a full
  // socket.
  ssize_t TrySend(std::string_view bytes) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    return n;
  }

  // Whether bytes (or EOF) can be read within `ms`.
  bool Readable(int ms) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, ms) > 0;
  }

  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Exactly `n` bytes, or nullopt on EOF, error or timeout.
  std::optional<std::string> RecvExact(size_t n, int timeout_ms = kIoTimeoutMs) {
    std::string out(n, '\0');
    const auto until = Clock::now() + milliseconds(timeout_ms);
    for (size_t got = 0; got < n;) {
      const int left =
          static_cast<int>(std::chrono::duration_cast<milliseconds>(until - Clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) return std::nullopt;
      const ssize_t r = recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) return std::nullopt;
      got += static_cast<size_t>(r);
    }
    return out;
  }

  // One frame after its u32 size/length prefix (both protocols start so); nullopt on EOF, timeout
  // or a size above 64 MiB.
  std::optional<std::string> RecvFrame(int timeout_ms = kIoTimeoutMs) {
    auto size = RecvExact(4, timeout_ms);
    if (!size) return std::nullopt;
    const uint32_t n = pb::GetFrameU32(reinterpret_cast<const uint8_t*>(size->data()));
    if (n > (64u << 20)) return std::nullopt;
    return RecvExact(n, timeout_ms);
  }

  // True if the connection is reset or shut down by the peer within `ms`, without reading anything
  // (a client that never reads learns of the close this way: the broker, closing with requests it
  // never read, sends a reset).
  bool WaitResetUnread(int ms) {
    const auto until = Clock::now() + milliseconds(ms);
    while (Clock::now() < until) {
      pollfd p{fd_, POLLRDHUP, 0};
      if (poll(&p, 1, 20) > 0 && (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) != 0) return true;
    }
    return false;
  }

  // True if the broker ends the connection (EOF or ECONNRESET) within `ms`; bytes before that are
  // read and dropped.
  bool WaitClosed(int ms = 5000) {
    const auto until = Clock::now() + milliseconds(ms);
    char buf[16384];
    while (Clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const ssize_t r = recv(fd_, buf, sizeof(buf), 0);
      if (r == 0) return true;
      if (r < 0 && errno != EAGAIN && errno != EINTR) return true;  // ECONNRESET and friends
    }
    return false;
  }

 private:
  int fd_ = -1;
  uint16_t local_port_ = 0;
};

// ---------------------------------------------------------------- Kafka frames

struct KafkaHeader {
  int16_t api_key = 18;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id = "hostile";
  bool tagged = false;  // request header v2
};

// Size, header, body.
inline std::string KafkaFrame(const KafkaHeader& h, std::string_view body) {
  Writer w;
  const size_t at = w.ReserveInt32();
  w.Int16(h.api_key);
  w.Int16(h.api_version);
  w.Int32(h.correlation_id);
  w.NullableString(h.client_id);
  if (h.tagged) w.UnsignedVarint(0);
  w.Raw(body);
  w.PatchInt32(at, static_cast<int32_t>(w.bytes().size() - 4));
  return AsString(w.bytes());
}

// A whole request frame for a generated request struct.
template <typename Req>
std::string KafkaRequest(const Req& req, int16_t version, int32_t correlation_id,
                         std::string client_id = "hostile") {
  Writer body;
  req.Encode(body, version);
  return KafkaFrame({.api_key = Req::kApiKey,
                     .api_version = version,
                     .correlation_id = correlation_id,
                     .client_id = std::move(client_id),
                     .tagged = version >= Req::kFirstFlexibleVersion},
                    AsString(body.bytes()));
}

// Parses a response frame (after its size): correlation id, header tags (flexible versions but
// ApiVersions) and the body, which must be consumed exactly. Decoded records view `frame`.
template <typename Resp>
::testing::AssertionResult ParseKafka(std::string& frame, int16_t version, int32_t correlation_id,
                                      Resp* out) {
  Reader r(MutableView(frame));
  const int32_t corr = r.Int32();
  if (version >= Resp::kFirstFlexibleVersion && Resp::kApiKey != 18) {
    const uint32_t tags = r.UnsignedVarint();
    for (uint32_t i = 0; i < tags && r.ok(); ++i) {
      r.UnsignedVarint();
      r.Take(r.UnsignedVarint());
    }
  }
  if (!r.ok()) return ::testing::AssertionFailure() << "bad response header: " << r.error();
  if (corr != correlation_id) {
    return ::testing::AssertionFailure()
           << "correlation id " << corr << ", expected " << correlation_id;
  }
  if (!out->Decode(r, version)) return ::testing::AssertionFailure() << r.error();
  if (r.remaining() != 0) return ::testing::AssertionFailure() << r.remaining() << " bytes left";
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------- native frames

// A request header of protocol version 1 with `request_id`; the caller sets the request.
inline pb::RequestHeader NativeHeader(uint64_t request_id = 1) {
  pb::RequestHeader h;
  h.set_version(1);
  h.set_request_id(request_id);
  return h;
}

// Length, header length, `h` exactly as given, payload.
inline std::string NativeFrame(const pb::RequestHeader& h, std::string_view payload = {}) {
  const std::string header = h.SerializeAsString();
  return pb::FramePrefix(header.size(), payload.size()) + header + std::string(payload);
}

struct NativeResponse {
  pb::ResponseHeader header;
  std::string payload;
};

// Parses a response frame (after its length field).
inline std::optional<NativeResponse> ParseNative(const std::string& body) {
  if (body.size() < 4) return std::nullopt;
  const uint32_t hl = pb::GetFrameU32(reinterpret_cast<const uint8_t*>(body.data()));
  if (hl > body.size() - 4) return std::nullopt;
  NativeResponse out;
  if (!out.header.ParseFromArray(body.data() + 4, static_cast<int>(hl))) return std::nullopt;
  out.payload = body.substr(4 + hl);
  return out;
}

// ---------------------------------------------------------------- HTTP /metrics

using e2e::HttpGet;

// The value of the series named exactly `series` (name and labels) on the metrics page, or -1.
inline double MetricValue(uint16_t http_port, const std::string& series) {
  const std::string page = HttpGet(http_port, "/metrics");
  const std::string key = "\n" + series + " ";
  const size_t at = page.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(page.substr(at + key.size(), 32));
}

// ---------------------------------------------------------------- batches and requests

inline std::string MakeBatch(int records, int64_t timestamp_ms, const std::string& tag,
                             size_t value_bytes = 40) {
  storage::RecordBatchBuilder b;
  for (int i = 0; i < records; ++i) {
    const std::string key = tag + "-k" + std::to_string(i);
    const std::string value = tag + "-v" + std::to_string(i) + std::string(value_bytes, 'x');
    b.Add(key, value, {}, timestamp_ms + i);
  }
  return b.Build();
}

// The batch as the broker stores and serves it: baseOffset patched.
inline std::string WithBase(std::string batch, int64_t base) {
  storage::SetBaseOffset(MutableView(batch), Offset(base));
  return batch;
}

// `data` must outlive the request (records view it).
inline msg::ProduceRequest ProduceReq(const std::string& topic, std::string& data) {
  msg::ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 10000;
  auto& t = req.topic_data.emplace_back();
  t.name = topic;
  auto& p = t.partition_data.emplace_back();
  p.index = 0;
  p.records.null = false;
  p.records.data = MutableView(data);
  return req;
}

inline msg::FetchRequest FetchReq(const std::string& topic, int64_t offset, int32_t max_wait_ms = 0,
                                  int32_t min_bytes = 0) {
  msg::FetchRequest req;
  req.replica_id = -1;
  req.max_wait_ms = max_wait_ms;
  req.min_bytes = min_bytes;
  req.max_bytes = 8 << 20;
  req.session_epoch = -1;
  auto& p = req.topics.emplace_back();
  p.topic = topic;
  auto& part = p.partitions.emplace_back();
  part.fetch_offset = offset;
  part.partition_max_bytes = 1 << 20;
  return req;
}

inline std::string ApiVersionsFrame(int16_t version, int32_t correlation_id) {
  msg::ApiVersionsRequest req;
  req.client_software_name = "hostile";
  req.client_software_version = "1.0";
  return KafkaRequest(req, version, correlation_id);
}

inline pb::RequestHeader NativeApiVersions(uint64_t id = 1) {
  pb::RequestHeader h = NativeHeader(id);
  h.mutable_api_versions();
  return h;
}

inline pb::RequestHeader NativeProduce(const std::string& topic, size_t bytes, uint64_t id = 1) {
  pb::RequestHeader h = NativeHeader(id);
  auto* p = h.mutable_produce();
  p->set_acks(-1);
  p->set_timeout_ms(10000);
  auto* part = p->add_partitions();
  part->set_topic(topic);
  part->set_partition(0);
  part->set_size(static_cast<uint32_t>(bytes));
  return h;
}

inline pb::RequestHeader NativeFetch(const std::string& topic, int64_t offset, uint64_t id = 1,
                                     uint32_t max_wait_ms = 0, uint32_t min_bytes = 0) {
  pb::RequestHeader h = NativeHeader(id);
  auto* f = h.mutable_fetch();
  f->set_max_wait_ms(max_wait_ms);
  f->set_min_bytes(min_bytes);
  f->set_max_bytes(8 << 20);
  auto* p = f->add_partitions();
  p->set_topic(topic);
  p->set_partition(0);
  p->set_offset(offset);
  p->set_max_bytes(1 << 20);
  return h;
}

inline pb::RequestHeader NativeCreateTopic(const std::string& name, uint64_t id = 1) {
  pb::RequestHeader h = NativeHeader(id);
  auto* t = h.mutable_create_topics()->add_topics();
  t->set_name(name);
  t->set_partitions(1);
  return h;
}

// Sends `frame` and reads one response; nullopt if none came.
inline std::optional<NativeResponse> NativeCall(RawSocket& c, const std::string& frame) {
  if (!c.Send(frame)) return std::nullopt;
  auto body = c.RecvFrame();
  if (!body) return std::nullopt;
  return ParseNative(*body);
}

// The u32 `v`, big-endian, as 4 bytes.
inline std::string U32(uint32_t v) {
  std::string s(4, '\0');
  pb::PutFrameU32(reinterpret_cast<uint8_t*>(s.data()), v);
  return s;
}

inline std::string Body(const std::function<void(Writer&)>& fill) {
  Writer w;
  fill(w);
  return AsString(w.bytes());
}

// A client that pipelines Fetch requests and never reads a response, on `port`. Its socket buffers
// are small and fixed, so what it pushes is absorbed mostly by the broker's receive buffer, which
// the broker stops draining once the unanswered requests hold --max-inflight-bytes-per-connection.
class NeverReadingClient {
 public:
  NeverReadingClient(uint16_t port, std::string frame)
      : socket_(port, /*rcvbuf=*/16384, /*sndbuf=*/16384), frame_(std::move(frame)) {
    for (int i = 0; i < 1024; ++i) stream_ += frame_;
  }
  RawSocket& socket() { return socket_; }

  // Sends frames until the socket takes nothing for `stall` (bounded by 10 s and 64 MiB); returns
  // the number of whole frames sent.
  uint64_t PushUntilStalled(milliseconds stall) {
    const auto until = Clock::now() + std::chrono::seconds(10);
    auto progress = Clock::now();
    size_t at = 0;
    while (Clock::now() < until && Clock::now() - progress < stall && sent_ < (64u << 20)) {
      const ssize_t n = socket_.TrySend(std::string_view(stream_).substr(at));
      if (n < 0) break;
      if (n == 0) {
        std::this_thread::sleep_for(milliseconds(5));
        continue;
      }
      progress = Clock::now();
      sent_ += static_cast<uint64_t>(n);
      at = (at + static_cast<size_t>(n)) % stream_.size();
    }
    return sent_ / frame_.size();
  }

 private:
  RawSocket socket_;
  std::string frame_;
  std::string stream_;  // 1024 frames back to back
  uint64_t sent_ = 0;
};

// Raises this process's RLIMIT_NOFILE (the broker, forked from it, inherits it) to `n`.
inline bool RaiseFdLimit(rlim_t n) {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) != 0) return false;
  if (l.rlim_cur >= n) return true;
  l.rlim_cur = n;
  if (l.rlim_max < n) l.rlim_max = n;  // we run as root
  return setrlimit(RLIMIT_NOFILE, &l) == 0;
}

// Non-blocking loopback connections, closed on destruction.
class ConnectionSwarm {
 public:
  ~ConnectionSwarm() { CloseAll(); }
  void CloseAll() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }
  size_t size() const { return fds_.size(); }
  int fd(size_t i) const { return fds_[i]; }

  // Starts a connect to 127.0.0.1:port.
  bool Add(uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 && errno != EINPROGRESS) {
      close(fd);
      return false;
    }
    fds_.push_back(fd);
    return true;
  }

  // Waits (bounded) until every connect completed. Returns how many did; `*failed` (if given)
  // counts those that completed with an error (a connection the broker refused may already be
  // reset).
  size_t WaitConnected(milliseconds timeout, size_t* failed = nullptr) {
    std::vector<pollfd> p;
    for (int fd : fds_) p.push_back({fd, POLLOUT, 0});
    const auto until = Clock::now() + timeout;
    size_t done = 0;
    if (failed) *failed = 0;
    while (done < p.size() && Clock::now() < until) {
      if (poll(p.data(), p.size(), 100) < 0) break;
      for (pollfd& x : p) {
        if (x.fd < 0 || x.revents == 0) continue;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(x.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 && failed) ++*failed;
        x.fd = -1;
        ++done;
      }
    }
    return done;
  }

  // Closes and forgets every connection i with !keep[i].
  void Keep(const std::vector<bool>& keep) {
    std::vector<int> kept;
    for (size_t i = 0; i < fds_.size(); ++i) {
      if (keep[i]) {
        kept.push_back(fds_[i]);
      } else {
        close(fds_[i]);
      }
    }
    fds_ = std::move(kept);
  }

  // Sends frames[i] on connection i (small frames: one send each on an idle socket), then reads
  // one response frame from each (bounded). Returns the frames' bodies; empty where none came (the
  // send failed, or the connection closed first).
  std::vector<std::string> RoundTrip(const std::vector<std::string>& frames, milliseconds timeout) {
    std::vector<std::string> in(fds_.size()), out(fds_.size());
    std::vector<pollfd> p;
    for (size_t i = 0; i < fds_.size(); ++i) {
      const bool sent = send(fds_[i], frames[i].data(), frames[i].size(), MSG_NOSIGNAL) ==
                        static_cast<ssize_t>(frames[i].size());
      p.push_back({sent ? fds_[i] : -1, POLLIN, 0});
    }
    size_t done = static_cast<size_t>(
        std::count_if(p.begin(), p.end(), [](const pollfd& x) { return x.fd < 0; }));
    const auto until = Clock::now() + timeout;
    char buf[4096];
    while (done < p.size() && Clock::now() < until) {
      if (poll(p.data(), p.size(), 100) < 0) break;
      for (size_t i = 0; i < p.size(); ++i) {
        if (p[i].fd < 0 || p[i].revents == 0) continue;
        const ssize_t n = recv(p[i].fd, buf, sizeof(buf), 0);
        if (n <= 0) {  // closed: no answer
          p[i].fd = -1;
          ++done;
          continue;
        }
        in[i].append(buf, static_cast<size_t>(n));
        if (in[i].size() >= 4) {
          const uint32_t len = pb::GetFrameU32(reinterpret_cast<const uint8_t*>(in[i].data()));
          if (in[i].size() >= 4 + len) {
            out[i] = in[i].substr(4, len);
            p[i].fd = -1;
            ++done;
          }
        }
      }
    }
    return out;
  }

 private:
  std::vector<int> fds_;
};

}  // namespace sluice::hostile
