#include "client/src/group_membership.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "asio/experimental/as_tuple.hpp"
#include "client/src/consumer_protocol.h"
#include "client/src/errors.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"

namespace sluice::client {
namespace {

using asio::experimental::as_tuple;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);
constexpr char kProtocolType[] = "consumer";

bool IsRejoinCode(native::ErrorCode c) {
  return c == native::REBALANCE_IN_PROGRESS || c == native::ILLEGAL_GENERATION ||
         c == native::UNKNOWN_MEMBER_ID || c == native::MEMBER_ID_REQUIRED;
}

}  // namespace

GroupMembership::GroupMembership(asio::any_io_executor executor, std::weak_ptr<void> owner,
                                 const ConsumerConfig& config, ConnectionPool& connections,
                                 MembershipListener& listener)
    : executor_(executor),
      owner_(std::move(owner)),
      config_(config),
      connections_(connections),
      listener_(listener),
      wake_(executor) {}

void GroupMembership::Subscribe(std::vector<std::string> topics) {
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  if (topics == topics_ && running_) return;
  topics_ = std::move(topics);
  rejoin_needed_ = true;
  if (!running_) {
    running_ = true;
    asio::co_spawn(executor_, Run(), asio::detached);
  }
  Wake();
}

asio::awaitable<void> GroupMembership::Run() {
  auto self = shared_from_this();
  auto owner = owner_.lock();
  while (owner && !leaving_) {
    if (!coordinator_) {
      if (absl::Status s = co_await EnsureCoordinator(); !s.ok()) {
        spdlog::debug("sluice consumer: group '{}': {}", config_.group_id, s.message());
        co_await SleepUntil(Clock::now() + config_.retry_backoff);
        continue;
      }
    }
    if (rejoin_needed_) {
      if (holding_) {
        holding_ = false;
        co_await listener_.OnRevoke(!lost_);
        if (leaving_) break;
      }
      absl::Status s = co_await JoinAndSync();
      if (leaving_) break;
      if (!s.ok()) {
        const auto code = NativeCodeOf(s);
        if (code && IsRejoinCode(*code)) continue;  // retry at once with the state fixed up
        if (!IsRetriable(s)) {
          listener_.OnFatalError(s);
        } else {
          spdlog::debug("sluice consumer: group '{}': {}", config_.group_id, s.message());
        }
        co_await SleepUntil(Clock::now() + config_.retry_backoff);
        continue;
      }
      next_heartbeat_ = Clock::now() + config_.heartbeat_interval;
      next_metadata_ = Clock::now() + config_.metadata_max_age;
      continue;
    }
    co_await SleepUntil(std::min(next_heartbeat_, next_metadata_));
    if (leaving_ || rejoin_needed_) continue;
    const Clock::time_point now = Clock::now();
    if (now >= next_metadata_) {
      next_metadata_ = now + config_.metadata_max_age;
      co_await CheckMetadata();
      if (rejoin_needed_) continue;
    }
    if (now >= next_heartbeat_) {
      next_heartbeat_ = now + config_.heartbeat_interval;
      co_await Heartbeat();
    }
  }
  running_ = false;
}

asio::awaitable<void> GroupMembership::SleepUntil(Clock::time_point t) {
  wake_.expires_at(t);
  co_await wake_.async_wait(kUseTuple);
}

void GroupMembership::ForgetCoordinator() {
  coordinator_.reset();
  coordinator_address_.clear();
}

void GroupMembership::OnGroupError(native::ErrorCode code) {
  switch (code) {
    case native::REBALANCE_IN_PROGRESS:
      rejoin_needed_ = true;
      break;
    case native::ILLEGAL_GENERATION:
      rejoin_needed_ = true;
      lost_ = true;
      break;
    case native::UNKNOWN_MEMBER_ID:
      member_id_.clear();
      generation_ = -1;
      rejoin_needed_ = true;
      lost_ = true;
      break;
    case native::NOT_COORDINATOR:
    case native::COORDINATOR_NOT_AVAILABLE:
      ForgetCoordinator();
      break;
    default:
      break;
  }
}

