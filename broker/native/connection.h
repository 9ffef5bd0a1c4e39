#pragma once
// Connection: one native-protocol client connection.
//
// The framing of the native protocol on top of net::FramedConnection (reader, in-order writer,
// backpressure, idle timeout, drain: see broker/net/connection.h). The reader reads and checks
// frames (length, header length, the header itself, the payload sizes it announces) and starts
// each request's handler in its own coroutine; the ordering contract in handler.h says when the
// next request may start. A malformed frame logs the peer and the reason at warn and closes this
// connection only. Fetch payloads go out with sendfile.
//
// Lifecycle: made by the native listener (MakeNativeListener) for an accepted socket; see
// net::FramedConnection.

#include <chrono>
#include <cstdint>
#include <memory>

#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "broker/native/handler.h"
#include "broker/net/connection.h"
#include "broker/services.h"

namespace sluice::broker::native {

class Connection : public net::FramedConnection {
 public:
  Connection(asio::ip::tcp::socket socket, BrokerServices& broker, net::ConnectionTracker& tracker);

 private:
  asio::awaitable<void> ReadFrames() override;
  asio::awaitable<void> RunRequest(std::shared_ptr<Connection> self, std::shared_ptr<Slot> slot,
                                   std::unique_ptr<uint8_t[]> body, uint32_t header_length,
                                   uint32_t body_length, std::unique_ptr<pb::RequestHeader> header,
                                   const HandlerInfo* handler,
                                   std::chrono::steady_clock::time_point arrived);
};

}  // namespace sluice::broker::native
