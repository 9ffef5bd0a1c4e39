#pragma once
// librdkafka (C API) helpers of crash_consistency_test.cc: RAII handles, a reader that consumes
// chosen partitions up to their high watermark (assign(), no group), DeleteRecords, OffsetCommit
// and OffsetFetch. Everything talks to sluiced's Kafka listener on 127.0.0.1 and every wait is
// bounded.
//
// Thread: a handle is used by one thread at a time; the functions are safe to call from any
// thread.

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace sluice::crash {

struct RkDestroy {
  void operator()(rd_kafka_t* rk) const {
    if (rk != nullptr) rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
};
using RkHandle = std::unique_ptr<rd_kafka_t, RkDestroy>;

struct RkListFree {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    if (l != nullptr) rd_kafka_topic_partition_list_destroy(l);
  }
};
using RkList = std::unique_ptr<rd_kafka_topic_partition_list_t, RkListFree>;

// librdkafka's own log lines (connection refused while the broker is down, ...) are noise here;
// SLUICE_CRASH_VERBOSE=1 shows them.
inline void RkLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  static const bool verbose = std::getenv("SLUICE_CRASH_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "rdkafka %d %s: %s\n", level, fac, buf);
}

// A handle of `type` with `props` (bootstrap.servers included by the caller). `configure` may
// add callbacks to the conf before the handle is created.
template <typename Configure>
absl::StatusOr<RkHandle> MakeRk(rd_kafka_type_t type,
                                const std::map<std::string, std::string>& props,
                                Configure configure) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat(k, "=", v, ": ", err));
    }
  }
  rd_kafka_conf_set_log_cb(conf, RkLog);
  configure(conf);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("rd_kafka_new: ", err));
  }
  return RkHandle(rk);
}

inline absl::StatusOr<RkHandle> MakeRk(rd_kafka_type_t type,
                                       const std::map<std::string, std::string>& props) {
  return MakeRk(type, props, [](rd_kafka_conf_t*) {});
}

inline absl::Status RkError(rd_kafka_resp_err_t e, const std::string& what) {
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", rd_kafka_err2name(e), " (",
                                             rd_kafka_err2str(e), ")"));
}

// One record as read back.
struct ReadRecord {
  int64_t offset = -1;
  std::string key;
  std::string value;
};

// One partition as read back: its watermarks (ListOffsets earliest/latest), where reading
// started (max(from, low)) and every record from there to the high watermark.
struct PartitionRead {
  std::string topic;
  int32_t partition = 0;
  int64_t low = -1;
  int64_t high = -1;
  int64_t start = 0;
  std::vector<ReadRecord> records;
};

struct ReadRequest {
  std::string topic;
  int32_t partition = 0;
  int64_t from = 0;  // reading starts at max(from, log start)
};

