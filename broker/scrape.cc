#include "broker/scrape.h"

#include "absl/strings/str_cat.h"
#include "broker/group_calls.h"

namespace sluice::broker {
namespace {

struct PartitionRow {
  std::string topic;
  std::string partition;
  std::shared_ptr<storage::PartitionLog> log;
};

}  // namespace

asio::awaitable<std::string> ScrapeMetrics(BrokerServices& broker) {
  std::string out = broker.metrics.Render();

  std::vector<PartitionRow> rows;
  for (const storage::TopicInfo& t : broker.logs.ListTopics()) {
    for (int32_t p = 0; p < t.partition_count; ++p) {
      auto log = broker.logs.GetPartition(t.name, PartitionId(p));
      if (log.ok()) rows.push_back(PartitionRow{t.name, absl::StrCat(p), *std::move(log)});
    }
  }
  struct Series {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const storage::PartitionLog&);
  };
  static const Series kSeries[] = {
      {"sluice_partition_log_end_offset", "gauge", "Offset the next appended record gets.",
       [](const storage::PartitionLog& l) { return double(l.log_end_offset().value()); }},
      {"sluice_partition_high_watermark", "gauge", "Offset below which records are readable.",
       [](const storage::PartitionLog& l) { return double(l.high_watermark().value()); }},
      {"sluice_partition_log_start_offset", "gauge", "First offset still in the log.",
       [](const storage::PartitionLog& l) { return double(l.log_start_offset().value()); }},
      {"sluice_partition_durable_offset", "gauge", "Offset below which records are fdatasync'd.",
       [](const storage::PartitionLog& l) { return double(l.durable_offset().value()); }},
      {"sluice_partition_size_bytes", "gauge", "Bytes in the partition's segments.",
       [](const storage::PartitionLog& l) { return double(l.size_bytes()); }},
      {"sluice_partition_fenced", "gauge",
       "1 if a failed write or sync fenced the partition (appends fail until restart).",
       [](const storage::PartitionLog& l) { return l.fenced().ok() ? 0.0 : 1.0; }},
  };
  for (const Series& s : kSeries) {
    prom::Family(&out, s.name, s.type, s.help);
    for (const PartitionRow& r : rows) {
      prom::Sample(&out, s.name, {{"topic", r.topic}, {"partition", r.partition}}, s.value(*r.log));
    }
  }

  GroupCoordinator& gc = broker.groups;
  std::vector<GroupListing> groups = co_await group_calls::List(gc);
  std::vector<std::string> ids;
  for (const auto& g : groups) ids.push_back(g.group_id);
  std::vector<GroupDescription> described;
  if (!ids.empty()) {
    described = co_await group_calls::Describe(gc, std::move(ids));
  }
  prom::Family(&out, "sluice_group_members", "gauge", "Members of each consumer group.");
  for (const auto& g : described) {
    prom::Sample(&out, "sluice_group_members", {{"group", g.group_id}}, double(g.members.size()));
  }
  prom::Family(&out, "sluice_group_lag", "gauge",
               "High watermark minus the group's committed offset, per partition.");
  for (const auto& g : described) {
    for (const auto& o : g.offsets) {
      prom::Sample(
          &out, "sluice_group_lag",
          {{"group", g.group_id}, {"topic", o.topic}, {"partition", absl::StrCat(o.partition)}},
          double(o.lag));
    }
  }
  co_return out;
}

}  // namespace sluice::broker
