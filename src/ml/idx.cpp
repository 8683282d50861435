#include "trainflow/ml/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace trainflow::ml {
namespace {

namespace fs = std::filesystem;

// Decompressed bytes are read in pieces of this size, so buffers stay small whatever the header
// declares. A multiple of every element size, so no element straddles two pieces.
constexpr std::size_t kChunk = std::size_t{1} << 20;
// Compressed (or plain) bytes are read from the file in pieces of this size.
constexpr std::size_t kInput = std::size_t{64} << 10;

std::string quoted(const fs::path& path) {
  return "'" + path.string() + "'";
}

Status os_error(const fs::path& path, int error, std::string_view doing) {
  std::string message =
      "read_idx: cannot " + std::string(doing) + " " + quoted(path) + ": " + std::strerror(error);
  if (error == ENOENT || error == ENOTDIR) return not_found(std::move(message));
  if (error == EACCES || error == EPERM || error == EISDIR) {
    return failed_precondition(std::move(message));
  }
  return {StatusCode::kUnavailable, std::move(message)};
}

// The decompressed bytes of a plain or gzip file, in order. Not movable: zlib's stream state
// points back at its z_stream.
class IdxStream {
 public:
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;
  ~IdxStream() {
    if (zlib_ready_) inflateEnd(&zlib_);
    if (file_ != nullptr) std::fclose(file_);
  }

  static Result<std::unique_ptr<IdxStream>> open(const fs::path& path) {
    std::unique_ptr<IdxStream> stream(new IdxStream(path));
    stream->file_ = std::fopen(path.c_str(), "rb");
    if (stream->file_ == nullptr) return os_error(path, errno, "open");
    if (Status status = stream->fill(); !status.ok()) return status;
    const auto* in = reinterpret_cast<const unsigned char*>(stream->input_.data());
    if (stream->input_size_ >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
      // 16 + MAX_WBITS: a gzip wrapper, any window size.
      if (inflateInit2(&stream->zlib_, 16 + MAX_WBITS) != Z_OK) {
        return Status(StatusCode::kResourceExhausted,
                      "read_idx: cannot start decompressing " + quoted(path) + " (zlib)");
      }
      stream->zlib_ready_ = true;
    }
    return stream;
  }

  const fs::path& path() const noexcept { return path_; }
  bool gzip() const noexcept { return zlib_ready_; }
  // Decompressed bytes delivered so far: the offset of the next byte.
  std::uint64_t offset() const noexcept { return offset_; }

  // Reads up to n bytes into dst, fewer only at the end of the data; *got is how many.
  Status read(char* dst, std::size_t n, std::size_t* got) {
    *got = 0;
    Status status = zlib_ready_ ? inflate_into(dst, n, got) : copy_into(dst, n, got);
    offset_ += *got;
    return status;
  }

  // An error at decompressed byte `offset`: "read_idx: '<file>': byte 16: <what>".
  Status bad(std::uint64_t offset, const std::string& what) const {
    return invalid_argument("read_idx: " + quoted(path_) + ": byte " + std::to_string(offset) +
                            (zlib_ready_ ? " of the decompressed data" : "") + ": " + what);
  }

 private:
  explicit IdxStream(fs::path path) : path_(std::move(path)), input_(kInput) {}

  // Replaces the input buffer with the next piece of the file; input_size_ is 0 at its end.
  Status fill() {
    consumed_before_ += input_size_;
    input_pos_ = 0;
    input_size_ = std::fread(input_.data(), 1, input_.size(), file_);
    if (input_size_ == 0 && std::ferror(file_) != 0) return os_error(path_, errno, "read");
    return ok_status();
  }

  Status copy_into(char* dst, std::size_t n, std::size_t* got) {
    while (*got < n) {
      if (input_pos_ == input_size_) {
        if (Status status = fill(); !status.ok()) return status;
        if (input_size_ == 0) break;
      }
      const std::size_t take = std::min(n - *got, input_size_ - input_pos_);
      std::memcpy(dst + *got, input_.data() + input_pos_, take);
      input_pos_ += take;
      *got += take;
    }
    return ok_status();
  }

