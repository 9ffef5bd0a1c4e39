#include "client/src/connection.h"

#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "client/src/errors.h"
#include "client/src/frame_codec.h"
#include "proto/native_frame.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"

namespace sluice::client {
namespace {

using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);
// How often outstanding requests are checked against their deadlines.
constexpr std::chrono::milliseconds kWatchdogTick{20};

}  // namespace

ConnectionOptions ConnectionOptions::From(const ClientConfig& config) {
  ConnectionOptions o;
  o.client_id = config.client_id;
  o.connect_timeout = config.connect_timeout;
  o.reconnect_backoff = config.reconnect_backoff;
  o.reconnect_backoff_max = config.reconnect_backoff_max;
  o.max_frame_bytes = config.max_frame_bytes;
  return o;
}

absl::StatusOr<std::pair<std::string, std::string>> SplitHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", ToAbsl(address), "' is not host:port"));
  }
  std::string host(address.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // [::1]:9093
  }
  return std::make_pair(std::move(host), std::string(address.substr(colon + 1)));
}

std::shared_ptr<Connection> Connection::Create(asio::any_io_executor executor,
                                               std::vector<std::string> addresses,
                                               ConnectionOptions options) {
  return std::shared_ptr<Connection>(
      new Connection(std::move(executor), std::move(addresses), std::move(options)));
}

Connection::Connection(asio::any_io_executor executor, std::vector<std::string> addresses,
                       ConnectionOptions options)
    : executor_(executor),
      addresses_(std::move(addresses)),
      options_(std::move(options)),
      name_(absl::StrJoin(addresses_, ",")),
      socket_(executor),
      write_signal_(executor),
      backoff_timer_(executor),
      watchdog_timer_(executor) {}

Connection::~Connection() = default;

void Connection::Send(native::RequestHeader header, std::string payload,
                      std::chrono::milliseconds timeout, bool expect_response,
                      ResponseCallback done) {
  if (closed_) {
    Complete(std::move(done),
             absl::CancelledError(absl::StrCat("connection to ", name_, " is closed")));
    return;
  }
  Pending p;
  p.request_id = next_request_id_++;
  header.set_version(native::kProtocolVersion);
  header.set_request_id(p.request_id);
  header.set_client_id(options_.client_id);
  p.head = EncodeFrameHead(header, payload.size());
  p.payload = std::move(payload);
  p.deadline = Clock::now() + timeout;
  p.expect_response = expect_response;
  p.done = std::move(done);
  queue_.push_back(std::move(p));
  write_signal_.cancel();
  EnsureRunning();
}

asio::awaitable<absl::StatusOr<Response>> Connection::Call(native::RequestHeader header,
                                                           std::chrono::milliseconds timeout,
                                                           std::string payload) {
  auto self = shared_from_this();
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(absl::StatusOr<Response>)>(
      [&](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        Send(std::move(header), std::move(payload), timeout, /*expect_response=*/true,
             [h](absl::StatusOr<Response> r) { (*h)(std::move(r)); });
      },
      asio::use_awaitable);
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  EndSession(absl::CancelledError(absl::StrCat("connection to ", name_, " closed")));
  backoff_timer_.cancel();
  watchdog_timer_.cancel();
  const absl::Status cancelled =
      absl::CancelledError(absl::StrCat("connection to ", name_, " closed"));
  for (auto* q : {&queue_, &in_flight_}) {
    while (!q->empty()) {
      Complete(std::move(q->front().done), cancelled);
      q->pop_front();
    }
  }
}

void Connection::EnsureRunning() {
  if (closed_) return;
  if (!running_) {
    running_ = true;
    asio::co_spawn(executor_, Run(), asio::detached);
  }
  if (!watchdog_running_) {
    watchdog_running_ = true;
    asio::co_spawn(executor_, Watchdog(), asio::detached);
  }
}

asio::awaitable<void> Connection::Run() {
  auto self = shared_from_this();
  while (!closed_ && !queue_.empty()) {
    if (failures_ > 0) {
      const int shift = std::min(failures_ - 1, 16);
      const auto backoff =
          std::min(options_.reconnect_backoff * (1 << shift), options_.reconnect_backoff_max);
      backoff_timer_.expires_after(backoff);
      co_await backoff_timer_.async_wait(kUseTuple);
      if (closed_) break;
    }
    absl::Status st = co_await Connect();
    if (!st.ok()) {
      ++failures_;
      connect_error_ = st;
      spdlog::debug("sluice client: connect to {} failed (attempt {}): {}", name_, failures_,
                    st.message());
      continue;
    }
    failures_ = 0;
    connect_error_ = absl::OkStatus();
    connected_ = true;
    session_error_ = absl::OkStatus();
    spdlog::debug("sluice client: connected to {}", name_);
    co_await (ReadLoop() || WriteLoop());
    connected_ = false;
    asio::error_code ignored;
    socket_.close(ignored);
    const absl::Status lost = absl::UnavailableError(
        absl::StrCat("connection to ", name_, " lost: ", session_error_.message()));
    while (!in_flight_.empty()) {
      Complete(std::move(in_flight_.front().done), lost);
      in_flight_.pop_front();
    }
    if (!closed_) spdlog::debug("sluice client: {}", lost.message());
    failures_ = 1;  // wait reconnect_backoff before the next attempt: no tight reconnect loop
  }
  running_ = false;
}

