// Produces a few records to a topic and reads them back through a consumer group.
//
//   sluice_example_produce_consume --bootstrap 127.0.0.1:9093 [--topic demo] [--count 10]
//
// Exits 0 once every record produced has been consumed (within 30 s), 1 otherwise.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "sluice/admin.h"
#include "sluice/consumer.h"
#include "sluice/producer.h"

namespace {

using namespace std::chrono_literals;

struct Args {
  std::string bootstrap = "127.0.0.1:9093";
  std::string topic = "sluice-example";
  int count = 10;
};

bool Parse(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--bootstrap") == 0 && has_value) {
      args->bootstrap = argv[++i];
    } else if (std::strcmp(argv[i], "--topic") == 0 && has_value) {
      args->topic = argv[++i];
    } else if (std::strcmp(argv[i], "--count") == 0 && has_value) {
      args->count = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s --bootstrap HOST:PORT [--topic NAME] [--count N]\n", argv[0]);
      return false;
    }
  }
  return args->count > 0;
}

void Print(const char* what, const absl::Status& s) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) return 2;

  // The topic: create it with 3 partitions unless it exists.
  sluice::AdminConfig admin_config;
  admin_config.bootstrap_servers = {args.bootstrap};
  auto admin = sluice::Admin::Create(admin_config);
  if (!admin.ok()) return Print("admin", admin.status()), 1;
  if (absl::Status s = (*admin)->CreateTopic(args.topic, 3);
      !s.ok() && s.code() != absl::StatusCode::kAlreadyExists) {
    return Print("create topic", s), 1;
  }

  // Produce: keyed records, each future checked.
  sluice::ProducerConfig producer_config;
  producer_config.bootstrap_servers = {args.bootstrap};
  producer_config.linger = 5ms;
  auto producer = sluice::Producer::Create(producer_config);
  if (!producer.ok()) return Print("producer", producer.status()), 1;
  std::vector<std::future<sluice::SendResult>> sent;
  for (int i = 0; i < args.count; ++i) {
    sluice::Record r;
    r.topic = args.topic;
    r.key = "key-" + std::to_string(i);
    r.value = "value-" + std::to_string(i);
    r.headers.push_back({"source", "produce_consume"});
    sent.push_back((*producer)->Send(std::move(r)));
  }
  for (auto& f : sent) {
    sluice::SendResult res = f.get();
    if (!res.ok()) return Print("send", res.status()), 1;
    std::printf("produced %s-%d@%lld\n", res->topic.c_str(), res->partition,
                static_cast<long long>(res->offset));
  }
  if (absl::Status s = (*producer)->Close(); !s.ok()) return Print("producer close", s), 1;

  // Consume: a fresh group reads from the start and commits what it read.
  sluice::ConsumerConfig consumer_config;
  consumer_config.bootstrap_servers = {args.bootstrap};
  consumer_config.group_id = "sluice-example-" + std::to_string(std::time(nullptr));
  consumer_config.auto_offset_reset = sluice::AutoOffsetReset::kEarliest;
  auto consumer = sluice::Consumer::Create(consumer_config);
  if (!consumer.ok()) return Print("consumer", consumer.status()), 1;
  if (absl::Status s = (*consumer)->Subscribe({args.topic}); !s.ok()) {
    return Print("subscribe", s), 1;
  }
  int consumed = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (consumed < args.count && std::chrono::steady_clock::now() < deadline) {
    auto records = (*consumer)->Poll(500ms);
    if (!records.ok()) return Print("poll", records.status()), 1;
    for (const sluice::ConsumerRecord& r : *records) {
      std::printf("consumed %s-%d@%lld %s=%s\n", r.topic.c_str(), r.partition,
                  static_cast<long long>(r.offset), r.key.value_or("(null)").c_str(),
                  r.value.value_or("(null)").c_str());
      ++consumed;
    }
  }
  if (absl::Status s = (*consumer)->Commit(); !s.ok()) Print("commit", s);
  (*consumer)->Close().IgnoreError();
  std::printf("%d of %d records consumed\n", consumed, args.count);
  return consumed >= args.count ? 0 : 1;
}