  Status inflate_into(char* dst, std::size_t n, std::size_t* got) {
    while (*got < n) {
      if (input_pos_ == input_size_) {
        if (Status status = fill(); !status.ok()) return status;
        if (input_size_ == 0) {
          if (member_ended_) break;  // the data ends with a complete gzip member
          return invalid_argument("read_idx: " + quoted(path_) +
                                  ": truncated gzip data: the file ends at compressed byte " +
                                  std::to_string(consumed_before_) +
                                  " inside a compressed stream; download it again");
        }
      }
      if (member_ended_) {
        // More bytes after a complete member: another member (gzip -d reads them all), or
        // garbage, which inflate rejects by its header check.
        if (inflateReset(&zlib_) != Z_OK) return zlib_failure(Z_STREAM_ERROR);
        member_ended_ = false;
      }
      const std::size_t in_before = input_size_ - input_pos_;
      const std::size_t out_before = std::min<std::size_t>(n - *got, UINT_MAX);
      zlib_.next_in = reinterpret_cast<Bytef*>(input_.data() + input_pos_);
      zlib_.avail_in = static_cast<uInt>(in_before);
      zlib_.next_out = reinterpret_cast<Bytef*>(dst + *got);
      zlib_.avail_out = static_cast<uInt>(out_before);
      const int rc = inflate(&zlib_, Z_NO_FLUSH);
      const std::size_t consumed = in_before - zlib_.avail_in;
      const std::size_t produced = out_before - zlib_.avail_out;
      input_pos_ += consumed;
      *got += produced;
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
      } else if (rc != Z_OK || (consumed == 0 && produced == 0)) {
        return zlib_failure(rc);
      }
    }
    return ok_status();
  }

  Status zlib_failure(int rc) const {
    const char* detail = zlib_.msg != nullptr ? zlib_.msg : zError(rc);
    return invalid_argument("read_idx: " + quoted(path_) +
                            ": corrupt gzip data near compressed byte " +
                            std::to_string(consumed_before_ + input_pos_) + " (" + detail +
                            "); the file is damaged, download it again");
  }

  fs::path path_;
  std::FILE* file_ = nullptr;
  std::vector<char> input_;
  std::size_t input_pos_ = 0;
  std::size_t input_size_ = 0;
  std::uint64_t consumed_before_ = 0;  // file bytes before input_
  std::uint64_t offset_ = 0;
  z_stream zlib_{};
  bool zlib_ready_ = false;
  bool member_ended_ = false;
};

struct ElementType {
  std::uint8_t code;
  std::size_t size;
  std::string_view name;
};

constexpr std::array<ElementType, 6> kTypes{{{0x08, 1, "unsigned byte"},
                                             {0x09, 1, "signed byte"},
                                             {0x0B, 2, "int16"},
                                             {0x0C, 4, "int32"},
                                             {0x0D, 4, "float32"},
                                             {0x0E, 8, "float64"}}};