asio::awaitable<absl::Status> Connection::Connect() {
  absl::Status last = absl::UnavailableError("no address to connect to");
  for (size_t i = 0; i < addresses_.size() && !closed_; ++i) {
    const std::string& address = addresses_[next_address_++ % addresses_.size()];
    auto hp = SplitHostPort(address);
    if (!hp.ok()) {
      last = hp.status();
      continue;
    }
    asio::steady_timer timer(executor_, options_.connect_timeout);
    // A numeric address needs no getaddrinfo (which runs on a helper thread and can stall when
    // name services are unreachable); names go through the resolver, bounded by the timeout.
    std::vector<asio::ip::tcp::endpoint> endpoints;
    asio::error_code parse_ec;
    const asio::ip::address ip = asio::ip::make_address(hp->first, parse_ec);
    uint32_t numeric_port = 0;
    const bool numeric = !parse_ec && absl::SimpleAtoi(hp->second, &numeric_port) &&
                         numeric_port != 0 && numeric_port <= 65535;
    if (numeric) {
      endpoints.emplace_back(ip, static_cast<uint16_t>(numeric_port));
    } else {
      asio::ip::tcp::resolver resolver(executor_);
      auto resolved = co_await (resolver.async_resolve(hp->first, hp->second, kUseTuple) ||
                                timer.async_wait(kUseTuple));
      if (resolved.index() == 1) {
        last = absl::UnavailableError(absl::StrCat("resolving ", address, " timed out"));
        continue;
      }
      auto [rec, results] = std::get<0>(std::move(resolved));
      if (rec) {
        last = absl::UnavailableError(absl::StrCat("resolving ", address, ": ", rec.message()));
        continue;
      }
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    socket_ = asio::ip::tcp::socket(executor_);
    auto connected = co_await (asio::async_connect(socket_, endpoints, kUseTuple) ||
                               timer.async_wait(kUseTuple));
    if (closed_) break;
    if (connected.index() == 1) {
      asio::error_code ignored;
      socket_.close(ignored);
      last = absl::UnavailableError(absl::StrCat("connecting to ", address, " timed out after ",
                                                 options_.connect_timeout.count(), " ms"));
      continue;
    }
    auto [cec, ep] = std::get<0>(connected);
    if (cec) {
      asio::error_code ignored;
      socket_.close(ignored);
      last = absl::UnavailableError(absl::StrCat("connecting to ", address, ": ", cec.message()));
      continue;
    }
    asio::error_code ignored;
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    co_return absl::OkStatus();
  }
  if (closed_) co_return absl::CancelledError("connection closed");
  co_return last;
}

asio::awaitable<void> Connection::ReadLoop() {
  co_await asio::this_coro::throw_if_cancelled(false);
  std::array<uint8_t, native::kLengthFieldSize> length_field{};
  while (socket_.is_open()) {
    auto [ec, n] = co_await asio::async_read(socket_, asio::buffer(length_field), kUseTuple);
    if (ec) {
      EndSession(
          absl::UnavailableError(ec == asio::error::eof ? "closed by the broker" : ec.message()));
      co_return;
    }
    const uint32_t length = native::GetFrameU32(length_field.data());
    if (auto reason = native::CheckFrameLength(length, options_.max_frame_bytes)) {
      EndSession(absl::DataLossError(*reason));
      co_return;
    }
    Response response;
    response.body.resize(length);
    auto [ec2, n2] = co_await asio::async_read(socket_, asio::buffer(response.body), kUseTuple);
    if (ec2) {
      EndSession(absl::UnavailableError(ec2.message()));
      co_return;
    }
    auto payload_at = ParseFrameBody(response.body, &response.header);
    if (!payload_at.ok()) {
      EndSession(payload_at.status());
      co_return;
    }
    response.payload_offset = *payload_at;
    if (in_flight_.empty() || in_flight_.front().request_id != response.header.request_id()) {
      EndSession(absl::DataLossError(
          absl::StrCat("response for request ", response.header.request_id(), " while expecting ",
                       in_flight_.empty() ? std::string("none")
                                          : std::to_string(in_flight_.front().request_id))));
      co_return;
    }
    ResponseCallback done = std::move(in_flight_.front().done);
    in_flight_.pop_front();
    if (response.header.has_error() && response.header.error().code() != native::NONE) {
      Complete(std::move(done), FromNative(response.header.error(), "request"));
    } else {
      Complete(std::move(done), std::move(response));
    }
  }
}

asio::awaitable<void> Connection::WriteLoop() {
  co_await asio::this_coro::throw_if_cancelled(false);
  while (socket_.is_open()) {
    if (queue_.empty()) {
      write_signal_.expires_at(Clock::time_point::max());
      co_await write_signal_.async_wait(kUseTuple);  // Send() or EndSession() cancels it
      continue;
    }
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    // The frame bytes stay in this frame; `p` itself may be completed by the reader or the
    // watchdog while the write is under way.
    const std::string head = std::move(p.head);
    const std::string payload = std::move(p.payload);
    const bool expect_response = p.expect_response;
    ResponseCallback done_on_write;
    if (expect_response) {
      in_flight_.push_back(std::move(p));
    } else {
      done_on_write = std::move(p.done);
      ++writing_;
    }
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(payload)};
    auto [ec, n] = co_await asio::async_write(socket_, buffers, kUseTuple);
    if (!expect_response) {
      --writing_;
      if (ec) {
        Complete(std::move(done_on_write),
                 absl::UnavailableError(absl::StrCat("write to ", name_, ": ", ec.message())));
      } else {
        Complete(std::move(done_on_write), Response{});
      }
    }
    if (ec) {
      EndSession(absl::UnavailableError(ec.message()));
      co_return;
    }
  }
}

