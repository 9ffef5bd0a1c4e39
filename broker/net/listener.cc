#include "broker/net/listener.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/post.hpp"
#include "asio/steady_timer.hpp"
#include "asio/use_awaitable.hpp"
#include "spdlog/spdlog.h"

namespace sluice::broker::net {

using asio::ip::tcp;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------- ConnectionTracker

void ConnectionTracker::Add(const std::shared_ptr<TrackedConnection>& c) {
  std::lock_guard l(mu_);
  live_.emplace(c.get(), c);
  count_.fetch_add(1, std::memory_order_acq_rel);
}

void ConnectionTracker::Remove(const TrackedConnection* c) {
  std::lock_guard l(mu_);
  if (live_.erase(c)) count_.fetch_sub(1, std::memory_order_acq_rel);
}

void ConnectionTracker::ForEach(
    const std::function<void(const std::shared_ptr<TrackedConnection>&)>& fn) {
  std::vector<std::shared_ptr<TrackedConnection>> all;
  {
    std::lock_guard l(mu_);
    for (auto& [p, w] : live_) {
      if (auto c = w.lock()) all.push_back(std::move(c));
    }
  }
  for (auto& c : all) fn(c);
}

void ConnectionTracker::DrainAll() {
  ForEach([](const std::shared_ptr<TrackedConnection>& c) {
    asio::post(c->executor(), [c] { c->Drain(); });
  });
}

void ConnectionTracker::CloseAll() {
  ForEach([](const std::shared_ptr<TrackedConnection>& c) {
    asio::post(c->executor(), [c] { c->Close("broker shutting down"); });
  });
}

// ---------------------------------------------------------------- Listener

Listener::Listener(IoContextPool& pool, ListenerOptions options, OnAccept on_accept)
    : pool_(pool),
      options_(std::move(options)),
      on_accept_(std::move(on_accept)),
      acceptor_(pool.at(0)) {}

Listener::~Listener() {
  asio::error_code ec;
  acceptor_.close(ec);
}

absl::Status Listener::Bind(const HostPort& addr) {
  asio::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(addr.host, ec), addr.port);
  if (!ec) acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(options_.name, " listener on ", addr.ToString(), ": ", ec.message()));
  }
  host_ = addr.host;
  return absl::OkStatus();
}

uint16_t Listener::port() const {
  asio::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void Listener::Start() {
  asio::co_spawn(acceptor_.get_executor(), AcceptLoop(),
                 [name = options_.name](std::exception_ptr e) {
                   if (e) spdlog::error("{} listener stopped by an exception", name);
                 });
}

void Listener::Stop() {
  asio::post(acceptor_.get_executor(), [this] {
    asio::error_code ec;
    acceptor_.close(ec);
  });
}

bool Listener::Refuse(tcp::socket& socket) {
  ConnectionTracker* tracker = options_.tracker;
  if (tracker == nullptr || tracker->count() < static_cast<size_t>(options_.max_connections)) {
    return false;
  }
  if (options_.metrics) options_.metrics->connections_refused.Add(1);
  ++refused_since_log_;
  auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ >= std::chrono::seconds(1)) {
    asio::error_code ignored;
    auto peer = socket.remote_endpoint(ignored);
    spdlog::warn(
        "{} listener: refused {} connection(s) (latest from {}:{}): "
        "--max-connections {} reached",
        options_.name, refused_since_log_, peer.address().to_string(), peer.port(),
        options_.max_connections);
    last_refusal_log_ = now;
    refused_since_log_ = 0;
  }
  asio::error_code ignored;
  socket.close(ignored);
  return true;
}

asio::awaitable<void> Listener::AcceptLoop() {
  spdlog::info("{} listening on {}", options_.name, HostPort{host_, port()}.ToString());
  for (;;) {
    auto [ec, accepted] = co_await acceptor_.async_accept(pool_.next(), kNoThrow);
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      spdlog::warn("{} listener: accept failed: {}", options_.name, ec.message());
      asio::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kNoThrow);
      continue;
    }
    if (options_.tracker && options_.metrics) options_.metrics->connections_accepted.Add(1);
    tcp::socket socket(std::move(accepted));
    if (Refuse(socket)) continue;
    std::shared_ptr<TrackedConnection> conn = on_accept_(std::move(socket));
    if (!conn) continue;
    // Counted before the next accept. Every listener's accept loop runs on the pool's first
    // io_context, so the check and the Add of listeners sharing a tracker never interleave and
    // the limit is exact.
    if (options_.tracker) options_.tracker->Add(conn);
    asio::post(conn->executor(), [conn] { conn->Start(); });
  }
}

}  // namespace sluice::broker::net
