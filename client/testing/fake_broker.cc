#include "client/testing/fake_broker.h"

#include <array>

#include "asio/experimental/as_tuple.hpp"
#include "client/src/frame_codec.h"
#include "proto/native_frame.h"
#include "spdlog/spdlog.h"
#include "storage/record_batch.h"

namespace sluice::client::testing {
namespace {

using asio::experimental::as_tuple;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);

void SetError(native::Error* e, native::ErrorCode code, std::string message = {}) {
  e->set_code(code);
  e->set_message(std::move(message));
}

}  // namespace

FakeBroker::FakeBroker(Options options)
    : options_(options), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, Accept(), asio::detached);
  asio::co_spawn(io_, Ticker(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

FakeBroker::~FakeBroker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  asio::post(io_, [this] {
    asio::error_code ignored;
    acceptor_.close(ignored);
  });
  DropConnections();
  io_.stop();
  thread_.join();
}

asio::awaitable<void> FakeBroker::Accept() {
  for (;;) {
    auto socket = std::make_shared<asio::ip::tcp::socket>(io_);
    auto [ec] = co_await acceptor_.async_accept(*socket, kUseTuple);
    if (ec) co_return;
    {
      std::lock_guard lock(mu_);
      if (stopping_) co_return;
      ++connections_accepted_;
      sockets_.push_back(socket);
    }
    asio::error_code ignored;
    socket->set_option(asio::ip::tcp::no_delay(true), ignored);
    asio::co_spawn(io_, Serve(socket), asio::detached);
  }
}

asio::awaitable<void> FakeBroker::Serve(std::shared_ptr<asio::ip::tcp::socket> socket) {
  std::array<uint8_t, 4> length_field{};
  for (;;) {
    auto [ec, n] = co_await asio::async_read(*socket, asio::buffer(length_field), kUseTuple);
    if (ec) co_return;
    const uint32_t length = native::GetFrameU32(length_field.data());
    if (native::CheckFrameLength(length, native::kDefaultMaxFrameBytes)) co_return;
    std::string body(length, '\0');
    auto [ec2, n2] = co_await asio::async_read(*socket, asio::buffer(body), kUseTuple);
    if (ec2) co_return;
    native::RequestHeader request;
    auto payload_at = ParseFrameBody(body, &request);
    if (!payload_at.ok()) {
      spdlog::warn("fake broker: closing a connection: {}",
                   std::string(payload_at.status().message()));
      co_return;
    }
    const std::string_view payload = std::string_view(body).substr(*payload_at);
    Reply reply = co_await Handle(request, payload);
    if (!reply.send) continue;
    reply.header.set_version(native::kProtocolVersion);
    reply.header.set_request_id(request.request_id());
    const std::string head = EncodeFrameHead(reply.header, reply.payload.size());
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head),
                                                    asio::buffer(reply.payload)};
    auto [ec3, n3] = co_await asio::async_write(*socket, buffers, kUseTuple);
    if (ec3) co_return;
  }
}

