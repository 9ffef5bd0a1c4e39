#include "storage/log_config.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/errors.h"

namespace sluice::storage {

LogConfig LogConfig::With(const meta::TopicConfig& t) const {
  LogConfig c = *this;
  if (t.has_segment_bytes()) c.segment_bytes = t.segment_bytes();
  if (t.has_segment_ms()) c.segment_ms = t.segment_ms();
  if (t.has_retention_bytes()) c.retention_bytes = t.retention_bytes();
  if (t.has_retention_ms()) c.retention_ms = t.retention_ms();
  if (t.has_flush_messages()) c.flush_messages = t.flush_messages();
  if (t.has_flush_ms()) c.flush_ms = t.flush_ms();
  if (t.has_flush_bytes()) c.flush_bytes = t.flush_bytes();
  if (t.has_max_message_bytes()) c.max_message_bytes = t.max_message_bytes();
  return c;
}

absl::Status SetTopicConfig(meta::TopicConfig* t, const std::string& name,
                            const std::string& value) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v)) {
    return StorageError(StorageErrc::kInvalidTopic,
                        absl::StrCat("config ", name, ": '", value, "' is not an integer"));
  }
  auto require = [&](int64_t min) -> absl::Status {
    if (v < min) {
      return StorageError(StorageErrc::kInvalidTopic,
                          absl::StrCat("config ", name, "=", v, " is below its minimum ", min));
    }
    return absl::OkStatus();
  };
  absl::Status s;
  if (name == "segment.bytes") {
    s = require(14);  // Kafka's minimum: a segment must hold at least a batch header
    t->set_segment_bytes(v);
  } else if (name == "segment.ms") {
    s = require(1);
    t->set_segment_ms(v);
  } else if (name == "retention.bytes") {
    s = require(-1);
    t->set_retention_bytes(v);
  } else if (name == "retention.ms") {
    s = require(-1);
    t->set_retention_ms(v);
  } else if (name == "flush.messages") {
    s = require(1);
    t->set_flush_messages(v);
  } else if (name == "flush.ms") {
    s = require(0);
    t->set_flush_ms(v);
  } else if (name == "flush.bytes") {
    s = require(1);
    t->set_flush_bytes(v);
  } else if (name == "max.message.bytes") {
    s = require(0);
    t->set_max_message_bytes(v);
  } else {
    return StorageError(StorageErrc::kInvalidTopic, absl::StrCat("unknown topic config '", name, "'"));
  }
  return s;
}

std::vector<std::pair<std::string, std::string>> DescribeConfig(const LogConfig& c) {
  return {
      {"segment.bytes", absl::StrCat(c.segment_bytes)},
      {"segment.ms", absl::StrCat(c.segment_ms)},
      {"retention.bytes", absl::StrCat(c.retention_bytes)},
      {"retention.ms", absl::StrCat(c.retention_ms)},
      {"flush.messages", absl::StrCat(c.flush_messages)},
      {"flush.ms", absl::StrCat(c.flush_ms)},
      {"flush.bytes", absl::StrCat(c.flush_bytes)},
      {"max.message.bytes", absl::StrCat(c.max_message_bytes)},
  };
}

}  // namespace sluice::storage
