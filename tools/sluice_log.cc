// sluice-log: offline tools over a data dir.
//   sluice-log dump SEGMENT.log [--records]   walk a segment file and print its batches
//   sluice-log check --data-dir DIR           open (and so recover) a data dir, print every partition
//   sluice-log demo --data-dir DIR            append and read back a few records on topic "demo"

#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "storage/absl_compat.h"
#include "storage/file.h"
#include "storage/log_manager.h"
#include "storage/record_batch.h"

namespace sluice::storage {
namespace {

std::string Printable(std::optional<std::string_view> s) {
  if (!s) return "null";
  std::string out;
  for (char c : *s) {
    if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  return out;
}

void PrintRecords(const RecordBatchView& v) {
  absl::Status s = v.ForEachRecord([&](const RecordView& r) {
    std::cout << "    offset=" << (v.base_offset() + r.offset_delta).value()
              << " ts=" << v.base_timestamp() + r.timestamp_delta << " key=" << Printable(r.key)
              << " value=" << Printable(r.value);
    for (const auto& h : r.headers) std::cout << " header:" << h.key << "=" << Printable(h.value);
    std::cout << "\n";
    return true;
  });
  if (!s.ok()) std::cout << "    (records not shown: " << s.message() << ")\n";
}

int Dump(const std::string& path, bool records) {
  auto file = FileFactory::Posix()->Open(path, /*create=*/false);
  if (!file.ok()) {
    std::cerr << "sluice-log: " << file.status().message() << "\n";
    return 1;
  }
  auto size = (*file)->Size();
  if (!size.ok()) {
    std::cerr << "sluice-log: " << size.status().message() << "\n";
    return 1;
  }
  uint64_t pos = 0;
  std::vector<uint8_t> buf;
  while (pos < *size) {
    uint8_t prefix[kLogOverhead];
    auto n = (*file)->ReadAt(pos, prefix);
    if (!n.ok() || *n < kLogOverhead) {
      std::cout << "position " << pos << ": torn length prefix (" << (*size - pos)
                << " bytes left)\n";
      return 2;
    }
    auto batch_size = PeekBatchSize(prefix);
    if (!batch_size.ok() || *batch_size > *size - pos) {
      std::cout << "position " << pos << ": "
                << (batch_size.ok() ? "torn batch" : batch_size.status().message()) << "\n";
      return 2;
    }
    buf.resize(*batch_size);
    n = (*file)->ReadAt(pos, buf);
    auto view = RecordBatchView::Parse(buf);
    if (!view.ok()) {
      std::cout << "position " << pos << ": " << view.status().message() << "\n";
      return 2;
    }
    absl::Status crc = view->VerifyCrc();
    std::cout << "position=" << pos << " base_offset=" << view->base_offset().value()
              << " last_offset=" << view->last_offset().value() << " count=" << view->record_count()
              << " size=" << view->size_bytes() << " compression=" << CompressionName(view->compression())
              << " max_ts=" << view->max_timestamp() << " producer_id=" << view->producer_id()
              << " crc=" << (crc.ok() ? "ok" : "BAD") << "\n";
    if (records) PrintRecords(*view);
    if (!crc.ok()) return 2;
    pos += *batch_size;
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<LogManager>> OpenDataDir(const std::string& dir) {
  LogManager::Options o;
  o.data_dir = dir;
  return LogManager::Open(o);
}

int Check(const std::string& dir) {
  auto lm = OpenDataDir(dir);
  if (!lm.ok()) {
    std::cerr << "sluice-log: " << lm.status().message() << "\n";
    return 1;
  }
  for (const auto& t : (*lm)->ListTopics()) {
    for (int32_t p = 0; p < t.partition_count; ++p) {
      auto log = (*lm)->GetPartition(t.name, PartitionId(p));
      if (!log.ok()) continue;
      const auto& r = (*log)->recovery_report();
      std::cout << t.name << "-" << p << " start=" << (*log)->log_start_offset().value()
                << " end=" << (*log)->log_end_offset().value() << " bytes=" << (*log)->size_bytes()
                << " segments=" << (*log)->segment_count() << " recovered_batches="
                << r.batches_scanned << " cut_bytes=" << r.bytes_truncated << "\n";
    }
  }
  absl::Status s = (*lm)->Close();
  if (!s.ok()) {
    std::cerr << "sluice-log: close: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

int Demo(const std::string& dir) {
  auto lm = OpenDataDir(dir);
  if (!lm.ok()) {
    std::cerr << "sluice-log: " << lm.status().message() << "\n";
    return 1;
  }
  if (!(*lm)->DescribeTopic("demo").ok()) {
    absl::Status s = (*lm)->CreateTopic("demo", 1, {});
    if (!s.ok()) {
      std::cerr << "sluice-log: " << s.message() << "\n";
      return 1;
    }
  }
  auto log = *(*lm)->GetPartition("demo", PartitionId(0));
  Offset first = log->log_end_offset();
  RecordBatchBuilder b;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  RecordBatchBuilder::Header h{"source", "sluice-log demo"};
  b.Add("greeting", "hello, sluice", std::span(&h, 1), now);
  b.Add(std::nullopt, "a record without a key", {}, now);
  std::string batch = b.Build();
  auto r = log->Append(std::span<uint8_t>(reinterpret_cast<uint8_t*>(batch.data()), batch.size()));
  if (!r.ok()) {
    std::cerr << "sluice-log: append: " << r.status().message() << "\n";
    return 1;
  }
  absl::Status synced = log->Flush();
  std::cout << "appended offsets " << r->base_offset.value() << ".." << r->last_offset.value()
            << " to demo-0 in " << dir << " (" << (synced.ok() ? "synced" : synced.message()) << ")\n";
  auto read = log->Read(log->log_start_offset(), 1 << 20);
  if (!read.ok()) {
    std::cerr << "sluice-log: read: " << read.status().message() << "\n";
    return 1;
  }
  auto bytes = read->ReadAll();
  Bytes rest = AsBytes(*bytes);
  std::cout << "demo-0 holds offsets " << log->log_start_offset().value() << ".."
            << log->log_end_offset().value() - 1 << " (appended before this run: "
            << first.value() << "); the newest batches:\n";
  while (!rest.empty()) {
    auto v = RecordBatchView::Parse(rest);
    if (!v.ok()) break;
    if (v->last_offset() >= first - 4) PrintRecords(*v);
    rest = rest.subspan(v->size_bytes());
  }
  return (*lm)->Close().ok() ? 0 : 1;
}

}  // namespace
}  // namespace sluice::storage

int main(int argc, char** argv) {
  CLI::App app{"sluice-log: offline tools for a sluice data dir"};
  app.require_subcommand(1);
  std::string path, dir = "./data";
  bool records = false;
  auto* dump = app.add_subcommand("dump", "Walk a segment file and print its batches");
  dump->add_option("segment", path, "Path of a .log segment file")->required();
  dump->add_flag("--records", records, "Also print each record of uncompressed batches");
  auto* check = app.add_subcommand("check", "Open (and recover) a data dir; print its partitions");
  check->add_option("--data-dir", dir, "Data directory")->capture_default_str();
  auto* demo = app.add_subcommand("demo", "Append and read back records on topic 'demo'");
  demo->add_option("--data-dir", dir, "Data directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (*dump) return sluice::storage::Dump(path, records);
  if (*check) return sluice::storage::Check(dir);
  return sluice::storage::Demo(dir);
}
