// Replays every committed fuzz input (tests/fuzz/corpus/<target>/ and
// tests/fuzz/regressions/<target>/) through the fuzz targets' entry points, built without
// libFuzzer, so every crash ever found stays a regression test in every build. An invariant the
// entry point checks aborts the test binary (SLUICE_FUZZ_CHECK); sanitizer builds also catch
// memory errors and undefined behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_target.h"

extern "C" int SluiceFuzz_kafka_request(const uint8_t* data, size_t size);
extern "C" int SluiceFuzz_native_frame(const uint8_t* data, size_t size);
extern "C" int SluiceFuzz_record_batch(const uint8_t* data, size_t size);
extern "C" int SluiceFuzz_recovery(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
using EntryPoint = int (*)(const uint8_t*, size_t);

// The inputs of `target`: corpus and regressions, sorted so failures are reproducible.
std::vector<fs::path> Inputs(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "regressions"}) {
    fs::path dir = fs::path(SLUICE_FUZZ_DIR) / kind / target;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().filename().string().front() != '.') {
        files.push_back(e.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void Replay(const std::string& target, EntryPoint fn, size_t min_inputs) {
  const std::vector<fs::path> files = Inputs(target);
  EXPECT_GE(files.size(), min_inputs) << "seed corpus of " << target << " missing";
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    std::ifstream in(f, std::ios::binary);
    ASSERT_TRUE(in.good()) << "cannot read " << f;
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Print the file first: an invariant violation aborts the process.
    fprintf(stderr, "[ replay   ] %s (%zu bytes)\n", f.c_str(), bytes.size());
    EXPECT_EQ(fn(bytes.data(), bytes.size()), 0);
  }
  fprintf(stderr, "[ replayed ] %zu %s inputs\n", files.size(), target.c_str());
}

TEST(FuzzRegressionTest, KafkaRequest) { Replay("kafka_request", &SluiceFuzz_kafka_request, 20); }
TEST(FuzzRegressionTest, NativeFrame) { Replay("native_frame", &SluiceFuzz_native_frame, 5); }
TEST(FuzzRegressionTest, RecordBatch) { Replay("record_batch", &SluiceFuzz_record_batch, 5); }
TEST(FuzzRegressionTest, Recovery) { Replay("recovery", &SluiceFuzz_recovery, 3); }

// The entry points check their invariants: an empty input and a few bytes are handled.
TEST(FuzzRegressionTest, TrivialInputs) {
  const uint8_t zeros[64] = {};
  for (EntryPoint fn : {&SluiceFuzz_kafka_request, &SluiceFuzz_native_frame,
                        &SluiceFuzz_record_batch, &SluiceFuzz_recovery}) {
    for (size_t n : {0, 1, 12, 64}) EXPECT_EQ(fn(zeros, n), 0);
  }
}

// A violated invariant fails the run (it aborts; death tests need no libFuzzer).
TEST(FuzzRegressionDeathTest, ViolatedInvariantAborts) {
  EXPECT_DEATH(SLUICE_FUZZ_CHECK(1 + 1 == 3, "arithmetic"), "fuzz invariant violated");
}

}  // namespace