asio::awaitable<void> Connection::Watchdog() {
  auto self = shared_from_this();
  while (!closed_ && outstanding() > 0) {
    watchdog_timer_.expires_after(kWatchdogTick);
    co_await watchdog_timer_.async_wait(kUseTuple);
    ExpireRequests(Clock::now());
  }
  watchdog_running_ = false;
}

void Connection::ExpireRequests(Clock::time_point now) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->deadline > now) {
      ++it;
      continue;
    }
    Complete(std::move(it->done),
             absl::DeadlineExceededError(absl::StrCat(
                 "request timed out before it could be sent to ", name_,
                 connect_error_.ok() ? std::string()
                                     : absl::StrCat(" (", connect_error_.message(), ")"))));
    it = queue_.erase(it);
  }
  // A written request past its deadline: fail it and end the session, because the responses
  // behind it would be matched against the wrong requests otherwise.
  for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
    if (it->deadline > now) continue;
    Complete(std::move(it->done),
             absl::DeadlineExceededError(absl::StrCat("no response from ", name_, " in time")));
    in_flight_.erase(it);
    EndSession(absl::DeadlineExceededError("a request timed out"));
    break;
  }
}

void Connection::EndSession(absl::Status why) {
  if (session_error_.ok()) session_error_ = std::move(why);
  asio::error_code ignored;
  socket_.close(ignored);
  write_signal_.cancel();
}

void Connection::Complete(ResponseCallback done, absl::StatusOr<Response> result) {
  if (!done) return;
  asio::post(executor_, [done = std::move(done), result = std::move(result)]() mutable {
    done(std::move(result));
  });
}

ConnectionPool::ConnectionPool(asio::any_io_executor executor, std::vector<std::string> bootstrap,
                               ConnectionOptions options)
    : executor_(std::move(executor)),
      bootstrap_(std::move(bootstrap)),
      options_(std::move(options)) {}

std::shared_ptr<Connection> ConnectionPool::Bootstrap() {
  if (!bootstrap_connection_ || bootstrap_connection_->closed()) {
    bootstrap_connection_ = Connection::Create(executor_, bootstrap_, options_);
  }
  return bootstrap_connection_;
}

std::shared_ptr<Connection> ConnectionPool::Get(const std::string& address) {
  auto hp = SplitHostPort(address);
  if (!hp.ok() || hp->second == "0") return Bootstrap();
  auto& c = by_address_[address];
  if (!c || c->closed()) c = Connection::Create(executor_, {address}, options_);
  return c;
}

void ConnectionPool::CloseAll() {
  if (bootstrap_connection_) bootstrap_connection_->Close();
  for (auto& [address, c] : by_address_) c->Close();
}

}  // namespace sluice::client