std::uint64_t big_endian(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// The element at p as a double (exact for every IDX type but float64 values, which are kept).
double element(const unsigned char* p, std::uint8_t code) {
  switch (code) {
    case 0x08: return p[0];
    case 0x09: return static_cast<std::int8_t>(p[0]);
    case 0x0B: return static_cast<std::int16_t>(static_cast<std::uint16_t>(big_endian(p, 2)));
    case 0x0C: return static_cast<std::int32_t>(static_cast<std::uint32_t>(big_endian(p, 4)));
    case 0x0D: return std::bit_cast<float>(static_cast<std::uint32_t>(big_endian(p, 4)));
    default: return std::bit_cast<double>(big_endian(p, 8));
  }
}

struct IdxHeader {
  ElementType type{};
  std::vector<std::uint32_t> dims;
  std::uint64_t items = 0;
  std::uint64_t features = 0;    // product of dims[1..]
  std::uint64_t data_bytes = 0;  // items * features * type.size
  std::uint64_t header_bytes = 0;
};

Result<IdxHeader> read_header(IdxStream& stream) {
  unsigned char magic[4];
  std::size_t got = 0;
  if (Status s = stream.read(reinterpret_cast<char*>(magic), 4, &got); !s.ok()) return s;
  if (got < 4) {
    return stream.bad(got, "truncated: the file ends inside the 4-byte IDX magic; not an IDX file");
  }
  if (magic[0] != 0 || magic[1] != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%02x %02x", magic[0], magic[1]);
    return stream.bad(0, std::string("bad magic: starts with ") + hex +
                             ", not 00 00; not an IDX file (or a compression other than gzip)");
  }
  IdxHeader header;
  const auto type = std::find_if(kTypes.begin(), kTypes.end(),
                                 [&](const ElementType& t) { return t.code == magic[2]; });
  if (type == kTypes.end()) {
    return stream.bad(2, "unknown element type code " + std::to_string(magic[2]) +
                             "; IDX types are 0x08, 0x09, 0x0B, 0x0C, 0x0D and 0x0E");
  }
  header.type = *type;
  const std::size_t rank = magic[3];
  if (rank == 0) return stream.bad(3, "the file declares 0 dimensions; IDX data needs at least 1");
  std::vector<unsigned char> raw(4 * rank);
  if (Status s = stream.read(reinterpret_cast<char*>(raw.data()), raw.size(), &got); !s.ok()) {
    return s;
  }
  if (got < raw.size()) {
    return stream.bad(4 + got, "truncated: the file ends inside the " + std::to_string(rank) +
                                   " dimension sizes of the header");
  }
  header.header_bytes = 4 + raw.size();
  header.features = 1;
  for (std::size_t k = 0; k < rank; ++k) {
    const auto dim = static_cast<std::uint32_t>(big_endian(raw.data() + 4 * k, 4));
    header.dims.push_back(dim);
    if (dim == 0) {
      return stream.bad(4 + 4 * k, "dimension " + std::to_string(k) +
                                       " is 0: the file holds no data; a dataset needs at least "
                                       "one item with at least one feature");
    }
    if (k == 0) continue;
    if (header.features > std::numeric_limits<std::uint64_t>::max() / dim) {
      return stream.bad(4 + 4 * k, "the dimension sizes overflow 64 bits; the header is corrupt");
    }
    header.features *= dim;
  }
  header.items = header.dims[0];
  const std::uint64_t per_item = header.features;
  if (per_item > std::numeric_limits<std::uint64_t>::max() / header.type.size / header.items) {
    return stream.bad(4, "the declared data size overflows 64 bits; the header is corrupt");
  }
  header.data_bytes = header.items * per_item * header.type.size;
  return header;
}

std::string describe(const IdxHeader& header) {
  std::string dims;
  for (std::uint32_t d : header.dims) dims += (dims.empty() ? "" : " x ") + std::to_string(d);
  return std::string(header.type.name) + " [" + dims + "]";
}

// After the last element of a fully read file: anything more is an error.
Status expect_end(IdxStream& stream, const IdxHeader& header) {
  char extra = 0;
  std::size_t got = 0;
  if (Status s = stream.read(&extra, 1, &got); !s.ok()) return s;
  if (got != 0) {
    return stream.bad(stream.offset() - 1,
                      "trailing data: the header (" + describe(header) + ") declares " +
                          std::to_string(header.header_bytes + header.data_bytes) +
                          " bytes but the file holds more; it is corrupt or not this IDX file");
  }
  return ok_status();
}

Status truncated(const IdxStream& stream, const IdxHeader& header) {
  return stream.bad(stream.offset(),
                    "truncated: the header (" + describe(header) + ") declares " +
                        std::to_string(header.header_bytes + header.data_bytes) +
                        " bytes but the data ends here; the file is incomplete, download it again");
}

// Reads `elements` elements after the header in pieces, calling sink(first_index, bytes, count)
// for each piece.
template <class Sink>
Status read_elements(IdxStream& stream, const IdxHeader& header, std::uint64_t elements,
                     const Sink& sink) {
  std::vector<char> buffer(
      static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, elements * header.type.size)));
  std::uint64_t done = 0;
  while (done < elements) {
    const std::size_t want = static_cast<std::size_t>(
        std::min<std::uint64_t>(buffer.size() / header.type.size, elements - done));
    std::size_t got = 0;
    if (Status s = stream.read(buffer.data(), want * header.type.size, &got); !s.ok()) return s;
    const std::size_t count = got / header.type.size;
    if (Status s = sink(done, reinterpret_cast<const unsigned char*>(buffer.data()), count);
        !s.ok()) {
      return s;
    }
    done += count;
    if (count < want) return truncated(stream, header);
  }
  return ok_status();
}

}  // namespace

