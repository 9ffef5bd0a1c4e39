#include "client/src/fetcher.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "asio/experimental/as_tuple.hpp"
#include "client/src/errors.h"
#include "client/src/frame_codec.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"
#include "storage/record_batch.h"

namespace sluice::client {
namespace {

using asio::experimental::as_tuple;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);
// With nothing to fetch, the loop still looks around this often.
constexpr std::chrono::milliseconds kIdleWait{200};

std::optional<std::string> Copy(const std::optional<std::string_view>& s) {
  return s ? std::optional<std::string>(std::string(*s)) : std::nullopt;
}

}  // namespace

absl::Status DecodeRecords(const TopicPartition& tp, std::string_view payload, int64_t from,
                           std::vector<ConsumerRecord>* out, int64_t* next) {
  while (payload.size() >= storage::kLogOverhead) {
    auto size = storage::PeekBatchSize(storage::AsBytes(payload));
    if (!size.ok()) return size.status();
    if (*size > payload.size()) break;  // partial trailing batch
    auto view = storage::RecordBatchView::Parse(storage::AsBytes(payload.substr(0, *size)));
    if (!view.ok()) return view.status();
    payload.remove_prefix(*size);
    if (absl::Status s = view->VerifyCrc(); !s.ok()) {
      return absl::DataLossError(absl::StrCat("fetch of ", tp.ToString(), ": ", s.message()));
    }
    const int64_t base = view->base_offset().value();
    const int64_t last = view->last_offset().value();
    if (last < from) continue;
    *next = std::max(*next, last + 1);
    if (view->is_control()) continue;
    if (view->compression() != storage::Compression::kNone) {
      return absl::UnimplementedError(absl::StrCat(
          "fetch of ", tp.ToString(), ": batch at offset ", base, " is compressed with ",
          ToAbsl(storage::CompressionName(view->compression())),
          "; this client reads uncompressed batches only"));
    }
    const bool log_append = view->timestamp_type() == storage::TimestampType::kLogAppendTime;
    const int64_t base_ts = view->base_timestamp();
    const int64_t max_ts = view->max_timestamp();
    absl::Status s = view->ForEachRecord([&](const storage::RecordView& r) {
      const int64_t offset = base + r.offset_delta;
      if (offset < from) return true;
      ConsumerRecord c;
      c.topic = tp.topic;
      c.partition = tp.partition;
      c.offset = offset;
      c.timestamp_ms = log_append ? max_ts : base_ts + r.timestamp_delta;
      c.key = Copy(r.key);
      c.value = Copy(r.value);
      for (const auto& h : r.headers) c.headers.push_back({std::string(h.key), Copy(h.value)});
      out->push_back(std::move(c));
      return true;
    });
    if (!s.ok()) {
      return absl::DataLossError(absl::StrCat("fetch of ", tp.ToString(), ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

Fetcher::Fetcher(asio::any_io_executor executor, std::weak_ptr<void> owner,
                 const ConsumerConfig& config, SubscriptionState& state, MetadataCache& metadata,
                 ConnectionPool& control_connections, ConnectionPool& fetch_connections,
                 GroupMembership& group, std::function<void()> on_data,
                 std::function<void(absl::Status)> on_error)
    : executor_(executor),
      owner_(std::move(owner)),
      config_(config),
      state_(state),
      metadata_(metadata),
      control_(control_connections),
      fetch_(fetch_connections),
      group_(group),
      on_data_(std::move(on_data)),
      on_error_(std::move(on_error)),
      wake_(executor) {}

void Fetcher::Start() {
  if (running_ || closed_) return;
  running_ = true;
  asio::co_spawn(executor_, Run(), asio::detached);
}

void Fetcher::Close() {
  closed_ = true;
  Wake();
}

asio::awaitable<void> Fetcher::Sleep(std::chrono::milliseconds d) {
  wake_.expires_after(d);
  co_await wake_.async_wait(kUseTuple);
}

asio::awaitable<void> Fetcher::Run() {
  auto self = shared_from_this();
  auto owner = owner_.lock();
  while (owner && !closed_) {
    absl::Status s;
    if (auto need = state_.NeedingPosition(); !need.empty()) {
      s = co_await ResolvePositions(std::move(need));
    }
    if (s.ok()) {
      if (auto reset = state_.NeedingReset(); !reset.empty()) {
        s = co_await ResetOffsets(std::move(reset));
      }
    }
    if (s.ok()) {
      auto fetchable = state_.Fetchable();
      if (fetchable.empty()) {
        co_await Sleep(kIdleWait);
        continue;
      }
      s = co_await FetchOnce(std::move(fetchable));
    }
    if (closed_) break;
    if (!s.ok()) {
      if (!IsRetriable(s)) on_error_(s);
      spdlog::debug("sluice consumer: fetcher: {}", s.message());
      co_await Sleep(config_.retry_backoff);
    }
  }
  running_ = false;
}

asio::awaitable<absl::Status> Fetcher::ResolvePositions(std::vector<TopicPartition> partitions) {
  auto self = shared_from_this();
  auto committed = co_await group_.FetchCommitted(partitions);
  if (!committed.ok()) co_return committed.status();
  for (const auto& [tp, offset] : *committed) {
    if (offset >= 0) {
      state_.SetPositionIfUnknown(tp, offset);
    } else if (PartitionState* ps = state_.Find(tp); ps != nullptr && !ps->position) {
      ps->reset_pending = true;
    }
  }
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> Fetcher::ResetOffsets(std::vector<TopicPartition> partitions) {
  auto self = shared_from_this();
  const int64_t target = config_.auto_offset_reset == AutoOffsetReset::kEarliest ? -2 : -1;
  native::RequestHeader h;
  for (const auto& tp : partitions) {
    auto* p = h.mutable_list_offsets()->add_partitions();
    p->set_topic(tp.topic);
    p->set_partition(tp.partition);
    p->set_timestamp(target);
  }
  auto connection = control_.Bootstrap();
  auto r = co_await connection->Call(std::move(h), config_.request_timeout);
  if (!r.ok()) co_return r.status();
  if (!r->header.has_list_offsets()) co_return absl::DataLossError("ListOffsets without response");
  for (const auto& p : r->header.list_offsets().partitions()) {
    const TopicPartition tp{p.topic(), p.partition()};
    if (p.error().code() != native::NONE) {
      co_return FromNative(p.error(), absl::StrCat("reset offset of ", tp.ToString()));
    }
    spdlog::debug("sluice consumer: {} starts at offset {} ({})", tp.ToString(), p.offset(),
                  target == -2 ? "earliest" : "latest");
    state_.CompleteReset(tp, p.offset());
  }
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> Fetcher::FetchOnce(std::vector<TopicPartition> partitions) {
  auto self = shared_from_this();
  // One request per leader; with a single broker that is one request.
  std::map<std::string, std::vector<TopicPartition>> by_leader;
  for (const auto& tp : partitions) {
    std::string address;
    if (const TopicInfo* t = metadata_.Find(tp.topic);
        t != nullptr && static_cast<size_t>(tp.partition) < t->partitions.size()) {
      address = metadata_.BrokerAddress(t->partitions[tp.partition].leader);
    }
    by_leader[address].push_back(tp);
  }
  for (auto& [address, tps] : by_leader) {
    native::RequestHeader h;
    auto* f = h.mutable_fetch();
    f->set_max_wait_ms(static_cast<uint32_t>(config_.fetch_max_wait.count()));
    f->set_min_bytes(static_cast<uint32_t>(config_.fetch_min_bytes));
    f->set_max_bytes(static_cast<uint32_t>(config_.fetch_max_bytes));
    struct Sent {
      int64_t offset;
      uint64_t epoch;
    };
    std::map<TopicPartition, Sent> sent;
    for (const auto& tp : tps) {
      const PartitionState* ps = state_.Find(tp);
      auto* p = f->add_partitions();
      p->set_topic(tp.topic);
      p->set_partition(tp.partition);
      p->set_offset(*ps->position);
      p->set_max_bytes(static_cast<uint32_t>(config_.max_partition_fetch_bytes));
      sent[tp] = {*ps->position, ps->epoch};
    }
    auto connection = fetch_.Get(address);
    auto r =
        co_await connection->Call(std::move(h), config_.request_timeout + config_.fetch_max_wait);
    if (closed_) co_return absl::OkStatus();
    if (!r.ok()) co_return r.status();
    if (!r->header.has_fetch()) co_return absl::DataLossError("Fetch without response");
    const auto& resp = r->header.fetch();
    std::vector<size_t> sizes;
    for (const auto& p : resp.partitions()) sizes.push_back(p.size());
    auto slices = SplitPayload(r->payload(), sizes);
    if (!slices.ok()) co_return slices.status();
    bool any = false;
    for (int i = 0; i < resp.partitions_size(); ++i) {
      const auto& p = resp.partitions(i);
      const TopicPartition tp{p.topic(), p.partition()};
      PartitionState* ps = state_.Find(tp);
      auto it = sent.find(tp);
      if (ps == nullptr || it == sent.end() || ps->epoch != it->second.epoch ||
          ps->position != it->second.offset) {
        continue;  // reassigned, sought or reset meanwhile
      }
      if (p.error().code() == native::OFFSET_OUT_OF_RANGE) {
        spdlog::debug("sluice consumer: {} offset {} out of range; resetting", tp.ToString(),
                      it->second.offset);
        state_.RequestReset(tp);
        continue;
      }
      if (p.error().code() != native::NONE) {
        co_return FromNative(p.error(), absl::StrCat("fetch of ", tp.ToString()));
      }
      ps->high_watermark = p.high_watermark();
      std::vector<ConsumerRecord> records;
      int64_t next = it->second.offset;
      absl::Status s = DecodeRecords(tp, (*slices)[i], it->second.offset, &records, &next);
      if (!s.ok()) co_return s;
      if (records.empty()) {
        ps->position = next;  // only control batches or records below the position
      } else {
        any = true;
        state_.AddRecords(tp, std::move(records));
      }
    }
    if (any) on_data_();
  }
  co_return absl::OkStatus();
}

}  // namespace sluice::client