asio::awaitable<FakeBroker::Reply> FakeBroker::Handle(const native::RequestHeader& request,
                                                      std::string_view payload) {
  Reply reply;
  native::ResponseHeader& out = reply.header;
  {
    std::lock_guard lock(mu_);
    const auto* field = request.GetDescriptor()->FindFieldByNumber(request.request_case());
    ++request_counts_[field ? field->name() : "none"];
  }
  if (request.version() != native::kProtocolVersion) {
    SetError(out.mutable_error(), native::UNSUPPORTED_VERSION, "version 1 only");
    co_return reply;
  }
  switch (request.request_case()) {
    case native::RequestHeader::kApiVersions:
      out.mutable_api_versions()->set_min_version(1);
      out.mutable_api_versions()->set_max_version(1);
      out.mutable_api_versions()->set_broker_version("fake");
      break;
    case native::RequestHeader::kMetadata:
      HandleMetadata(request.metadata(), &out);
      break;
    case native::RequestHeader::kCreateTopics:
      HandleCreateTopics(request.create_topics(), &out);
      break;
    case native::RequestHeader::kDeleteTopics:
      HandleDeleteTopics(request.delete_topics(), &out);
      break;
    case native::RequestHeader::kDescribeConfigs:
      HandleDescribeConfigs(request.describe_configs(), &out);
      break;
    case native::RequestHeader::kProduce: {
      HandleProduce(request.produce(), payload, &out);
      std::chrono::milliseconds delay;
      {
        std::lock_guard lock(mu_);
        delay = produce_delay_;
      }
      if (delay.count() > 0) {
        asio::steady_timer t(io_, delay);
        co_await t.async_wait(kUseTuple);
      }
      reply.send = request.produce().acks() != 0;
      break;
    }
    case native::RequestHeader::kFetch: {
      const auto deadline = Clock::now() + std::chrono::milliseconds(request.fetch().max_wait_ms());
      for (;;) {
        out.Clear();
        reply.payload.clear();
        if (FetchOnce(request.fetch(), &out, &reply.payload) || Clock::now() >= deadline) break;
        asio::steady_timer t(io_, std::chrono::milliseconds(5));
        co_await t.async_wait(kUseTuple);
      }
      break;
    }
    case native::RequestHeader::kListOffsets:
      HandleListOffsets(request.list_offsets(), &out);
      break;
    case native::RequestHeader::kFindCoordinator: {
      auto* c = out.mutable_find_coordinator()->mutable_coordinator();
      c->set_node_id(0);
      c->set_host("127.0.0.1");
      c->set_port(port_);
      break;
    }
    case native::RequestHeader::kJoinGroup:
      co_await HandleJoin(request.join_group(), &out);
      break;
    case native::RequestHeader::kSyncGroup:
      co_await HandleSync(request.sync_group(), &out);
      break;
    case native::RequestHeader::kHeartbeat:
      HandleHeartbeat(request.heartbeat(), &out);
      break;
    case native::RequestHeader::kLeaveGroup:
      HandleLeave(request.leave_group(), &out);
      break;
    case native::RequestHeader::kOffsetCommit:
      HandleOffsetCommit(request.offset_commit(), &out);
      break;
    case native::RequestHeader::kOffsetFetch:
      HandleOffsetFetch(request.offset_fetch(), &out);
      break;
    case native::RequestHeader::kListGroups:
      HandleListGroups(&out);
      break;
    case native::RequestHeader::kDescribeGroups:
      HandleDescribeGroups(request.describe_groups(), &out);
      break;
    default:
      SetError(out.mutable_error(), native::INVALID_REQUEST, "no request in the header");
  }
  co_return reply;
}

asio::awaitable<void> FakeBroker::Ticker() {
  asio::steady_timer t(io_);
  for (;;) {
    t.expires_after(std::chrono::milliseconds(10));
    auto [ec] = co_await t.async_wait(kUseTuple);
    if (ec) co_return;
    std::lock_guard lock(mu_);
    if (stopping_) co_return;
    TickGroupsLocked(Clock::now());
  }
}

// ------------------------------------------------------------------------------------ topics

int32_t FakeBroker::CreateTopicLocked(const std::string& name, int32_t partitions,
                                      std::map<std::string, std::string> configs) {
  Topic& t = topics_[name];
  t.partitions.resize(partitions > 0 ? partitions : options_.default_partitions);
  t.configs = std::move(configs);
  return static_cast<int32_t>(t.partitions.size());
}

void FakeBroker::CreateTopic(const std::string& name, int32_t partitions,
                             std::map<std::string, std::string> configs) {
  std::lock_guard lock(mu_);
  CreateTopicLocked(name, partitions, std::move(configs));
}

void FakeBroker::AddPartitions(const std::string& name, int32_t partitions) {
  std::lock_guard lock(mu_);
  auto& t = topics_[name];
  if (static_cast<int32_t>(t.partitions.size()) < partitions) t.partitions.resize(partitions);
}

bool FakeBroker::HasTopic(const std::string& topic) const {
  std::lock_guard lock(mu_);
  return topics_.count(topic) > 0;
}