asio::awaitable<absl::Status> GroupMembership::EnsureCoordinator() {
  auto self = shared_from_this();
  if (coordinator_) co_return absl::OkStatus();
  native::RequestHeader h;
  h.mutable_find_coordinator()->set_group_id(config_.group_id);
  auto bootstrap = connections_.Bootstrap();
  auto r = co_await bootstrap->Call(std::move(h), config_.request_timeout);
  if (!r.ok()) co_return r.status();
  if (!r->header.has_find_coordinator()) {
    co_return absl::DataLossError("FindCoordinator answered without its response");
  }
  const auto& fc = r->header.find_coordinator();
  if (fc.error().code() != native::NONE) {
    co_return FromNative(fc.error(),
                         absl::StrCat("find coordinator of group '", config_.group_id, "'"));
  }
  if (coordinator_) co_return absl::OkStatus();  // found meanwhile by another caller
  const auto& b = fc.coordinator();
  coordinator_address_ = b.host().empty() ? std::string() : absl::StrCat(b.host(), ":", b.port());
  coordinator_ = connections_.Get(coordinator_address_);
  co_return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<Response>> GroupMembership::CallCoordinator(
    native::RequestHeader header, std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  if (absl::Status s = co_await EnsureCoordinator(); !s.ok()) co_return s;
  auto connection = coordinator_;
  auto r = co_await connection->Call(std::move(header), timeout);
  if (!r.ok() && IsRetriable(r.status()) && coordinator_ == connection) ForgetCoordinator();
  co_return r;
}

asio::awaitable<absl::Status> GroupMembership::JoinAndSync() {
  auto self = shared_from_this();
  const std::string context = absl::StrCat("group '", config_.group_id, "'");
  std::vector<std::string> topics = topics_;
  PartitionCounts counts = co_await listener_.RefreshMetadata(std::move(topics));

  native::RequestHeader jh;
  auto* join = jh.mutable_join_group();
  join->set_group_id(config_.group_id);
  join->set_session_timeout_ms(static_cast<uint32_t>(config_.session_timeout.count()));
  join->set_rebalance_timeout_ms(static_cast<uint32_t>(config_.rebalance_timeout.count()));
  join->set_member_id(member_id_);
  join->set_protocol_type(kProtocolType);
  join->set_client_id(config_.client_id);
  for (const auto& name : config_.assignors) {
    Subscription s;
    s.topics = topics_;
    if (name == "cooperative-sticky") {
      StickyUserData d;
      d.previous_assignment = owned_;
      d.generation = owned_generation_;
      s.user_data = EncodeStickyUserData(d);
    }
    auto* p = join->add_protocols();
    p->set_name(name);
    p->set_metadata(EncodeSubscription(s));
  }
  const auto long_timeout = config_.rebalance_timeout + config_.request_timeout;
  auto jr = co_await CallCoordinator(std::move(jh), long_timeout);
  if (!jr.ok()) co_return jr.status();
  if (!jr->header.has_join_group()) co_return absl::DataLossError("JoinGroup without response");
  const native::JoinGroupResponse& joined = jr->header.join_group();
  if (joined.error().code() != native::NONE) {
    if (joined.error().code() == native::MEMBER_ID_REQUIRED) member_id_ = joined.member_id();
    OnGroupError(joined.error().code());
    co_return FromNative(joined.error(), absl::StrCat("join ", context));
  }
  member_id_ = joined.member_id();
  generation_ = joined.generation_id();
  lost_ = false;

  native::RequestHeader sh;
  auto* sync = sh.mutable_sync_group();
  sync->set_group_id(config_.group_id);
  sync->set_generation_id(generation_);
  sync->set_member_id(member_id_);
  if (joined.leader_id() == member_id_) {
    std::vector<native::SyncGroupRequest::Assignment> assignments;
    auto assigned = co_await LeaderAssign(joined, &assignments);
    if (!assigned.ok()) co_return assigned.status();
    for (auto& a : assignments) *sync->add_assignments() = std::move(a);
  }
  auto sr = co_await CallCoordinator(std::move(sh), long_timeout);
  if (!sr.ok()) co_return sr.status();
  if (!sr->header.has_sync_group()) co_return absl::DataLossError("SyncGroup without response");
  const auto& synced = sr->header.sync_group();
  if (synced.error().code() != native::NONE) {
    OnGroupError(synced.error().code());
    co_return FromNative(synced.error(), absl::StrCat("sync ", context));
  }
  auto assignment = DecodeAssignment(synced.assignment());
  if (!assignment.ok()) co_return assignment.status();

  snapshot_ = std::move(counts);
  owned_ = assignment->partitions;
  owned_generation_ = generation_;
  holding_ = true;
  rejoin_needed_ = false;
  spdlog::debug("sluice consumer: {} generation {}: member {} assigned {} partitions ({})", context,
                generation_, member_id_, owned_.size(), joined.protocol_name());
  listener_.OnAssigned(assignment->partitions);
  co_return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<std::string>> GroupMembership::LeaderAssign(
    const native::JoinGroupResponse& join, std::vector<native::SyncGroupRequest::Assignment>* out) {
  auto self = shared_from_this();
  std::vector<MemberSubscription> members;
  std::set<std::string> all_topics;
  for (const auto& m : join.members()) {
    auto s = DecodeSubscription(m.metadata());
    if (!s.ok()) co_return s.status();
    MemberSubscription ms;
    ms.member_id = m.member_id();
    ms.topics = s->topics;
    ms.owned = s->owned_partitions;
    if (!s->user_data.empty() && join.protocol_name() == "cooperative-sticky") {
      if (auto d = DecodeStickyUserData(s->user_data); d.ok()) {
        if (ms.owned.empty()) ms.owned = d->previous_assignment;
        ms.generation = d->generation;
      }
    }
    all_topics.insert(ms.topics.begin(), ms.topics.end());
    members.push_back(std::move(ms));
  }
  std::vector<std::string> topics(all_topics.begin(), all_topics.end());
  PartitionCounts counts = co_await listener_.RefreshMetadata(std::move(topics));
  auto assignment = Assign(join.protocol_name(), counts, members);
  if (!assignment.ok()) co_return assignment.status();
  for (const auto& [member, partitions] : *assignment) {
    native::SyncGroupRequest::Assignment a;
    a.set_member_id(member);
    MemberAssignment ma;
    ma.partitions = partitions;
    a.set_assignment(EncodeAssignment(ma));
    out->push_back(std::move(a));
  }
  co_return join.protocol_name();
}

asio::awaitable<void> GroupMembership::Heartbeat() {
  auto self = shared_from_this();
  native::RequestHeader h;
  auto* hb = h.mutable_heartbeat();
  hb->set_group_id(config_.group_id);
  hb->set_generation_id(generation_);
  hb->set_member_id(member_id_);
  auto r = co_await CallCoordinator(std::move(h), config_.request_timeout);
  if (!r.ok()) {
    spdlog::debug("sluice consumer: heartbeat of group '{}': {}", config_.group_id,
                  r.status().message());
    co_return;
  }
  if (!r->header.has_heartbeat()) co_return;
  OnGroupError(r->header.heartbeat().error().code());
}

asio::awaitable<void> GroupMembership::CheckMetadata() {
  auto self = shared_from_this();
  std::vector<std::string> topics = topics_;
  PartitionCounts counts = co_await listener_.RefreshMetadata(std::move(topics));
  if (counts != snapshot_) {
    spdlog::debug("sluice consumer: group '{}': subscribed topics changed; rejoining",
                  config_.group_id);
    rejoin_needed_ = true;
  }
}

asio::awaitable<absl::Status> GroupMembership::Commit(OffsetMap offsets) {
  auto self = shared_from_this();
  if (offsets.empty()) co_return absl::OkStatus();
  native::RequestHeader h;
  auto* c = h.mutable_offset_commit();
  c->set_group_id(config_.group_id);
  c->set_generation_id(member_id_.empty() ? -1 : generation_);
  c->set_member_id(member_id_);
  for (const auto& [tp, om] : offsets) {
    auto* p = c->add_partitions();
    p->set_topic(tp.topic);
    p->set_partition(tp.partition);
    p->set_offset(om.offset);
    p->set_metadata(om.metadata);
  }
  auto r = co_await CallCoordinator(std::move(h), config_.request_timeout);
  if (!r.ok()) co_return r.status();
  if (!r->header.has_offset_commit())
    co_return absl::DataLossError("OffsetCommit without response");
  for (const auto& p : r->header.offset_commit().partitions()) {
    if (p.error().code() == native::NONE) continue;
    OnGroupError(p.error().code());
    if (rejoin_needed_) Wake();
    co_return FromNative(p.error(), absl::StrCat("commit of ", p.topic(), "-", p.partition(),
                                                 " for group '", config_.group_id, "'"));
  }
  co_return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<std::map<TopicPartition, int64_t>>> GroupMembership::FetchCommitted(
    std::vector<TopicPartition> partitions) {
  auto self = shared_from_this();
  native::RequestHeader h;
  auto* f = h.mutable_offset_fetch();
  f->set_group_id(config_.group_id);
  for (const auto& tp : partitions) {
    auto* p = f->add_partitions();
    p->set_topic(tp.topic);
    p->set_partition(tp.partition);
  }
  auto r = co_await CallCoordinator(std::move(h), config_.request_timeout);
  if (!r.ok()) co_return r.status();
  if (!r->header.has_offset_fetch()) co_return absl::DataLossError("OffsetFetch without response");
  const auto& resp = r->header.offset_fetch();
  const std::string context = absl::StrCat("committed offsets of group '", config_.group_id, "'");
  if (resp.error().code() != native::NONE) {
    OnGroupError(resp.error().code());
    co_return FromNative(resp.error(), context);
  }
  std::map<TopicPartition, int64_t> out;
  for (const auto& tp : partitions) out[tp] = -1;
  for (const auto& p : resp.partitions()) {
    if (p.error().code() != native::NONE) co_return FromNative(p.error(), context);
    out[{p.topic(), p.partition()}] = p.offset();
  }
  co_return out;
}

asio::awaitable<absl::Status> GroupMembership::Leave() {
  auto self = shared_from_this();
  leaving_ = true;
  Wake();
  if (member_id_.empty() || !coordinator_) co_return absl::OkStatus();
  native::RequestHeader h;
  h.mutable_leave_group()->set_group_id(config_.group_id);
  h.mutable_leave_group()->set_member_id(member_id_);
  // A JoinGroup may be parked on the coordinator connection; responses come in order, so leave
  // over a connection of its own rather than behind it.
  std::shared_ptr<Connection> connection = coordinator_;
  std::shared_ptr<Connection> temporary;
  if (connection->outstanding() > 0) {
    std::vector<std::string> addresses = config_.bootstrap_servers;
    if (SplitHostPort(coordinator_address_).ok()) addresses.assign(1, coordinator_address_);
    temporary =
        Connection::Create(executor_, std::move(addresses), ConnectionOptions::From(config_));
    connection = temporary;
  }
  auto r = co_await connection->Call(std::move(h), config_.request_timeout);
  if (temporary) temporary->Close();
  member_id_.clear();
  generation_ = -1;
  if (!r.ok()) co_return r.status();
  if (r->header.has_leave_group() && r->header.leave_group().error().code() != native::NONE) {
    co_return FromNative(r->header.leave_group().error(),
                         absl::StrCat("leave group '", config_.group_id, "'"));
  }
  co_return absl::OkStatus();
}

}  // namespace sluice::client
