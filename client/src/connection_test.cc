#include "client/src/connection.h"

#include <gtest/gtest.h>

#include "client/src/errors.h"
#include "client/src/io_thread.h"
#include "client/src/metadata.h"
#include "client/testing/fake_broker.h"
#include "client/testing/test_util.h"

namespace sluice::client {
namespace {

using namespace std::chrono_literals;
using testing::FakeBroker;
using testing::RefusingPort;
using testing::IsOk;
using testing::StatusIs;
using testing::WaitUntil;

// Coroutines take their arguments by value: a capturing lambda would dangle once suspended.
asio::awaitable<absl::StatusOr<Response>> CallMetadata(std::shared_ptr<Connection> c,
                                                       std::chrono::milliseconds timeout) {
  co_return co_await c->Call(MetadataRequest(std::vector<std::string>(), false), timeout);
}

asio::awaitable<absl::StatusOr<Response>> CallProduce(std::shared_ptr<Connection> c,
                                                      std::chrono::milliseconds timeout) {
  native::RequestHeader h;
  h.mutable_produce()->set_acks(1);
  co_return co_await c->Call(std::move(h), timeout);
}

asio::awaitable<absl::Status> IsConnected(std::shared_ptr<Connection> c) {
  co_return c->connected() ? absl::OkStatus() : absl::UnavailableError("not connected");
}

ConnectionOptions FastOptions() {
  ConnectionOptions o;
  o.client_id = "test";
  o.connect_timeout = 1s;
  o.reconnect_backoff = 10ms;
  o.reconnect_backoff_max = 50ms;
  return o;
}

class ConnectionTest : public ::testing::Test {
 protected:
  void TearDown() override {
    asio::post(io_.executor(), [c = conn_] {
      if (c) c->Close();
    });
    io_.Stop();
  }
  std::shared_ptr<Connection> Connect(std::vector<std::string> addresses) {
    conn_ = Connection::Create(io_.executor(), std::move(addresses), FastOptions());
    return conn_;
  }

