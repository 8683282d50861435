// Dataset::save / load (the native binary format) and Dataset::write_csv.
//
// Binary format, version 1. Integers are little-endian; every length is a u64.
//
//   magic       8 bytes  89 'T' 'F' 'D' 0D 0A 1A 0A  (catches text-mode and 7-bit transfers)
//   version     u32      1
//   columns     u64
//   per column: name     u64 length, bytes (UTF-8, not terminated)
//               type     u8   0 float64, 1 float32, 2 categorical
//               rows     u64
//               values   rows x (8-byte double | 4-byte float | 4-byte int32 code), raw IEEE bits
//               categories u64 count, then each: u64 length, bytes (count 0 for numeric columns)
//   target      u64 length, bytes (length 0: no target)
//   checksum    u64      XXH3-64 (seed 0) of every byte before it
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "trainflow/ml/dataset.hpp"

namespace trainflow::ml {
namespace {

// Values are written and read as their in-memory bytes, which are the format's little-endian
// bytes only on a little-endian machine. A big-endian port must byte-swap in put/read below.
static_assert(std::endian::native == std::endian::little,
              "the dataset format stores little-endian values as raw bytes");
static_assert(std::numeric_limits<double>::is_iec559 && std::numeric_limits<float>::is_iec559,
              "the dataset format stores IEEE 754 floats");

constexpr std::array<unsigned char, 8> kMagic = {0x89, 'T', 'F', 'D', 0x0D, 0x0A, 0x1A, 0x0A};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kBufferSize = std::size_t{1} << 16;

std::string quoted_path(const std::filesystem::path& path) {
  return "'" + path.string() + "'";
}

// The status for a failed system call on `path`, by errno.
Status os_error(int error, std::string_view what, const std::filesystem::path& path) {
  StatusCode code = StatusCode::kUnavailable;
  switch (error) {
    case ENOENT:
    case ENOTDIR: code = StatusCode::kNotFound; break;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM: code = StatusCode::kResourceExhausted; break;
    case EACCES:
    case EPERM:
    case EROFS:
    case EISDIR: code = StatusCode::kFailedPrecondition; break;
    default: break;
  }
  return Status{code, std::string{what} + " " + quoted_path(path) + ": " + std::strerror(error)};
}

// ---------------------------------------------------------------------------------------------
// Writing: a buffered file descriptor, optionally hashing what passes through.

class FileSink {
 public:
  FileSink(int fd, const std::filesystem::path& path, bool hash)
      : fd_(fd), path_(path), state_(hash ? XXH3_createState() : nullptr) {
    if (state_) XXH3_64bits_reset(state_.get());
    buffer_.reserve(kBufferSize);
  }
  // A sink that appends to `*memory` instead of a file.
  FileSink(std::string* memory, const std::filesystem::path& name, bool hash)
      : FileSink(-1, name, hash) {
    memory_ = memory;
  }

  void write(const void* data, std::size_t size) {
    if (!status_.ok()) return;
    if (state_) XXH3_64bits_update(state_.get(), data, size);
    const char* p = static_cast<const char*>(data);
    if (buffer_.size() + size > kBufferSize) {
      drain();
      if (size >= kBufferSize) {
        write_fd(p, size);
        return;
      }
    }
    buffer_.append(p, size);
  }
  void write(std::string_view text) { write(text.data(), text.size()); }
  template <class T>
  void put(T value) {
    write(&value, sizeof value);
  }
  void put_string(std::string_view s) {
    put<std::uint64_t>(s.size());
    write(s.data(), s.size());
  }

  // XXH3-64 of everything written so far. REQUIRES: constructed with hash = true.
  std::uint64_t digest() const { return XXH3_64bits_digest(state_.get()); }

  // Writes out the buffer; the first error of any write.
  Status flush() {
    drain();
    return status_;
  }

 private:
  struct FreeState {
    void operator()(XXH3_state_t* s) const noexcept { XXH3_freeState(s); }
  };