void FakeBroker::HandleMetadata(const native::MetadataRequest& r, native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* m = out->mutable_metadata();
  auto* b = m->add_brokers();
  b->set_node_id(0);
  b->set_host("127.0.0.1");
  b->set_port(port_);
  m->set_controller_id(0);
  std::vector<std::string> names(r.topics().begin(), r.topics().end());
  if (names.empty()) {
    for (const auto& [name, t] : topics_) names.push_back(name);
  }
  for (const auto& name : names) {
    auto* tm = m->add_topics();
    tm->set_name(name);
    auto it = topics_.find(name);
    if (it == topics_.end()) {
      if (!r.allow_auto_create() || !options_.auto_create_topics) {
        SetError(tm->mutable_error(), native::UNKNOWN_TOPIC_OR_PARTITION,
                 "topic '" + name + "' does not exist");
        continue;
      }
      CreateTopicLocked(name, options_.default_partitions, {});
      it = topics_.find(name);
    }
    for (size_t p = 0; p < it->second.partitions.size(); ++p) {
      auto* pm = tm->add_partitions();
      pm->set_partition(static_cast<int32_t>(p));
      pm->set_leader(0);
      pm->set_log_start_offset(0);
      pm->set_high_watermark(it->second.partitions[p].high_watermark);
    }
  }
}

void FakeBroker::HandleCreateTopics(const native::CreateTopicsRequest& r,
                                    native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_create_topics();
  for (const auto& t : r.topics()) {
    auto* result = resp->add_topics();
    result->set_name(t.name());
    if (t.name().empty() || t.name().find('/') != std::string::npos) {
      SetError(result->mutable_error(), native::INVALID_TOPIC, "bad topic name");
    } else if (topics_.count(t.name())) {
      SetError(result->mutable_error(), native::TOPIC_ALREADY_EXISTS,
               "topic '" + t.name() + "' already exists");
    } else if (t.partitions() > 1000) {
      SetError(result->mutable_error(), native::INVALID_PARTITIONS, "too many partitions");
    } else if (!r.validate_only()) {
      CreateTopicLocked(t.name(), t.partitions(), {t.configs().begin(), t.configs().end()});
    }
  }
}

void FakeBroker::HandleDeleteTopics(const native::DeleteTopicsRequest& r,
                                    native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_delete_topics();
  for (const auto& name : r.topics()) {
    auto* result = resp->add_topics();
    result->set_name(name);
    if (topics_.erase(name) == 0) {
      SetError(result->mutable_error(), native::UNKNOWN_TOPIC_OR_PARTITION,
               "topic '" + name + "' does not exist");
    }
  }
}

void FakeBroker::HandleDescribeConfigs(const native::DescribeConfigsRequest& r,
                                       native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_describe_configs();
  for (const auto& name : r.topics()) {
    auto* result = resp->add_topics();
    result->set_name(name);
    auto it = topics_.find(name);
    if (it == topics_.end()) {
      SetError(result->mutable_error(), native::UNKNOWN_TOPIC_OR_PARTITION,
               "topic '" + name + "' does not exist");
      continue;
    }
    std::map<std::string, std::string> effective = {{"cleanup.policy", "delete"},
                                                    {"retention.ms", "604800000"},
                                                    {"segment.bytes", "1073741824"}};
    for (const auto& [k, v] : it->second.configs) {
      effective[k] = v;
      result->add_overridden(k);
    }
    result->mutable_configs()->insert(effective.begin(), effective.end());
  }
}

// -------------------------------------------------------------------------------- data path

int64_t FakeBroker::AppendLocked(Partition& p, std::string batch) {
  auto view = storage::RecordBatchView::Parse(storage::AsBytes(batch));
  const int64_t base = p.high_watermark;
  storage::SetBaseOffset(std::span<uint8_t>(reinterpret_cast<uint8_t*>(batch.data()), batch.size()),
                         Offset(base));
  StoredBatch stored;
  stored.base = base;
  stored.last = base + view->last_offset_delta();
  stored.max_timestamp = view->max_timestamp();
  stored.bytes = std::move(batch);
  p.high_watermark = stored.last + 1;
  p.batches.push_back(std::move(stored));
  return base;
}

