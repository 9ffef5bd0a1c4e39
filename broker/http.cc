#include "broker/http.h"

#include <chrono>
#include <variant>

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "asio/read_until.hpp"
#include "asio/steady_timer.hpp"
#include "asio/use_awaitable.hpp"
#include "asio/write.hpp"
#include "spdlog/spdlog.h"

namespace sluice::broker {
namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kMaxHeadBytes = 8192;
constexpr auto kSessionDeadline = std::chrono::seconds(10);

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

HttpReply Plain(int status, std::string body) {
  return HttpReply{status, "text/plain; charset=utf-8", std::move(body)};
}

}  // namespace

HttpServer::HttpServer(IoContextPool& pool, std::map<std::string, Route> routes)
    : routes_(std::move(routes)),
      listener_(pool, net::ListenerOptions{.name = "http"},
                [this](tcp::socket socket) -> std::shared_ptr<net::TrackedConnection> {
                  auto ex = socket.get_executor();
                  asio::co_spawn(ex, Session(std::move(socket)), [](std::exception_ptr e) {
                    if (!e) return;
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                      spdlog::warn("http session failed: {}", x.what());
                    }
                  });
                  return nullptr;
                }) {}

HttpServer::~HttpServer() = default;

asio::awaitable<void> HttpServer::Session(tcp::socket socket) {
  asio::steady_timer deadline(socket.get_executor(), kSessionDeadline);
  std::string head;
  auto read = co_await (asio::async_read_until(socket, asio::dynamic_buffer(head, kMaxHeadBytes),
                                               "\r\n\r\n", kNoThrow) ||
                        deadline.async_wait(kNoThrow));
  HttpReply reply;
  bool head_only = false;
  if (read.index() == 1) {
    reply = Plain(408, "request head not received in time\n");
  } else if (auto [ec, n] = std::get<0>(read); ec) {
    if (ec != asio::error::not_found) co_return;  // the client went away
    reply = Plain(431, "request head above 8 KiB\n");
  } else {
    auto handled = co_await (Handle(head, &head_only) || deadline.async_wait(kNoThrow));
    if (handled.index() == 0) {
      reply = std::get<0>(std::move(handled));
    } else {
      reply = Plain(503, "timed out preparing the response\n");
    }
  }
  std::string out = absl::StrCat(
      "HTTP/1.1 ", reply.status, " ", Reason(reply.status),
      "\r\nContent-Type: ", reply.content_type, "\r\nContent-Length: ", reply.body.size(),
      reply.status == 405 ? "\r\nAllow: GET, HEAD" : "", "\r\nConnection: close\r\n\r\n");
  if (!head_only) out += reply.body;
  co_await (asio::async_write(socket, asio::buffer(out), kNoThrow) ||
            deadline.async_wait(kNoThrow));
  asio::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

asio::awaitable<HttpReply> HttpServer::Handle(const std::string& head, bool* head_only) {
  // Request line: METHOD SP target SP HTTP/1.x
  size_t eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
    co_return Plain(400, "malformed request line\n");
  }
  std::string method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (method != "GET" && method != "HEAD") co_return Plain(405, "only GET and HEAD are served\n");
  *head_only = method == "HEAD";
  std::string path = target.substr(0, target.find('?'));
  auto it = routes_.find(path);
  if (it == routes_.end()) {
    std::string known;
    for (const auto& [p, r] : routes_) absl::StrAppend(&known, p, "\n");
    co_return Plain(404, absl::StrCat("no such path; try:\n", known));
  }
  co_return co_await it->second();
}

}  // namespace sluice::broker
