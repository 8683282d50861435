// A FileSystem that forwards to the machine's, except for one chosen operation, which fails with
// a chosen errno-like Status; and a log of every operation. Thread-safe.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "trainflow/store/file_system.hpp"

namespace trainflow::test {

enum class FsOp { kCreate, kWrite, kSync, kClose, kRename, kSyncDirectory, kRemove, kRead };

class FaultyFileSystem final : public FileSystem {
 public:
  // Fails the `nth` (from 0) call of `op` from now on with `error` (and only that call).
  void fail(FsOp op, Status error, int nth = 0) {
    std::lock_guard lock(mutex_);
    fault_ = Fault{op, std::move(error), nth};
  }
  // How many times `op` was called.
  int calls(FsOp op) const {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (FsOp o : log_) n += o == op ? 1 : 0;
    return n;
  }

  Result<FileHandle> create_exclusive(const std::filesystem::path& path) override {
    if (auto e = inject(FsOp::kCreate)) return *e;
    return real().create_exclusive(path);
  }
  Status write(FileHandle file, std::string_view bytes) override {
    if (auto e = inject(FsOp::kWrite)) {
      // A failing write may still have written part of the data, as ENOSPC mid-file does.
      (void)real().write(file, bytes.substr(0, bytes.size() / 2));
      return *e;
    }
    return real().write(file, bytes);
  }
  Status sync(FileHandle file) override {
    if (auto e = inject(FsOp::kSync)) return *e;
    return real().sync(file);
  }
  Status close(FileHandle file) override {
    const std::optional<Status> e = inject(FsOp::kClose);
    const Status closed = real().close(file);  // the descriptor is released either way
    return e ? *e : closed;
  }
  Status rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (auto e = inject(FsOp::kRename)) return *e;
    return real().rename(from, to);
  }
  Status sync_directory(const std::filesystem::path& dir) override {
    if (auto e = inject(FsOp::kSyncDirectory)) return *e;
    return real().sync_directory(dir);
  }
  Status remove(const std::filesystem::path& path) override {
    if (auto e = inject(FsOp::kRemove)) return *e;
    return real().remove(path);
  }
  Result<std::string> read(const std::filesystem::path& path) override {
    if (auto e = inject(FsOp::kRead)) return *e;
    return real().read(path);
  }
  Status create_directories(const std::filesystem::path& path) override {
    return real().create_directories(path);
  }
  Result<std::uint64_t> file_size(const std::filesystem::path& path) override {
    return real().file_size(path);
  }
  Result<std::vector<std::string>> list(const std::filesystem::path& dir) override {
    return real().list(dir);
  }

 private:
  struct Fault {
    FsOp op;
    Status error;
    int nth;
  };
  static FileSystem& real() { return local_file_system(); }
  std::optional<Status> inject(FsOp op) {
    std::lock_guard lock(mutex_);
    log_.push_back(op);
    if (!fault_ || fault_->op != op) return std::nullopt;
    if (fault_->nth-- > 0) return std::nullopt;
    Status error = fault_->error;
    fault_.reset();
    return error;
  }

  mutable std::mutex mutex_;
  std::optional<Fault> fault_;
  std::vector<FsOp> log_;
};

}  // namespace trainflow::test