  FakeBroker broker_;
  IoThread io_{"test-io"};
  std::shared_ptr<Connection> conn_;
};

TEST_F(ConnectionTest, MetadataRoundTrip) {
  broker_.CreateTopic("orders", 3);
  auto c = Connect({broker_.address()});
  auto r = io_.Await(CallMetadata(c, 5s), 10s);
  ASSERT_THAT(r, IsOk());
  const auto& md = r->header.metadata();
  ASSERT_EQ(md.brokers_size(), 1);
  EXPECT_EQ(md.brokers(0).port(), broker_.port());
  ASSERT_EQ(md.topics_size(), 1);
  EXPECT_EQ(md.topics(0).name(), "orders");
  EXPECT_EQ(md.topics(0).partitions_size(), 3);
  EXPECT_EQ(broker_.RequestCount("metadata"), 1);
}

TEST_F(ConnectionTest, PipelinedRequestsAreMatchedInOrder) {
  auto c = Connect({broker_.address()});
  constexpr int kRequests = 64;
  std::vector<std::promise<uint64_t>> done(kRequests);
  asio::post(io_.executor(), [&] {
    for (int i = 0; i < kRequests; ++i) {
      c->Send(MetadataRequest({}, false), {}, 5s, true, [&, i](absl::StatusOr<Response> r) {
        done[i].set_value(r.ok() ? r->header.request_id() : 0);
      });
    }
  });
  for (int i = 0; i < kRequests; ++i) {
    auto f = done[i].get_future();
    ASSERT_TRUE(testing::Ready(f));
    EXPECT_EQ(f.get(), static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(broker_.connections_accepted(), 1u);
}

TEST_F(ConnectionTest, ReconnectsAfterTheBrokerDropsTheConnection) {
  auto c = Connect({broker_.address()});
  ASSERT_THAT(io_.Await(CallMetadata(c, 5s), 10s), IsOk());
  broker_.DropConnections();
  ASSERT_TRUE(WaitUntil([&] { return !io_.Await(IsConnected(c), 1s).ok(); }));
  ASSERT_THAT(io_.Await(CallMetadata(c, 5s), 10s), IsOk());
  EXPECT_EQ(broker_.connections_accepted(), 2u);
}

TEST_F(ConnectionTest, UnansweredRequestTimesOutAndTheSessionIsReplaced) {
  broker_.CreateTopic("t", 1);
  broker_.SetProduceDelay(3s);
  auto c = Connect({broker_.address()});
  const auto start = Clock::now();
  auto r = io_.Await(CallProduce(c, 200ms), 10s);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(Clock::now() - start, 2s);
  broker_.SetProduceDelay(0ms);
  // The timed-out session was closed: the next request goes over a new connection.
  ASSERT_THAT(io_.Await(CallMetadata(c, 5s), 10s), IsOk());
  EXPECT_EQ(broker_.connections_accepted(), 2u);
}

TEST_F(ConnectionTest, RefusedConnectionFailsTheRequestAtItsDeadline) {
  RefusingPort refusing;
  auto c = Connect({"127.0.0.1:" + std::to_string(refusing.port())});
  const auto start = Clock::now();
  auto r = io_.Await(CallMetadata(c, 300ms), 10s);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_NE(r.status().message().find("refused"), absl::string_view::npos) << r.status();
  EXPECT_GE(Clock::now() - start, 300ms);
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST_F(ConnectionTest, FallsBackToTheNextBootstrapAddress) {
  RefusingPort refusing;
  auto c = Connect({"127.0.0.1:" + std::to_string(refusing.port()), broker_.address()});
  EXPECT_THAT(io_.Await(CallMetadata(c, 5s), 10s), IsOk());
}

TEST_F(ConnectionTest, RequestLevelErrorIsMappedToAStatus) {
  auto c = Connect({broker_.address()});
  auto r = io_.Await(
      [](std::shared_ptr<Connection> c) -> asio::awaitable<absl::StatusOr<Response>> {
        co_return co_await c->Call(native::RequestHeader(), 5s);  // no request in it
      }(c),
      10s);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(NativeCodeOf(r.status()), native::INVALID_REQUEST);
}

TEST_F(ConnectionTest, CloseCancelsOutstandingRequests) {
  broker_.CreateTopic("t", 1);
  broker_.SetProduceDelay(5s);
  auto c = Connect({broker_.address()});
  std::promise<absl::Status> done;
  asio::post(io_.executor(), [&] {
    native::RequestHeader h;
    h.mutable_produce()->set_acks(1);
    c->Send(std::move(h), {}, 10s, true,
            [&](absl::StatusOr<Response> r) { done.set_value(r.status()); });
  });
  ASSERT_TRUE(WaitUntil([&] { return broker_.RequestCount("produce") == 1; }));
  asio::post(io_.executor(), [c] { c->Close(); });
  auto f = done.get_future();
  ASSERT_TRUE(testing::Ready(f, 5s));
  EXPECT_THAT(f.get(), StatusIs(absl::StatusCode::kCancelled));
  // Later sends fail at once.
  EXPECT_THAT(io_.Await(CallMetadata(c, 5s), 5s), StatusIs(absl::StatusCode::kCancelled));
}

TEST(ErrorsTest, MapsNativeCodesWithContextAndKeepsTheCode) {
  absl::Status s = FromNative(native::UNKNOWN_TOPIC_OR_PARTITION, "", "produce to t-0");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "produce to t-0: UNKNOWN_TOPIC_OR_PARTITION: no such topic or partition");
  EXPECT_EQ(NativeCodeOf(s), native::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_TRUE(IsRetriable(s));
  s = FromNative(native::REBALANCE_IN_PROGRESS, "group g is rebalancing", "commit");
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "commit: REBALANCE_IN_PROGRESS: group g is rebalancing");
  EXPECT_FALSE(IsRetriable(s));
  EXPECT_TRUE(FromNative(native::NONE, "", "x").ok());
  EXPECT_EQ(FromNative(native::MESSAGE_TOO_LARGE, "", "p").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromNative(native::OFFSET_OUT_OF_RANGE, "", "f").code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(FromNative(native::TOPIC_ALREADY_EXISTS, "", "c").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(IsRetriable(absl::UnavailableError("connection lost")));
  EXPECT_FALSE(IsRetriable(absl::InvalidArgumentError("bad")));
}

}  // namespace
}  // namespace sluice::client
