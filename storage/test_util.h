#pragma once
// Helpers shared by the storage tests: temp dirs, batch construction, Status matchers and a file
// factory that injects write and sync failures.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/errors.h"
#include "storage/file.h"
#include "storage/record_batch.h"

namespace sluice::storage::testing {

// A fresh directory, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

MATCHER(IsOk, "is OK") {
  if constexpr (requires { arg.status(); }) {
    if (!arg.ok()) *result_listener << arg.status().ToString();
    return arg.ok();
  } else {
    if (!arg.ok()) *result_listener << arg.ToString();
    return arg.ok();
  }
}

MATCHER_P(HasErrc, errc, "has storage error " + std::string(StorageErrcName(errc))) {
  absl::Status s;
  if constexpr (requires { arg.status(); }) {
    s = arg.status();
  } else {
    s = arg;
  }
  *result_listener << s.ToString();
  return StorageErrcOf(s) == errc;
}

// One batch of `count` records "<tag>-<i>" with timestamps ts0 + i.
inline std::string MakeBatch(int count, const std::string& tag, int64_t ts0 = 1'700'000'000'000,
                             size_t value_size = 0) {
  RecordBatchBuilder b;
  for (int i = 0; i < count; ++i) {
    std::string v = tag + "-" + std::to_string(i);
    if (v.size() < value_size) v.resize(value_size, 'x');
    std::string k = "k" + std::to_string(i);
    b.Add(k, v, {}, ts0 + i);
  }
  return b.Build();
}

// One batch of an idempotent producer: `count` records with sequences base_sequence, ...
inline std::string MakeProducerBatch(int64_t producer_id, int16_t epoch, int32_t base_sequence,
                                     int count = 2, const std::string& tag = "p",
                                     int64_t ts0 = 1'700'000'000'000) {
  RecordBatchBuilder::Options o;
  o.producer_id = producer_id;
  o.producer_epoch = epoch;
  o.base_sequence = base_sequence;
  RecordBatchBuilder b(o);
  for (int i = 0; i < count; ++i) {
    b.Add("k" + std::to_string(i), tag + "-" + std::to_string(i), {}, ts0 + i);
  }
  return b.Build();
}

inline std::span<uint8_t> Mutable(std::string& s) {
  return std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size());
}

// Wraps POSIX files; fails writes with ENOSPC once `write_budget` bytes have been written (when
// >= 0), and fails syncs with EIO while `fail_sync` is set.
class FaultyFileFactory : public FileFactory {
 public:
  std::atomic<int64_t> write_budget{-1};
  std::atomic<bool> fail_sync{false};
  std::atomic<bool> fail_truncate{false};

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, bool create) override {
    auto f = FileFactory::Posix()->Open(path, create);
    if (!f.ok()) return f.status();
    return std::unique_ptr<File>(std::make_unique<FaultyFile>(this, *std::move(f)));
  }

 private:
  class FaultyFile : public File {
   public:
    FaultyFile(FaultyFileFactory* f, std::unique_ptr<File> base) : f_(f), base_(std::move(base)) {}
    absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
      int64_t budget = f_->write_budget.load();
      if (budget >= 0) {
        if (static_cast<int64_t>(data.size()) > budget) {
          // Write what fits, like a file system that runs out mid-write.
          auto part = data.first(static_cast<size_t>(budget));
          if (!part.empty()) base_->WriteAt(offset, part).IgnoreError();
          f_->write_budget = 0;
          return ErrnoError(ENOSPC, "injected write");
        }
        f_->write_budget = budget - static_cast<int64_t>(data.size());
      }
      return base_->WriteAt(offset, data);
    }
    absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> dst) const override {
      return base_->ReadAt(offset, dst);
    }
    absl::Status Sync() override {
      if (f_->fail_sync) return ErrnoError(EIO, "injected fdatasync");
      return base_->Sync();
    }
    absl::Status Truncate(uint64_t size) override {
      if (f_->fail_truncate) return ErrnoError(EIO, "injected truncate");
      return base_->Truncate(size);
    }
    absl::StatusOr<uint64_t> Size() const override { return base_->Size(); }
    int fd() const override { return base_->fd(); }

   private:
    FaultyFileFactory* f_;
    std::unique_ptr<File> base_;
  };
};

}  // namespace sluice::storage::testing
