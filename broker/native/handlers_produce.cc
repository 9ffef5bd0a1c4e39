// Produce: append each partition's batches, then acknowledge per acks and the flush policy. The
// steps themselves are shared with the Kafka handler (broker/produce_common.h).
#include "absl/strings/str_cat.h"
#include "broker/native/errors.h"
#include "broker/native/handler.h"
#include "broker/produce_common.h"

namespace sluice::broker::native {

asio::awaitable<void> HandleProduce(RequestContext& ctx, pb::RequestHeader& req, Response& resp) {
  const pb::ProduceRequest& pr = req.produce();
  auto* out = resp.header.mutable_produce();
  const int32_t acks = pr.acks();
  const bool valid_acks = acks == 0 || acks == 1 || acks == -1;
  if (!valid_acks) {
    SetError(resp.header.mutable_error(), pb::INVALID_REQUEST,
             absl::StrCat("acks must be 0, 1 or -1, got ", acks));
  }

  std::vector<DurableTarget> durable;
  std::vector<int> durable_index;  // response partition of each target
  size_t at = 0;
  for (int i = 0; i < pr.partitions_size(); ++i) {
    const auto& p = pr.partitions(i);
    auto* r = out->add_partitions();
    r->set_topic(p.topic());
    r->set_partition(p.partition());
    r->set_base_offset(-1);
    r->set_log_start_offset(-1);
    std::span<uint8_t> data = ctx.payload.subspan(at, p.size());  // sizes checked by the reader
    at += p.size();
    if (!valid_acks) {
      SetError(r->mutable_error(), pb::INVALID_REQUEST, "invalid acks");
      continue;
    }
    auto log = co_await ctx.broker.topics.Partition(p.topic(), p.partition(), /*auto_create=*/true);
    if (!log.ok()) {
      SetError(r->mutable_error(), log.status());
      continue;
    }
    auto appended = AppendAll(**log, data);
    if (!appended.ok()) {
      SetError(r->mutable_error(), appended.status());
      continue;
    }
    ctx.broker.notifier.Notify(log->get());
    r->mutable_error()->set_code(pb::NONE);
    r->set_base_offset(appended->base.value());
    r->set_log_start_offset((*log)->log_start_offset().value());
    if (acks == -1 || appended->sync_before_ack) {
      durable.push_back(DurableTarget{*log, appended->last});
      durable_index.push_back(i);
    }
  }
  // Appends are done: later requests on this connection may start while we wait for fdatasync.
  ctx.ReleaseNext();
  if (acks == 0) {
    resp.send = false;
    co_return;
  }
  if (durable.empty()) co_return;
  std::vector<absl::Status> results =
      co_await AwaitDurable(std::move(durable), ProduceTimeout(pr.timeout_ms(), ctx.broker.config.request_timeout_ms));
  for (size_t k = 0; k < results.size(); ++k) {
    if (results[k].ok()) continue;
    auto* r = out->mutable_partitions(durable_index[k]);
    SetDurabilityError(r->mutable_error(), results[k]);
    r->set_base_offset(-1);
  }
}

}  // namespace sluice::broker::native
