#pragma once
// Connection: one Kafka-protocol client connection.
//
// The Kafka framing on top of net::FramedConnection (reader, in-order writer, backpressure, idle
// timeout, drain: see broker/net/connection.h). A request is an int32 size (> 0 and at most
// --max-frame-bytes) and that many bytes: the request header (api_key int16, api_version int16,
// correlation_id int32, client_id nullable int16-length string, and at flexible versions of the
// API a tagged-field section: header v1/v2) and the body, which the API's handler decodes. The
// registry (handler.h) says which APIs and versions are served and which versions are flexible.
// A response is an int32 size, the correlation id, the tagged-field section when the request was
// flexible (header v1; never for ApiVersions, whose response header is always v0), and the body.
//
// As Kafka, the connection is closed (after answering the requests read before it, logged at
// warn with the peer) on a size out of range, a truncated or unparsable header, an unknown API
// key, an unsupported version, and a body its handler cannot parse. The exception is ApiVersions
// at a version above ours (KIP-511): it is answered with a v0 body carrying UNSUPPORTED_VERSION
// and our ApiVersions range, so the client can retry at a version we have.
//
// Each request runs its handler in its own coroutine (ordering contract in handler.h); responses
// leave in request order, file slices of Records fields go out with sendfile, and a response
// with send = false (acks=0) is not sent at all. Lifecycle: made by the Kafka listener
// (MakeKafkaListener) for an accepted socket; see net::FramedConnection.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "broker/kafka/handler.h"
#include "broker/kafka/request_decoder.h"
#include "broker/net/connection.h"
#include "broker/services.h"

namespace sluice::broker::kafka {

class Connection : public net::FramedConnection {
 public:
  Connection(asio::ip::tcp::socket socket, BrokerServices& broker, net::ConnectionTracker& tracker);

 private:
  // The request header as read by the reader (ParseRequestHeader, request_decoder.h).
  using Header = RequestHeader;

  asio::awaitable<void> ReadFrames() override;
  asio::awaitable<void> RunRequest(std::shared_ptr<Connection> self, std::shared_ptr<Slot> slot,
                                   std::unique_ptr<uint8_t[]> frame, uint32_t frame_size,
                                   uint32_t header_size, Header header, const ApiHandler* api,
                                   std::chrono::steady_clock::time_point arrived);
  // Turns the handler's response into the slot's frame (size, correlation id, header tags).
  bool Frame(const Header& header, const ApiHandler& api, Response& resp, net::Outgoing& out);
};

}  // namespace sluice::broker::kafka