  void drain() {
    if (status_.ok() && !buffer_.empty()) write_fd(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  void write_fd(const char* p, std::size_t size) {
    if (memory_ != nullptr) {
      memory_->append(p, size);
      return;
    }
    while (size > 0 && status_.ok()) {
      ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        status_ = os_error(errno, "cannot write", path_);
        return;
      }
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  int fd_;
  const std::filesystem::path& path_;
  std::unique_ptr<XXH3_state_t, FreeState> state_;
  std::string buffer_;
  Status status_;
  std::string* memory_ = nullptr;
};

// Creates `<path>.tmp.<pid>.<counter>` exclusively, lets `body` fill it, fsyncs it, renames it
// over `path` and fsyncs the directory. On any failure the temporary is removed and `path` is
// left as it was.
Status write_atomically(const std::filesystem::path& path, bool hash,
                        const std::function<void(FileSink&)>& body) {
  static std::atomic<std::uint64_t> counter{0};
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return os_error(errno, "cannot create a temporary file for", path);

  Status status;
  {
    FileSink sink(fd, tmp, hash);
    try {
      body(sink);
    } catch (...) {  // e.g. std::bad_alloc: leave no temporary behind
      ::close(fd);
      ::unlink(tmp.c_str());
      throw;
    }
    status = sink.flush();
  }
  if (status.ok() && ::fsync(fd) != 0) status = os_error(errno, "cannot fsync", tmp);
  if (::close(fd) != 0 && status.ok()) status = os_error(errno, "cannot close", tmp);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = os_error(errno, "cannot rename " + quoted_path(tmp) + " to", path);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return os_error(errno, "cannot open the directory of", path);
  if (::fsync(dir_fd) != 0) status = os_error(errno, "cannot fsync the directory of", path);
  ::close(dir_fd);
  return status;
}

template <class T>
void put_values(FileSink& sink, std::span<const T> values, const Dataset& ds) {
  if (!ds.is_view()) {
    sink.write(values.data(), values.size_bytes());
    return;
  }
  for (std::size_t r = 0; r < ds.num_rows(); ++r) sink.put<T>(values[ds.source_row(r)]);
}

// `text` in quotes for an error message, cut to 64 bytes: names in a hostile file may be huge.
std::string excerpt(std::string_view text) {
  constexpr std::size_t kMax = 64;
  if (text.size() <= kMax) return "'" + std::string{text} + "'";
  return "'" + std::string{text.substr(0, kMax)} + "'... (" + std::to_string(text.size()) +
         " bytes)";
}

// ---------------------------------------------------------------------------------------------
// Reading: a buffered file descriptor that knows how many bytes remain, so that no declared
// length is believed before the file is known to hold that many bytes.

class FileSource {
 public:
  FileSource(int fd, std::uint64_t size, const std::filesystem::path& path)
      : fd_(fd), size_(size), path_(path), state_(XXH3_createState()) {
    XXH3_64bits_reset(state_.get());
  }
  // A source that reads `memory` instead of a file.
  FileSource(std::string_view memory, const std::filesystem::path& name)
      : FileSource(-1, memory.size(), name) {
    memory_ = memory;
  }

  std::uint64_t offset() const noexcept { return offset_; }
  // Bytes left before the checksum.
  std::uint64_t remaining() const noexcept {
    return size_ >= 8 && offset_ <= size_ - 8 ? size_ - 8 - offset_ : 0;
  }

  // Fails unless `size` bytes remain before the checksum.
  Status need(std::uint64_t size, std::string_view what) const {
    if (size <= remaining()) return {};
    return error_at(offset_, "truncated file: " + std::string{what} + " needs " +
                                 std::to_string(size) + " bytes but only " +
                                 std::to_string(remaining()) + " remain");
  }

  // Reads exactly `size` bytes, which the caller has checked with need(); hashed unless
  // `hashed` is false (the checksum itself).
  Status read(void* out, std::size_t size, bool hashed = true) {
    char* p = static_cast<char*>(out);
    std::size_t left = size;
    if (fd_ < 0) {  // memory: need() has checked the bounds
      if (size > 0) std::memcpy(p, memory_.data() + offset_, size);  // p may be null when 0
      offset_ += size;
      left = 0;
    }
    while (left > 0) {
      if (pos_ == end_) {
        ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
        if (n < 0) {
          if (errno == EINTR) continue;
          return os_error(errno, "cannot read", path_);
        }
        if (n == 0) return error_at(offset_, "the file shrank while it was read");
        pos_ = 0;
        end_ = static_cast<std::size_t>(n);
      }
      const std::size_t n = std::min(left, end_ - pos_);
      std::memcpy(p, buffer_.data() + pos_, n);
      pos_ += n;
      p += n;
      left -= n;
      offset_ += n;
    }
    if (hashed) XXH3_64bits_update(state_.get(), out, size);
    return {};
  }

  template <class T>
  Status get(T& value, std::string_view what) {
    if (Status s = need(sizeof(T), what); !s.ok()) return s;
    return read(&value, sizeof(T));
  }

  Status get_string(std::string& out, std::string_view what) {
    std::uint64_t length = 0;
    if (Status s = get(length, std::string{what} + " length"); !s.ok()) return s;
    if (Status s = need(length, what); !s.ok()) return s;
    out.resize(static_cast<std::size_t>(length));
    return read(out.data(), out.size());
  }

  std::uint64_t digest() const { return XXH3_64bits_digest(state_.get()); }

  Status error_at(std::uint64_t offset, const std::string& message) const {
    return invalid_argument(quoted_path(path_) + " at byte " + std::to_string(offset) + ": " +
                            message);
  }

 private:
  struct FreeState {
    void operator()(XXH3_state_t* s) const noexcept { XXH3_freeState(s); }
  };

  int fd_;
  std::uint64_t size_;
  const std::filesystem::path& path_;
  std::unique_ptr<XXH3_state_t, FreeState> state_;
  std::array<char, kBufferSize> buffer_{};
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::uint64_t offset_ = 0;
  std::string_view memory_{};
};

template <class T>
Status get_values(FileSource& in, std::uint64_t rows, std::vector<T>& out, std::string_view what) {
  if (rows > in.remaining() / sizeof(T)) {
    return in.error_at(in.offset(), "truncated file: " + std::string{what} + " declares " +
                                        std::to_string(rows) + " rows of " +
                                        std::to_string(sizeof(T)) + " bytes but only " +
                                        std::to_string(in.remaining()) + " bytes remain");
  }
  out.resize(static_cast<std::size_t>(rows));
  return in.read(out.data(), out.size() * sizeof(T));
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Result<Dataset> read_dataset(FileSource& in) {
  std::array<unsigned char, 8> magic{};
  if (Status s = in.need(magic.size(), "the magic bytes"); !s.ok()) {
    return in.error_at(0, "not a trainflow dataset (too short for the magic bytes)");
  }
  if (Status s = in.read(magic.data(), magic.size()); !s.ok()) return s;
  if (magic != kMagic) {
    return in.error_at(0, "not a trainflow dataset (wrong magic bytes)");
  }
  std::uint32_t version = 0;
  if (Status s = in.get(version, "the format version"); !s.ok()) return s;
  if (version != kVersion) {
    return in.error_at(8, "unsupported dataset format version " + std::to_string(version) +
                              " (this build reads version " + std::to_string(kVersion) +
                              "): write the file with a matching trainflow");
  }
  std::uint64_t num_columns = 0;
  const std::uint64_t columns_at = in.offset();
  if (Status s = in.get(num_columns, "the column count"); !s.ok()) return s;
  // Each column takes at least 25 bytes (name length, type, rows, category count).
  constexpr std::uint64_t kMinColumnBytes = 8 + 1 + 8 + 8;
  if (num_columns > in.remaining() / kMinColumnBytes) {
    return in.error_at(columns_at, "truncated file: " + std::to_string(num_columns) +
                                       " columns declared but only " +
                                       std::to_string(in.remaining()) + " bytes remain");
  }
  std::vector<Column> columns;
  columns.reserve(static_cast<std::size_t>(num_columns));
  for (std::uint64_t c = 0; c < num_columns; ++c) {
    const std::string label = "column " + std::to_string(c);
    std::string name;
    if (Status s = in.get_string(name, label + " name"); !s.ok()) return s;
    const std::string named = label + " (" + excerpt(name) + ")";
    std::uint8_t type = 0;
    const std::uint64_t type_at = in.offset();
    if (Status s = in.get(type, named + " type"); !s.ok()) return s;
    std::uint64_t rows = 0;
    if (Status s = in.get(rows, named + " row count"); !s.ok()) return s;
    const std::uint64_t values_at = in.offset();
    std::vector<double> f64;
    std::vector<float> f32;
    std::vector<std::int32_t> codes;
    switch (type) {
      case 0:
        if (Status s = get_values(in, rows, f64, named + " values"); !s.ok()) return s;
        break;
      case 1:
        if (Status s = get_values(in, rows, f32, named + " values"); !s.ok()) return s;
        break;
      case 2:
        if (Status s = get_values(in, rows, codes, named + " codes"); !s.ok()) return s;
        break;
      default: return in.error_at(type_at, named + " has unknown type " + std::to_string(type));
    }
    std::uint64_t num_categories = 0;
    const std::uint64_t categories_at = in.offset();
    if (Status s = in.get(num_categories, named + " category count"); !s.ok()) return s;
    if (num_categories > in.remaining() / 8) {
      return in.error_at(categories_at, "truncated file: " + named + " declares " +
                                            std::to_string(num_categories) +
                                            " categories but only " +
                                            std::to_string(in.remaining()) + " bytes remain");
    }
    if (type != 2 && num_categories != 0) {
      return in.error_at(categories_at, named + " is numeric but has categories");
    }
    std::vector<std::string> categories;
    categories.reserve(static_cast<std::size_t>(num_categories));
    std::unordered_set<std::string> seen;
    for (std::uint64_t k = 0; k < num_categories; ++k) {
      const std::uint64_t at = in.offset();
      std::string category;
      if (Status s = in.get_string(category, named + " category " + std::to_string(k)); !s.ok()) {
        return s;
      }
      if (!seen.insert(category).second) {
        return in.error_at(at, named + " repeats category " + excerpt(category));
      }
      categories.push_back(std::move(category));
    }
    switch (type) {
      case 0: columns.push_back(Column::float64(std::move(name), std::move(f64))); break;
      case 1: columns.push_back(Column::float32(std::move(name), std::move(f32))); break;
      default:
        for (std::size_t r = 0; r < codes.size(); ++r) {
          if (codes[r] < -1 || codes[r] >= static_cast<std::int64_t>(categories.size())) {
            return in.error_at(values_at + 4 * r,
                               named + " row " + std::to_string(r) + " has code " +
                                   std::to_string(codes[r]) + " but only " +
                                   std::to_string(categories.size()) + " categories");
          }
        }
        columns.push_back(
            Column::categorical(std::move(name), std::move(codes), std::move(categories)));
        break;
    }
  }
  std::string target;
  if (Status s = in.get_string(target, "the target name"); !s.ok()) return s;
  if (in.remaining() != 0) {
    return in.error_at(in.offset(),
                       std::to_string(in.remaining()) + " unexpected bytes after the target name");
  }
  const std::uint64_t checksum_at = in.offset();
  const std::uint64_t expected = in.digest();
  std::uint64_t checksum = 0;
  // need() counts only the bytes before the checksum, so read it directly.
  if (Status s = in.read(&checksum, sizeof checksum, /*hashed=*/false); !s.ok()) return s;
  if (checksum != expected) {
    return in.error_at(checksum_at, "checksum mismatch: the file is corrupt");
  }
  auto made = Dataset::make(std::move(columns), std::move(target));
  if (!made) return in.error_at(0, made.error().message());
  return made;
}

// RFC 4180: a field holding the delimiter, a quote, CR or LF is quoted, quotes doubled.
void put_csv_field(FileSink& sink, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    sink.write(field);
    return;
  }
  std::string out;
  out.reserve(field.size() + 2);
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  sink.write(out);
}

template <class T>
void put_csv_number(FileSink& sink, T value) {
  if (std::isnan(value)) return;  // missing
  std::array<char, 64> text{};
  auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), value);
  // 64 characters hold the shortest form of any float or double.
  (void)ec;
  sink.write(text.data(), static_cast<std::size_t>(end - text.data()));
}

// The native format (see Dataset::save) of `ds` into `out`.
void write_dataset(FileSink& out, const Dataset& ds) {
  out.write(kMagic.data(), kMagic.size());
  out.put<std::uint32_t>(kVersion);
  out.put<std::uint64_t>(ds.num_columns());
  for (std::size_t i = 0; i < ds.num_columns(); ++i) {
    const Column& c = ds.column(i);
    out.put_string(c.name());
    switch (c.type()) {
      case ColumnType::kFloat64: out.put<std::uint8_t>(0); break;
      case ColumnType::kFloat32: out.put<std::uint8_t>(1); break;
      case ColumnType::kCategorical: out.put<std::uint8_t>(2); break;
    }
    out.put<std::uint64_t>(ds.num_rows());
    switch (c.type()) {
      case ColumnType::kFloat64: put_values(out, c.float64(), ds); break;
      case ColumnType::kFloat32: put_values(out, c.float32(), ds); break;
      case ColumnType::kCategorical: put_values(out, c.codes(), ds); break;
    }
    out.put<std::uint64_t>(c.categories().size());
    for (const std::string& category : c.categories()) out.put_string(category);
  }
  out.put_string(ds.target_name());
  out.put<std::uint64_t>(out.digest());
}

}  // namespace

Status Dataset::save(const std::filesystem::path& path) const {
  return write_atomically(path, /*hash=*/true,
                          [this](FileSink& out) { write_dataset(out, *this); });
}

std::string Dataset::to_bytes() const {
  static const std::filesystem::path kName = "dataset bytes";
  std::string bytes;
  FileSink sink(&bytes, kName, /*hash=*/true);
  write_dataset(sink, *this);
  (void)sink.flush();  // appending to memory cannot fail
  return bytes;
}

Result<Dataset> Dataset::from_bytes(std::string_view bytes) {
  static const std::filesystem::path kName = "dataset bytes";
  FileSource in(bytes, kName);
  return read_dataset(in);
}

Result<Dataset> Dataset::load(const std::filesystem::path& path) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) return os_error(errno, "cannot open", path);
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return os_error(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    return invalid_argument(quoted_path(path) + " is not a regular file");
  }
  auto in = std::make_unique<FileSource>(fd.fd, static_cast<std::uint64_t>(st.st_size), path);
  return read_dataset(*in);
}

