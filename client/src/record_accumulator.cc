#include "client/src/record_accumulator.h"

#include <algorithm>

namespace sluice::client {
namespace {

// A varint length is at most 5 bytes, a varlong 10; a record adds its own length varint,
// attributes, timestamp and offset deltas and the header count.
constexpr size_t kRecordOverhead = 5 + 1 + 10 + 5 + 5;
constexpr size_t kLengthPrefix = 5;

}  // namespace

const std::string& ProducerBatch::Encode() {
  if (encoded.empty()) encoded = builder.Build();
  return encoded;
}

size_t EstimateRecordSize(const Record& record) {
  size_t n = kRecordOverhead + 2 * kLengthPrefix;
  if (record.key) n += record.key->size();
  if (record.value) n += record.value->size();
  for (const Header& h : record.headers) {
    n += 2 * kLengthPrefix + h.key.size() + (h.value ? h.value->size() : 0);
  }
  return n;
}

RecordAccumulator::AppendResult RecordAccumulator::Append(
    const TopicPartition& tp, std::optional<std::string_view> key,
    std::optional<std::string_view> value,
    std::span<const storage::RecordBatchBuilder::Header> headers, RecordCompletion completion,
    size_t reserved_bytes, Clock::time_point now) {
  AppendResult result;
  auto& queue = batches_[tp];
  ProducerBatch* batch = queue.empty() ? nullptr : queue.back().get();
  if (batch == nullptr || !Fits(*batch, reserved_bytes)) {
    if (batch != nullptr && batch->encoded.empty()) batch->full = true;
    auto fresh = std::make_unique<ProducerBatch>();
    fresh->tp = tp;
    fresh->created = now;
    fresh->retry_at = now;
    queue.push_back(std::move(fresh));
    batch = queue.back().get();
    result.new_batch = true;
  }
  batch->builder.Add(key, value, headers, completion.timestamp_ms);
  batch->records.push_back(std::move(completion));
  batch->reserved_bytes += reserved_bytes;
  if (batch->builder.size_bytes() >= options_.batch_size) batch->full = true;
  result.batch_full = queue.size() > 1 || batch->full;
  return result;
}

bool RecordAccumulator::Fits(const ProducerBatch& batch, size_t reserved_bytes) const {
  // A batch that was drained once is never appended to again (its bytes are built), and a
  // non-empty batch takes no record that would push it past batch_size.
  return !batch.full && batch.encoded.empty() && batch.attempts == 0 &&
         batch.builder.size_bytes() + reserved_bytes <= options_.batch_size;
}

bool RecordAccumulator::WouldCloseBatch(const TopicPartition& tp, size_t reserved_bytes) const {
  auto it = batches_.find(tp);
  if (it == batches_.end() || it->second.empty()) return false;
  const ProducerBatch& last = *it->second.back();
  return last.encoded.empty() && last.attempts == 0 && !Fits(last, reserved_bytes);
}

RecordAccumulator::ReadyResult RecordAccumulator::Ready(Clock::time_point now, bool flush) const {
  ReadyResult r;
  auto consider = [&](Clock::time_point t) {
    if (!r.next_check || t < *r.next_check) r.next_check = t;
  };
  for (const auto& [tp, queue] : batches_) {
    if (queue.empty()) continue;
    const ProducerBatch& first = *queue.front();
    if (first.retry_at > now) {
      consider(first.retry_at);
      continue;
    }
    const bool full = first.full || queue.size() > 1;
    const bool retry = first.attempts > 0;
    const Clock::time_point linger_end = first.created + options_.linger;
    if (full || retry || flush || linger_end <= now) {
      r.ready.push_back(tp);
    } else {
      consider(linger_end);
    }
  }
  return r;
}

std::unique_ptr<ProducerBatch> RecordAccumulator::Pop(const TopicPartition& tp) {
  auto it = batches_.find(tp);
  if (it == batches_.end() || it->second.empty()) return nullptr;
  auto batch = std::move(it->second.front());
  it->second.pop_front();
  if (it->second.empty()) batches_.erase(it);
  return batch;
}

void RecordAccumulator::Reenqueue(std::unique_ptr<ProducerBatch> batch) {
  auto& queue = batches_[batch->tp];
  queue.push_front(std::move(batch));
}

std::vector<std::unique_ptr<ProducerBatch>> RecordAccumulator::Expire(Clock::time_point now) {
  std::vector<std::unique_ptr<ProducerBatch>> out;
  for (auto it = batches_.begin(); it != batches_.end();) {
    auto& queue = it->second;
    for (auto b = queue.begin(); b != queue.end();) {
      if ((*b)->created + options_.delivery_timeout <= now) {
        out.push_back(std::move(*b));
        b = queue.erase(b);
      } else {
        ++b;
      }
    }
    it = queue.empty() ? batches_.erase(it) : std::next(it);
  }
  return out;
}

std::vector<std::unique_ptr<ProducerBatch>> RecordAccumulator::TakeAll() {
  std::vector<std::unique_ptr<ProducerBatch>> out;
  for (auto& [tp, queue] : batches_) {
    for (auto& b : queue) out.push_back(std::move(b));
  }
  batches_.clear();
  return out;
}

size_t RecordAccumulator::batch_count() const {
  size_t n = 0;
  for (const auto& [tp, queue] : batches_) n += queue.size();
  return n;
}

}  // namespace sluice::client
