#include "broker/native/listener.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/post.hpp"
#include "asio/steady_timer.hpp"
#include "asio/use_awaitable.hpp"
#include "broker/native/connection.h"
#include "spdlog/spdlog.h"

namespace sluice::broker::native {

using asio::ip::tcp;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------- ConnectionTracker

void ConnectionTracker::Add(const std::shared_ptr<Connection>& c) {
  std::lock_guard l(mu_);
  live_.emplace(c.get(), c);
  count_.fetch_add(1, std::memory_order_acq_rel);
}

void ConnectionTracker::Remove(const Connection* c) {
  std::lock_guard l(mu_);
  if (live_.erase(c)) count_.fetch_sub(1, std::memory_order_acq_rel);
}

void ConnectionTracker::ForEach(const std::function<void(const std::shared_ptr<Connection>&)>& fn) {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard l(mu_);
    for (auto& [p, w] : live_) {
      if (auto c = w.lock()) all.push_back(std::move(c));
    }
  }
  for (auto& c : all) fn(c);
}

void ConnectionTracker::DrainAll() {
  ForEach(
      [](const std::shared_ptr<Connection>& c) { asio::post(c->executor(), [c] { c->Drain(); }); });
}

void ConnectionTracker::CloseAll() {
  ForEach([](const std::shared_ptr<Connection>& c) {
    asio::post(c->executor(), [c] { c->Close("broker shutting down"); });
  });
}

// ---------------------------------------------------------------- NativeListener

NativeListener::NativeListener(IoContextPool& pool, BrokerServices& broker,
                               ConnectionTracker& tracker)
    : pool_(pool), broker_(broker), tracker_(tracker), acceptor_(pool.at(0)) {}

NativeListener::~NativeListener() {
  asio::error_code ec;
  acceptor_.close(ec);
}

absl::Status NativeListener::Bind(const HostPort& addr) {
  asio::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(addr.host, ec), addr.port);
  if (!ec) acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("native listener on ", addr.ToString(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

uint16_t NativeListener::port() const {
  asio::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void NativeListener::Start() {
  asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), [](std::exception_ptr e) {
    if (e) spdlog::error("native listener stopped by an exception");
  });
}

void NativeListener::Stop() {
  asio::post(acceptor_.get_executor(), [this] {
    asio::error_code ec;
    acceptor_.close(ec);
  });
}

asio::awaitable<void> NativeListener::AcceptLoop() {
  spdlog::info("native protocol listening on {}",
               HostPort{broker_.config.native_addr.host, port()}.ToString());
  auto last_refusal_log = std::chrono::steady_clock::time_point();
  uint64_t refused_since_log = 0;
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(pool_.next(), kNoThrow);
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      spdlog::warn("native listener: accept failed: {}", ec.message());
      asio::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kNoThrow);
      continue;
    }
    broker_.metrics.connections_accepted.Add(1);
    if (tracker_.count() >= static_cast<size_t>(broker_.config.max_connections)) {
      broker_.metrics.connections_refused.Add(1);
      ++refused_since_log;
      auto now = std::chrono::steady_clock::now();
      if (now - last_refusal_log >= std::chrono::seconds(1)) {
        asio::error_code ignored;
        auto peer = socket.remote_endpoint(ignored);
        spdlog::warn(
            "native listener: refused {} connection(s) (latest from {}:{}): "
            "--max-connections {} reached",
            refused_since_log, peer.address().to_string(), peer.port(),
            broker_.config.max_connections);
        last_refusal_log = now;
        refused_since_log = 0;
      }
      asio::error_code ignored;
      socket.close(ignored);
      continue;
    }
    auto conn = std::make_shared<Connection>(std::move(socket), broker_, tracker_);
    tracker_.Add(conn);  // counted before the next accept, so the limit is exact
    asio::post(conn->executor(), [conn] { conn->Start(); });
  }
}

}  // namespace sluice::broker::native
