#pragma once
// Helpers for the client's tests: status matchers and bounded waiting.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio.hpp"

namespace sluice::client::testing {

MATCHER(IsOk, "is OK") {
  if constexpr (requires { arg.status(); }) {
    if (!arg.ok()) *result_listener << arg.status().ToString();
    return arg.ok();
  } else {
    if (!arg.ok()) *result_listener << arg.ToString();
    return arg.ok();
  }
}

MATCHER_P(StatusIs, code, "has status code " + ::testing::PrintToString(code)) {
  absl::Status s;
  if constexpr (requires { arg.status(); }) {
    s = arg.status();
  } else {
    s = arg;
  }
  *result_listener << s.ToString();
  return s.code() == code;
}

// Polls `condition` every 5 ms until it holds or `timeout` passes; returns its last value.
inline bool WaitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Waits for a future with a bound; fails the test (and returns false) if it is not ready.
template <typename T>
bool Ready(const std::future<T>& f, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  return f.wait_for(timeout) == std::future_status::ready;
}

// A loopback port that refuses connections for as long as this object lives: the socket is bound
// but never listens. Holding the binding keeps the port from being handed out as an ephemeral
// port meanwhile, either to another test's listener or to our own connect() (a TCP self-connect
// would "succeed" and echo our request back as if it were the response).
class RefusingPort {
 public:
  RefusingPort() : socket_(io_) {
    socket_.open(asio::ip::tcp::v4());
    socket_.bind({asio::ip::make_address("127.0.0.1"), 0});
  }
  uint16_t port() const { return socket_.local_endpoint().port(); }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
};

}  // namespace sluice::client::testing
