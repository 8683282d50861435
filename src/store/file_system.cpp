#include "trainflow/store/file_system.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <system_error>

namespace trainflow {
namespace {

// A Status for errno `err` from `what` on `path`: ENOSPC and EDQUOT are kResourceExhausted, EIO
// kDataLoss, ENOENT kNotFound, EEXIST kAlreadyExists.
Status errno_status(int err, std::string_view what, const std::filesystem::path& path) {
  std::string message = std::string(what) + " " + path.string() + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT: return {StatusCode::kResourceExhausted, std::move(message)};
    case EIO: return data_loss(std::move(message));
    case ENOENT: return not_found(std::move(message));
    case EEXIST: return already_exists(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS: return {StatusCode::kFailedPrecondition, std::move(message)};
    default: return {StatusCode::kUnavailable, std::move(message)};
  }
}

class LocalFileSystem final : public FileSystem {
 public:
  Result<FileHandle> create_exclusive(const std::filesystem::path& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status(errno, "create", path);
    return FileHandle{fd};
  }

  Status write(FileHandle file, std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::write(file.fd, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "write", fd_path(file));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return ok_status();
  }

  Status sync(FileHandle file) override {
    if (::fsync(file.fd) != 0) return errno_status(errno, "fsync", fd_path(file));
    return ok_status();
  }

  Status close(FileHandle file) override {
    // Linux releases the descriptor even when close fails; never retry.
    if (::close(file.fd) != 0 && errno != EINTR) {
      return errno_status(errno, "close", "descriptor " + std::to_string(file.fd));
    }
    return ok_status();
  }

  Status rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno_status(errno, "rename to", to);
    return ok_status();
  }

  Status sync_directory(const std::filesystem::path& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status(errno, "open directory", dir);
    const int result = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (result != 0) return errno_status(err, "fsync directory", dir);
    return ok_status();
  }

  Status remove(const std::filesystem::path& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_status(errno, "remove", path);
    return ok_status();
  }

  Result<std::string> read(const std::filesystem::path& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status(errno, "open", path);
    std::string out;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
    char buffer[1 << 16];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        return errno_status(err, "read", path);
      }
      if (n == 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
  }

  Result<std::uint64_t> file_size(const std::filesystem::path& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno_status(errno, "stat", path);
    if (!S_ISREG(st.st_mode)) return not_found(path.string() + " is not a regular file");
    return static_cast<std::uint64_t>(st.st_size);
  }

  Status create_directories(const std::filesystem::path& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return errno_status(ec.value(), "create directory", path);
    return ok_status();
  }

  Result<std::vector<std::string>> list(const std::filesystem::path& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return errno_status(errno, "list", dir);
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(d)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(d);
    return names;
  }

 private:
  static std::filesystem::path fd_path(FileHandle file) {
    std::error_code ec;
    std::filesystem::path p =
        std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(file.fd), ec);
    return ec ? std::filesystem::path("descriptor " + std::to_string(file.fd)) : p;
  }
};

// A name no other writer in any process picks: random bits and a per-process counter.
std::string temporary_suffix() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, ".tmp.%016llx.%llu", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(counter.fetch_add(1)));
  return buffer;
}

// Prefixes a step's error with its name, keeping the code.
Status step_failed(std::string_view step, const Status& error) {
  return {error.code(), std::string(step) + " failed: " + error.message()};
}

}  // namespace

FileSystem& local_file_system() {
  static LocalFileSystem fs;
  return fs;
}

Status write_file_atomically(FileSystem& fs, const std::filesystem::path& path,
                             std::string_view bytes) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::filesystem::path temp = path;
  temp += temporary_suffix();
  Result<FileHandle> file = fs.create_exclusive(temp);
  if (!file) return step_failed("create", file.error());

  Status status = fs.write(*file, bytes);
  if (!status.ok()) status = step_failed("write", status);
  if (status.ok()) {
    status = fs.sync(*file);  // never retried: see the header
    if (!status.ok()) status = step_failed("fsync", status);
  }
  const Status closed = fs.close(*file);
  if (status.ok() && !closed.ok()) status = step_failed("close", closed);
  if (status.ok()) {
    status = fs.rename(temp, path);
    if (!status.ok()) status = step_failed("rename", status);
  }
  if (!status.ok()) {
    (void)fs.remove(temp);  // best effort; the error that matters is the one above
    return status;
  }
  if (Status synced = fs.sync_directory(dir); !synced.ok()) {
    // The new file is in place but its directory entry may not survive a crash.
    return step_failed("fsync of the directory", synced);
  }
  return ok_status();
}

}  // namespace trainflow