// Reads every record of each requested partition from max(from, low) up to its high watermark,
// with a consumer that assign()s the partitions (no group) and verifies CRCs. Fails if a fetch
// goes out of range, a partition cannot be read to its high watermark within `timeout`, or a
// record is served below where reading started.
inline absl::StatusOr<std::vector<PartitionRead>> ReadPartitions(
    const std::string& bootstrap, const std::vector<ReadRequest>& requests,
    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto rk = MakeRk(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                       {"group.id", "crash-reader-never-commits"},
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"},
                                       {"auto.offset.reset", "error"},
                                       {"enable.partition.eof", "true"},
                                       {"check.crcs", "true"},
                                       {"fetch.wait.max.ms", "20"},
                                       {"topic.metadata.refresh.interval.ms", "1000"},
                                       {"reconnect.backoff.ms", "20"},
                                       {"reconnect.backoff.max.ms", "200"}});
  if (!rk.ok()) return rk.status();
  std::vector<PartitionRead> out(requests.size());
  RkList assignment(rd_kafka_topic_partition_list_new(int(requests.size())));
  std::map<std::pair<std::string, int32_t>, size_t> index;
  size_t pending = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const ReadRequest& r = requests[i];
    PartitionRead& pr = out[i];
    pr.topic = r.topic;
    pr.partition = r.partition;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 20; ++attempt) {  // metadata of a new topic may lag
      e = rd_kafka_query_watermark_offsets(rk->get(), r.topic.c_str(), r.partition, &pr.low,
                                           &pr.high, 5000);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return RkError(e, absl::StrCat("watermarks of ", r.topic, "-", r.partition));
    }
    pr.start = std::max(r.from, pr.low);
    if (pr.start >= pr.high) continue;
    index[{r.topic, r.partition}] = i;
    rd_kafka_topic_partition_list_add(assignment.get(), r.topic.c_str(), r.partition)->offset =
        pr.start;
    ++pending;
  }
  if (pending == 0) return out;
  if (auto e = rd_kafka_assign(rk->get(), assignment.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return RkError(e, "assign");
  }
  std::vector<bool> done(requests.size(), false);
  const auto until = std::chrono::steady_clock::now() + timeout;
  absl::Status status;
  while (pending > 0 && status.ok()) {
    if (std::chrono::steady_clock::now() >= until) {
      std::string where;
      for (size_t i = 0; i < out.size(); ++i) {
        if (!done[i] && out[i].start < out[i].high) {
          absl::StrAppend(&where, " ", out[i].topic, "-", out[i].partition, " at ",
                          out[i].start + int64_t(out[i].records.size()), " of ", out[i].high);
        }
      }
      status = absl::DeadlineExceededError(absl::StrCat("reading timed out:", where));
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk->get(), 100);
    if (m == nullptr) continue;
    std::string topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "";
    auto it = index.find({topic, m->partition});
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (it != index.end() && !done[it->second] && m->offset >= out[it->second].high) {
        done[it->second] = true;
        --pending;
      }
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = RkError(m->err, absl::StrCat("consume ", topic, "-", m->partition, " at ",
                                            m->offset, ": ", rd_kafka_message_errstr(m)));
    } else if (it == index.end()) {
      status = absl::InternalError(absl::StrCat("record of unrequested ", topic, "-", m->partition));
    } else if (!done[it->second]) {
      PartitionRead& pr = out[it->second];
      if (m->offset < pr.start) {
        status = absl::DataLossError(absl::StrCat(topic, "-", m->partition, ": record at offset ",
                                                  m->offset, " served below ", pr.start));
      } else {
        ReadRecord rec;
        rec.offset = m->offset;
        if (m->key != nullptr) rec.key.assign(static_cast<const char*>(m->key), m->key_len);
        if (m->payload != nullptr) {
          rec.value.assign(static_cast<const char*>(m->payload), m->len);
        }
        pr.records.push_back(std::move(rec));
        if (m->offset >= pr.high - 1) {
          done[it->second] = true;
          --pending;
        }
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk->get(), nullptr);
  if (!status.ok()) return status;
  return out;
}

// Kafka DeleteRecords of `topic`-`partition` before `offset`; the new low watermark. Gives up
// (Cancelled: the request may still land) as soon as `*abandon` is set.
inline absl::StatusOr<int64_t> DeleteRecords(rd_kafka_t* rk, const std::string& topic,
                                             int32_t partition, int64_t offset,
                                             std::chrono::milliseconds timeout,
                                             const std::atomic<bool>* abandon) {
  RkList offsets(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(offsets.get(), topic.c_str(), partition)->offset = offset;
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(offsets.get());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS);
  char err[256];
  rd_kafka_AdminOptions_set_request_timeout(options, int(timeout.count()), err, sizeof(err));
  rd_kafka_AdminOptions_set_operation_timeout(options, int(timeout.count()), err, sizeof(err));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_DeleteRecords(rk, &del, 1, options, q);
  rd_kafka_DeleteRecords_destroy(del);
  rd_kafka_AdminOptions_destroy(options);
  absl::StatusOr<int64_t> result = absl::DeadlineExceededError("DeleteRecords: no result");
  rd_kafka_event_t* ev = nullptr;
  const auto until = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(2);
  while (ev == nullptr && std::chrono::steady_clock::now() < until) {
    if (abandon->load()) {
      result = absl::CancelledError("DeleteRecords abandoned");
      break;
    }
    ev = rd_kafka_queue_poll(q, 20);
  }
  if (ev != nullptr) {
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = RkError(rd_kafka_event_error(ev), "DeleteRecords");
    } else if (const rd_kafka_DeleteRecords_result_t* r = rd_kafka_event_DeleteRecords_result(ev)) {
      const rd_kafka_topic_partition_list_t* parts = rd_kafka_DeleteRecords_result_offsets(r);
      if (parts != nullptr && parts->cnt == 1) {
        if (parts->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          result = RkError(parts->elems[0].err, "DeleteRecords partition");
        } else {
          result = parts->elems[0].offset;
        }
      } else {
        result = absl::DataLossError("DeleteRecords: malformed result");
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  return result;
}

// Synchronous Kafka OffsetCommit of `offsets` (partition -> next offset) for the group of the
// consumer handle `rk` (generation -1: a "simple" commit, no membership).
inline absl::Status CommitOffsets(rd_kafka_t* rk, const std::string& topic,
                                  const std::map<int32_t, int64_t>& offsets) {
  RkList list(rd_kafka_topic_partition_list_new(int(offsets.size())));
  for (const auto& [p, o] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = o;
  }
  rd_kafka_resp_err_t e = rd_kafka_commit(rk, list.get(), /*async=*/0);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return RkError(e, "commit");
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return RkError(list->elems[i].err, "commit partition");
    }
  }
  return absl::OkStatus();
}

}  // namespace sluice::crash