Status Dataset::write_csv(const std::filesystem::path& path) const {
  return write_atomically(path, /*hash=*/false, [this](FileSink& out) {
    if (num_columns() == 0) return;
    for (std::size_t i = 0; i < num_columns(); ++i) {
      if (i > 0) out.write(",");
      put_csv_field(out, column(i).name());
    }
    out.write("\n");
    // In a one-column file a missing value would be an empty line, which readers skip (trainflow's
    // and pandas' alike): write it as "" there, which reads back as missing.
    const bool single_column = num_columns() == 1;
    for (std::size_t r = 0; r < num_rows(); ++r) {
      const std::size_t row = source_row(r);
      if (single_column && missing(0, r)) {
        out.write("\"\"\n");
        continue;
      }
      for (std::size_t i = 0; i < num_columns(); ++i) {
        if (i > 0) out.write(",");
        const Column& c = column(i);
        switch (c.type()) {
          case ColumnType::kFloat64: put_csv_number(out, c.float64()[row]); break;
          case ColumnType::kFloat32: put_csv_number(out, c.float32()[row]); break;
          case ColumnType::kCategorical: {
            const std::int32_t code = c.codes()[row];
            if (code < 0) break;  // missing
            const std::string& category = c.categories()[static_cast<std::size_t>(code)];
            // An empty category is written as "" so that it differs from a missing value.
            if (category.empty()) {
              out.write("\"\"");
            } else {
              put_csv_field(out, category);
            }
            break;
          }
        }
      }
      out.write("\n");
    }
  });
}

}  // namespace trainflow::ml