Result<Dataset> read_idx(const fs::path& images, const fs::path& labels,
                         const IdxOptions& options) {
  if (!std::isfinite(options.scale)) {
    return invalid_argument("read_idx: options.scale = " + std::to_string(options.scale) +
                            " must be finite");
  }
  if (options.feature_prefix.empty()) {
    return invalid_argument(
        "read_idx: options.feature_prefix is empty; feature columns need names");
  }
  if (options.target.empty()) {
    return invalid_argument("read_idx: options.target is empty; the target column needs a name");
  }
  {
    std::unordered_set<std::string_view> seen;
    for (const std::string& name : options.class_names) {
      if (!seen.insert(name).second) {
        return invalid_argument("read_idx: options.class_names names '" + name +
                                "' twice; class names must be distinct");
      }
    }
  }

  Result<std::unique_ptr<IdxStream>> image_stream = IdxStream::open(images);
  if (!image_stream) return std::move(image_stream).error();
  Result<std::unique_ptr<IdxStream>> label_stream = IdxStream::open(labels);
  if (!label_stream) return std::move(label_stream).error();
  IdxStream& image_in = **image_stream;
  IdxStream& label_in = **label_stream;

  Result<IdxHeader> image_header = read_header(image_in);
  if (!image_header) return std::move(image_header).error();
  Result<IdxHeader> label_header = read_header(label_in);
  if (!label_header) return std::move(label_header).error();
  if (label_header->dims.size() != 1) {
    return label_in.bad(3, "a labels file has 1 dimension (the item count), this one has " +
                               std::to_string(label_header->dims.size()) + " (" +
                               describe(*label_header) + ")");
  }
  if (label_header->items != image_header->items) {
    return label_in.bad(4, "declares " + std::to_string(label_header->items) + " labels but " +
                               quoted(images) + " declares " + std::to_string(image_header->items) +
                               " items; the two files do not belong together");
  }
  const bool whole = options.max_rows == 0 || options.max_rows >= image_header->items;
  const std::uint64_t rows = whole ? image_header->items : options.max_rows;

  // Labels first: small, and their errors are cheaper to find than a full image read.
  std::vector<std::int32_t> label_values;
  const std::uint64_t label_start = label_header->header_bytes;
  const std::uint8_t label_code = label_header->type.code;
  const std::size_t label_size = label_header->type.size;
  Status status = read_elements(
      label_in, *label_header, rows,
      [&](std::uint64_t first, const unsigned char* bytes, std::size_t count) -> Status {
        for (std::size_t i = 0; i < count; ++i) {
          const double v = element(bytes + i * label_size, label_code);
          if (!(v >= 0 && v < 2147483648.0 && v == std::floor(v))) {
            char text[64];
            std::snprintf(text, sizeof text, "%.17g", v);
            return label_in.bad(label_start + (first + i) * label_size,
                                "label " + std::to_string(first + i) + " is " + text +
                                    "; labels must be integers in [0, 2^31)");
          }
          if (!options.class_names.empty() &&
              v >= static_cast<double>(options.class_names.size())) {
            return label_in.bad(label_start + (first + i) * label_size,
                                "label " + std::to_string(first + i) + " is " +
                                    std::to_string(static_cast<std::int64_t>(v)) + " but only " +
                                    std::to_string(options.class_names.size()) +
                                    " class names were given; give one name per label value");
          }
          label_values.push_back(static_cast<std::int32_t>(v));
        }
        return ok_status();
      });
  if (!status.ok()) return status;
  if (whole) {
    if (status = expect_end(label_in, *label_header); !status.ok()) return status;
  }

  // Images: each feature column grows as rows arrive, never beyond `rows`.
  const std::uint64_t features = image_header->features;
  const std::uint8_t image_code = image_header->type.code;
  const std::size_t image_size = image_header->type.size;
  const double scale = options.scale;
  std::array<float, 256> byte_values{};
  for (std::size_t b = 0; b < byte_values.size(); ++b) {
    byte_values[b] = static_cast<float>(static_cast<double>(b) * scale);
  }
  // Columns are created as row 0 arrives and then grow geometrically, so storage stays within
  // twice the data read (plus one first allocation of at most max(features, 2^20) floats).
  std::vector<std::vector<float>> columns;
  std::vector<float*> column_data;
  std::uint64_t capacity = std::min<std::uint64_t>(
      rows, std::max<std::uint64_t>(1, (std::uint64_t{1} << 20) / features));
  std::uint64_t row = 0;
  std::uint64_t feature = 0;
  const auto grow = [&] {
    capacity = std::min<std::uint64_t>(rows, 2 * capacity);
    for (std::size_t j = 0; j < columns.size(); ++j) {
      columns[j].resize(static_cast<std::size_t>(capacity));
      column_data[j] = columns[j].data();
    }
  };
  status =
      read_elements(image_in, *image_header, rows * features,
                    [&](std::uint64_t, const unsigned char* bytes, std::size_t count) -> Status {
                      for (std::size_t i = 0; i < count; ++i) {
                        if (row == 0) {
                          columns.emplace_back(static_cast<std::size_t>(capacity));
                          column_data.push_back(columns.back().data());
                        } else if (feature == 0 && row == capacity) {
                          grow();
                        }
                        const unsigned char* p = bytes + i * image_size;
                        column_data[feature][row] =
                            image_code == 0x08 ? byte_values[p[0]]
                                               : static_cast<float>(element(p, image_code) * scale);
                        if (++feature == features) {
                          feature = 0;
                          ++row;
                        }
                      }
                      return ok_status();
                    });
  if (!status.ok()) return status;
  if (whole) {
    if (status = expect_end(image_in, *image_header); !status.ok()) return status;
  }

  // Categories: class_names by label value, or the distinct values that occur.
  std::vector<std::string> categories = options.class_names;
  std::vector<std::int32_t> codes = label_values;
  if (categories.empty()) {
    std::vector<std::int32_t> distinct = label_values;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (std::int32_t v : distinct) categories.push_back(std::to_string(v));
    for (std::int32_t& code : codes) {
      code = static_cast<std::int32_t>(std::lower_bound(distinct.begin(), distinct.end(), code) -
                                       distinct.begin());
    }
  }

  std::vector<Column> out;
  out.reserve(columns.size() + 1);
  for (std::size_t j = 0; j < columns.size(); ++j) {
    columns[j].resize(static_cast<std::size_t>(rows));
    out.push_back(
        Column::float32(options.feature_prefix + std::to_string(j), std::move(columns[j])));
  }
  out.push_back(Column::categorical(options.target, std::move(codes), std::move(categories)));
  return Dataset::make(std::move(out), options.target);
}

}  // namespace trainflow::ml