int64_t FakeBroker::Append(const TopicPartition& tp, const std::vector<std::string>& values,
                           int64_t timestamp_ms) {
  storage::RecordBatchBuilder b;
  for (size_t i = 0; i < values.size(); ++i) {
    b.Add(std::nullopt, values[i], {}, timestamp_ms + static_cast<int64_t>(i));
  }
  std::lock_guard lock(mu_);
  return AppendLocked(topics_.at(tp.topic).partitions.at(tp.partition), b.Build());
}

void FakeBroker::HandleProduce(const native::ProduceRequest& r, std::string_view payload,
                               native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_produce();
  ProduceLogEntry log;
  log.acks = r.acks();
  size_t at = 0;
  for (const auto& part : r.partitions()) {
    auto* result = resp->add_partitions();
    result->set_topic(part.topic());
    result->set_partition(part.partition());
    if (part.size() > payload.size() - at) {
      SetError(result->mutable_error(), native::INVALID_REQUEST, "payload shorter than sizes");
      continue;
    }
    std::string_view slice = payload.substr(at, part.size());
    at += part.size();
    if (fail_produce_times_ > 0) {
      --fail_produce_times_;
      SetError(result->mutable_error(), fail_produce_code_, "injected failure");
      continue;
    }
    auto topic = topics_.find(part.topic());
    if (topic == topics_.end() || part.partition() < 0 ||
        part.partition() >= static_cast<int32_t>(topic->second.partitions.size())) {
      SetError(result->mutable_error(), native::UNKNOWN_TOPIC_OR_PARTITION, "no such partition");
      continue;
    }
    // Validate every batch of the slice before appending any.
    std::vector<std::string_view> batches;
    int32_t records = 0;
    bool valid = true;
    while (!slice.empty()) {
      auto view = storage::RecordBatchView::Parse(storage::AsBytes(slice));
      if (!view.ok() || !view->ValidateForAppend().ok()) {
        valid = false;
        break;
      }
      records += view->record_count();
      batches.push_back(slice.substr(0, view->size_bytes()));
      slice.remove_prefix(view->size_bytes());
    }
    if (!valid || batches.empty()) {
      SetError(result->mutable_error(), native::CORRUPT_MESSAGE, "batch failed validation");
      continue;
    }
    Partition& p = topic->second.partitions[part.partition()];
    result->set_base_offset(p.high_watermark);
    for (auto b : batches) AppendLocked(p, std::string(b));
    log.partitions.emplace_back(TopicPartition{part.topic(), part.partition()}, records);
  }
  produce_log_.push_back(std::move(log));
}

bool FakeBroker::FetchOnce(const native::FetchRequest& r, native::ResponseHeader* out,
                           std::string* payload) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_fetch();
  bool any_error = false;
  for (const auto& req : r.partitions()) {
    auto* result = resp->add_partitions();
    result->set_topic(req.topic());
    result->set_partition(req.partition());
    auto topic = topics_.find(req.topic());
    if (topic == topics_.end() || req.partition() < 0 ||
        req.partition() >= static_cast<int32_t>(topic->second.partitions.size())) {
      SetError(result->mutable_error(), native::UNKNOWN_TOPIC_OR_PARTITION, "no such partition");
      any_error = true;
      continue;
    }
    const Partition& p = topic->second.partitions[req.partition()];
    result->set_high_watermark(p.high_watermark);
    result->set_log_start_offset(0);
    if (req.offset() < 0 || req.offset() > p.high_watermark) {
      SetError(result->mutable_error(), native::OFFSET_OUT_OF_RANGE,
               "offset " + std::to_string(req.offset()) + " outside [0, " +
                   std::to_string(p.high_watermark) + "]");
      any_error = true;
      continue;
    }
    uint32_t size = 0;
    for (const auto& b : p.batches) {
      if (b.last < req.offset()) continue;
      if (size > 0 && (size + b.bytes.size() > req.max_bytes() ||
                       payload->size() + b.bytes.size() > r.max_bytes())) {
        break;
      }
      payload->append(b.bytes);
      size += static_cast<uint32_t>(b.bytes.size());
    }
    result->set_size(size);
  }
  return any_error || payload->size() >= std::max<uint32_t>(1, r.min_bytes());
}

