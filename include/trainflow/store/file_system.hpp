// FileSystem: the few file operations the work directory needs, behind an interface so that tests
// can inject failures (ENOSPC, EIO on write, fsync or rename) into exactly one of them; and
// write_file_atomically(), the only way trainflow writes a file it must not lose.
//
// write_file_atomically() gives all-or-nothing replacement that survives a crash or power loss:
// a temporary file is created with O_EXCL in the target's directory, written, fsync'd and closed,
// renamed over the target, and the directory is fsync'd. A reader sees the old file or the new
// one, never a mix; after it returns ok the new file is durable. An fsync error is never retried
// (after a failed fsync the kernel may have dropped the dirty pages, and a second fsync would
// report success for data that is gone): the write fails and the temporary file is removed.
//
//   Status s = write_file_atomically(local_file_system(), dir / "object", bytes);
//
// local_file_system() is thread-safe and reentrant; implementations of FileSystem used by several
// threads must be too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"

namespace trainflow {

// An open file of a FileSystem; a plain descriptor for local_file_system().
struct FileHandle {
  int fd = -1;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path` for writing; kAlreadyExists when it exists (O_CREAT | O_EXCL). The caller
  // closes the handle.
  virtual Result<FileHandle> create_exclusive(const std::filesystem::path& path) = 0;
  // Writes all of `bytes` (retrying short writes and EINTR); kResourceExhausted for ENOSPC and
  // EDQUOT, kDataLoss for EIO, another code otherwise. The message names the error.
  virtual Status write(FileHandle file, std::string_view bytes) = 0;
  // fsync. Same codes as write.
  virtual Status sync(FileHandle file) = 0;
  // Closes the handle, whatever the result.
  virtual Status close(FileHandle file) = 0;
  // rename(2): atomically replaces `to`. Both in the same directory for atomic replacement.
  virtual Status rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // fsync of a directory, making renames and creations in it durable.
  virtual Status sync_directory(const std::filesystem::path& dir) = 0;
  // unlink(2); ok when it did not exist.
  virtual Status remove(const std::filesystem::path& path) = 0;
  // The whole file; kNotFound when it does not exist.
  virtual Result<std::string> read(const std::filesystem::path& path) = 0;
  // The size of a regular file in bytes (stat); kNotFound when it does not exist.
  virtual Result<std::uint64_t> file_size(const std::filesystem::path& path) = 0;
  // mkdir -p; ok when it exists.
  virtual Status create_directories(const std::filesystem::path& path) = 0;
  // The names of the entries of `dir` (not "." or ".."), in no particular order; kNotFound when it
  // does not exist.
  virtual Result<std::vector<std::string>> list(const std::filesystem::path& dir) = 0;
};

// The machine's file system (POSIX calls). Lives forever.
FileSystem& local_file_system();

// Replaces `path` with `bytes` atomically and durably (see the file comment). On failure the
// target is unchanged, no temporary file is left behind (as far as removing it succeeds), and the
// error says which step failed: "write", "fsync", "rename", ... with the path. REQUIRES: the
// target's directory exists.
Status write_file_atomically(FileSystem& fs, const std::filesystem::path& path,
                             std::string_view bytes);

}  // namespace trainflow
