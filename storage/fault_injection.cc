#include "storage/fault_injection.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "storage/errors.h"

namespace sluice::storage {
namespace {

class FaultInjectionFile : public File {
 public:
  FaultInjectionFile(FaultInjectionFileFactory* factory, std::string path,
                     std::unique_ptr<File> base)
      : factory_(factory), path_(std::move(path)), base_(std::move(base)) {}

  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
    if (factory_->ShouldFail("write", path_)) return ErrnoError(EIO, "write (injected fault)");
    return base_->WriteAt(offset, data);
  }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> dst) const override {
    return base_->ReadAt(offset, dst);
  }
  absl::Status Sync() override {
    if (factory_->ShouldFail("sync", path_)) return ErrnoError(EIO, "fdatasync (injected fault)");
    return base_->Sync();
  }
  absl::Status Truncate(uint64_t size) override { return base_->Truncate(size); }
  absl::StatusOr<uint64_t> Size() const override { return base_->Size(); }
  int fd() const override { return base_->fd(); }

 private:
  FaultInjectionFileFactory* factory_;
  const std::string path_;
  std::unique_ptr<File> base_;
};

}  // namespace

FaultInjectionFileFactory::FaultInjectionFileFactory(std::string control_path)
    : control_path_(std::move(control_path)) {}

absl::StatusOr<std::unique_ptr<File>> FaultInjectionFileFactory::Open(const std::string& path,
                                                                      bool create) {
  auto f = FileFactory::Posix()->Open(path, create);
  if (!f.ok()) return f.status();
  return std::unique_ptr<File>(std::make_unique<FaultInjectionFile>(this, path, *std::move(f)));
}

bool FaultInjectionFileFactory::ShouldFail(std::string_view op, const std::string& path) {
  std::lock_guard l(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_read_) {
    next_read_ = now + std::chrono::milliseconds(50);
    rules_.clear();
    std::ifstream in(control_path_);
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string rule_op, substring;
      if (words >> rule_op >> substring) rules_.emplace_back(rule_op, substring);
    }
  }
  for (const auto& [rule_op, substring] : rules_) {
    if (rule_op == op && path.find(substring) != std::string::npos) return true;
  }
  return false;
}

}  // namespace sluice::storage
