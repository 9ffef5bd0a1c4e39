#include "client/src/consumer_protocol.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "storage/byte_order.h"

namespace sluice::client {
namespace {

using storage::LoadBigEndian;
using storage::StoreBigEndian;

class Writer {
 public:
  template <typename T>
  void Int(T v) {
    uint8_t b[sizeof(T)];
    StoreBigEndian<T>(b, v);
    out_.append(reinterpret_cast<const char*>(b), sizeof(T));
  }
  void String(std::string_view s) {
    Int<int16_t>(static_cast<int16_t>(s.size()));
    out_.append(s);
  }
  void Bytes(std::string_view s) {  // empty is written as null
    if (s.empty()) {
      Int<int32_t>(-1);
      return;
    }
    Int<int32_t>(static_cast<int32_t>(s.size()));
    out_.append(s);
  }
  void TopicPartitions(std::vector<TopicPartition> tps) {
    std::sort(tps.begin(), tps.end());
    std::map<std::string, std::vector<int32_t>> by_topic;
    for (const auto& tp : tps) by_topic[tp.topic].push_back(tp.partition);
    Int<int32_t>(static_cast<int32_t>(by_topic.size()));
    for (const auto& [topic, partitions] : by_topic) {
      String(topic);
      Int<int32_t>(static_cast<int32_t>(partitions.size()));
      for (int32_t p : partitions) Int<int32_t>(p);
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool done() const { return in_.empty(); }

  template <typename T>
  bool Int(T* v) {
    if (in_.size() < sizeof(T)) return false;
    *v = LoadBigEndian<T>(reinterpret_cast<const uint8_t*>(in_.data()));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool String(std::string* s) {
    int16_t n;
    if (!Int(&n) || n < 0 || static_cast<size_t>(n) > in_.size()) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool Bytes(std::string* s) {
    int32_t n;
    if (!Int(&n)) return false;
    if (n < 0) {
      s->clear();
      return n == -1;
    }
    if (static_cast<size_t>(n) > in_.size()) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool Count(int32_t* n) {
    // Every element takes at least 2 bytes: a count beyond that is corrupt, not a huge array.
    return Int(n) && *n >= 0 && static_cast<size_t>(*n) <= in_.size();
  }
  bool TopicPartitions(std::vector<TopicPartition>* out) {
    int32_t topics;
    if (!Count(&topics)) return false;
    for (int32_t i = 0; i < topics; ++i) {
      std::string topic;
      int32_t n;
      if (!String(&topic) || !Count(&n)) return false;
      for (int32_t j = 0; j < n; ++j) {
        int32_t p;
        if (!Int(&p)) return false;
        out->push_back({topic, p});
      }
    }
    return true;
  }

 private:
  std::string_view in_;
};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed consumer protocol ", absl::string_view(what.data(), what.size())));
}

}  // namespace

std::string EncodeSubscription(const Subscription& s) {
  Writer w;
  w.Int<int16_t>(0);
  w.Int<int32_t>(static_cast<int32_t>(s.topics.size()));
  for (const auto& t : s.topics) w.String(t);
  w.Bytes(s.user_data);
  return w.Take();
}

absl::StatusOr<Subscription> DecodeSubscription(std::string_view bytes) {
  Reader r(bytes);
  Subscription s;
  int16_t version;
  int32_t n;
  if (!r.Int(&version) || version < 0 || !r.Count(&n)) return Malformed("subscription");
  for (int32_t i = 0; i < n; ++i) {
    std::string t;
    if (!r.String(&t)) return Malformed("subscription topic");
    s.topics.push_back(std::move(t));
  }
  if (!r.Bytes(&s.user_data)) return Malformed("subscription user data");
  if (version >= 1 && !r.done() && !r.TopicPartitions(&s.owned_partitions)) {
    return Malformed("subscription owned partitions");
  }
  return s;
}

std::string EncodeAssignment(const MemberAssignment& a) {
  Writer w;
  w.Int<int16_t>(0);
  w.TopicPartitions(a.partitions);
  w.Bytes(a.user_data);
  return w.Take();
}

absl::StatusOr<MemberAssignment> DecodeAssignment(std::string_view bytes) {
  MemberAssignment a;
  if (bytes.empty()) return a;  // a member left without partitions by a coordinator
  Reader r(bytes);
  int16_t version;
  if (!r.Int(&version) || version < 0 || !r.TopicPartitions(&a.partitions)) {
    return Malformed("assignment");
  }
  if (!r.Bytes(&a.user_data)) return Malformed("assignment user data");
  return a;
}

std::string EncodeStickyUserData(const StickyUserData& d) {
  Writer w;
  w.TopicPartitions(d.previous_assignment);
  w.Int<int32_t>(d.generation);
  return w.Take();
}

absl::StatusOr<StickyUserData> DecodeStickyUserData(std::string_view bytes) {
  StickyUserData d;
  Reader r(bytes);
  if (!r.TopicPartitions(&d.previous_assignment)) return Malformed("sticky user data");
  if (!r.done() && !r.Int(&d.generation)) return Malformed("sticky user data generation");
  return d;
}

}  // namespace sluice::client