void FakeBroker::HandleListOffsets(const native::ListOffsetsRequest& r,
                                   native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_list_offsets();
  for (const auto& req : r.partitions()) {
    auto* result = resp->add_partitions();
    result->set_topic(req.topic());
    result->set_partition(req.partition());
    auto topic = topics_.find(req.topic());
    if (topic == topics_.end() || req.partition() < 0 ||
        req.partition() >= static_cast<int32_t>(topic->second.partitions.size())) {
      SetError(result->mutable_error(), native::UNKNOWN_TOPIC_OR_PARTITION, "no such partition");
      continue;
    }
    const Partition& p = topic->second.partitions[req.partition()];
    if (req.timestamp() == -2) {
      result->set_offset(0);
    } else if (req.timestamp() == -1) {
      result->set_offset(p.high_watermark);
    } else {
      result->set_offset(-1);
      for (const auto& b : p.batches) {
        if (b.max_timestamp >= req.timestamp()) {
          result->set_offset(b.base);
          result->set_timestamp(b.max_timestamp);
          break;
        }
      }
    }
  }
}

// -------------------------------------------------------------------------- fault injection

void FakeBroker::FailNextProduce(native::ErrorCode code, int times) {
  std::lock_guard lock(mu_);
  fail_produce_code_ = code;
  fail_produce_times_ = times;
}

void FakeBroker::SetProduceDelay(std::chrono::milliseconds delay) {
  std::lock_guard lock(mu_);
  produce_delay_ = delay;
}

void FakeBroker::DropConnections() {
  std::promise<void> done;
  asio::post(io_, [this, &done] {
    std::vector<std::weak_ptr<asio::ip::tcp::socket>> sockets;
    {
      std::lock_guard lock(mu_);
      sockets.swap(sockets_);
    }
    for (auto& w : sockets) {
      if (auto s = w.lock()) {
        asio::error_code ignored;
        s->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        s->close(ignored);
      }
    }
    done.set_value();
  });
  done.get_future().wait();
}

// ------------------------------------------------------------------------------- inspection

std::vector<StoredRecord> FakeBroker::Records(const std::string& topic, int32_t partition) const {
  std::lock_guard lock(mu_);
  std::vector<StoredRecord> out;
  auto it = topics_.find(topic);
  if (it == topics_.end() || partition >= static_cast<int32_t>(it->second.partitions.size())) {
    return out;
  }
  for (const auto& b : it->second.partitions[partition].batches) {
    auto view = storage::RecordBatchView::Parse(storage::AsBytes(b.bytes));
    if (!view.ok()) continue;
    view->ForEachRecord([&](const storage::RecordView& r) {
          StoredRecord s;
          s.offset = b.base + r.offset_delta;
          s.timestamp_ms = view->base_timestamp() + r.timestamp_delta;
          if (r.key) s.key = std::string(*r.key);
          if (r.value) s.value = std::string(*r.value);
          for (const auto& h : r.headers) {
            s.headers.push_back(
                {std::string(h.key),
                 h.value ? std::optional<std::string>(std::string(*h.value)) : std::nullopt});
          }
          out.push_back(std::move(s));
          return true;
        })
        .IgnoreError();
  }
  return out;
}

int64_t FakeBroker::HighWatermark(const std::string& topic, int32_t partition) const {
  std::lock_guard lock(mu_);
  return topics_.at(topic).partitions.at(partition).high_watermark;
}

std::vector<ProduceLogEntry> FakeBroker::ProduceLog() const {
  std::lock_guard lock(mu_);
  return produce_log_;
}

int FakeBroker::RequestCount(const std::string& kind) const {
  std::lock_guard lock(mu_);
  auto it = request_counts_.find(kind);
  return it == request_counts_.end() ? 0 : it->second;
}

size_t FakeBroker::connections_accepted() const {
  std::lock_guard lock(mu_);
  return connections_accepted_;
}

}  // namespace sluice::client::testing
