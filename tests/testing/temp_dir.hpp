// A fresh directory under the system's temporary directory, removed with everything in it when
// the object is destroyed. Unique per process and object, so parallel ctest runs never share one.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace trainflow::test {

class TempDir {
 public:
  explicit TempDir(const std::string& label = "trainflow") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            (label + "." + std::to_string(::getpid()) + "." + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace trainflow::test
