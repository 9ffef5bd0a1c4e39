#pragma once
// HttpServer: a minimal HTTP/1.1 server for operations endpoints (/healthz, /metrics).
//
// GET (and HEAD) only, one request per connection (`Connection: close`), request head at most
// 8 KiB, every connection bounded by a 10 s deadline. Routes map an exact path (query string
// ignored) to a coroutine producing the body. Accepting is a net::Listener's (the pool's first
// io_context; each session on the next io_context round-robin). Sessions are not counted against
// --max-connections (the deadline bounds them) nor drained at shutdown. Lifecycle as
// net::Listener: Bind(), Start(), Stop() from any thread; destroy before the io_contexts.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "broker/config.h"
#include "broker/io_context_pool.h"
#include "broker/net/listener.h"

namespace sluice::broker {

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Route = std::function<asio::awaitable<HttpReply>()>;

  HttpServer(IoContextPool& pool, std::map<std::string, Route> routes);
  ~HttpServer();

  absl::Status Bind(const HostPort& addr) { return listener_.Bind(addr); }
  uint16_t port() const { return listener_.port(); }
  void Start() { listener_.Start(); }
  void Stop() { listener_.Stop(); }

 private:
  asio::awaitable<void> Session(asio::ip::tcp::socket socket);
  asio::awaitable<HttpReply> Handle(const std::string& head, bool* head_only);

  std::map<std::string, Route> routes_;
  net::Listener listener_;
};

}  // namespace sluice::broker
