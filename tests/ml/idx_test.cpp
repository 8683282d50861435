#include "trainflow/ml/idx.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "testing/ml.hpp"

namespace trainflow::ml {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

void put_big_endian(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// An IDX header: 00 00 type rank, then the dimensions.
std::string header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims) put_big_endian(out, d, 4);
  return out;
}

// The big-endian encoding of `values` as IDX elements of `type`.
std::string elements(std::uint8_t type, const std::vector<double>& values) {
  std::string out;
  for (double v : values) {
    switch (type) {
      case 0x08:
      case 0x09: out.push_back(static_cast<char>(static_cast<std::int64_t>(v))); break;
      case 0x0B:
        put_big_endian(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(v)), 2);
        break;
      case 0x0C:
        put_big_endian(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(v)), 4);
        break;
      case 0x0D: put_big_endian(out, std::bit_cast<std::uint32_t>(static_cast<float>(v)), 4); break;
      default: put_big_endian(out, std::bit_cast<std::uint64_t>(v), 8); break;
    }
  }
  return out;
}

std::string gzip(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// 3 items of 2 x 2 unsigned bytes and their labels 2, 0, 1.
const std::vector<double> kPixels{0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0};
std::string small_images() {
  return header(0x08, {3, 2, 2}) + elements(0x08, kPixels);
}
std::string small_labels() {
  return header(0x08, {3}) + elements(0x08, {2, 0, 1});
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("idx_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& bytes) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  Result<Dataset> read(const std::string& images, const std::string& labels,
                       const IdxOptions& options = {}) {
    return read_idx(write("images", images), write("labels", labels), options);
  }

  // Expects read() to fail with kInvalidArgument and a message holding every part.
  void expect_error(const std::string& images, const std::string& labels,
                    std::vector<std::string_view> parts, const IdxOptions& options = {}) {
    const Result<Dataset> ds = read(images, labels, options);
    ASSERT_FALSE(ds.has_value());
    EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument) << ds.error().to_string();
    for (std::string_view part : parts) {
      EXPECT_TRUE(contains(ds.error().message(), part))
          << "'" << part << "' not in: " << ds.error().message();
    }
  }

  fs::path dir_;
};

TEST_F(IdxTest, ReadsUnsignedBytesAsScaledFloat32Columns) {
  const Result<Dataset> ds = read(small_images(), small_labels());
  ASSERT_TRUE(ds.has_value()) << ds.error().to_string();
  ASSERT_EQ(ds->num_rows(), 3u);
  ASSERT_EQ(ds->num_columns(), 5u);
  for (std::size_t j = 0; j < 4; ++j) {
    const Column& column = ds->column(j);
    EXPECT_EQ(column.name(), "px" + std::to_string(j));
    ASSERT_EQ(column.type(), ColumnType::kFloat32);
    for (std::size_t r = 0; r < 3; ++r) {
      EXPECT_EQ(column.float32()[r], static_cast<float>(kPixels[r * 4 + j] * (1.0 / 255)))
          << "row " << r << " feature " << j;
    }
  }
  EXPECT_EQ(ds->target_name(), "label");
  const Column& target = ds->column(4);
  ASSERT_EQ(target.type(), ColumnType::kCategorical);
  EXPECT_EQ(target.categories(), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(std::vector<std::int32_t>(target.codes().begin(), target.codes().end()),
            (std::vector<std::int32_t>{2, 0, 1}));
  EXPECT_EQ(ds->column(1).float32()[0], 1.0f);
}

TEST_F(IdxTest, GzipFilesReadLikePlainOnes) {
  const Result<Dataset> plain = read(small_images(), small_labels());
  const Result<Dataset> packed = read(gzip(small_images()), gzip(small_labels()));
  ASSERT_TRUE(plain.has_value()) << plain.error().to_string();
  ASSERT_TRUE(packed.has_value()) << packed.error().to_string();
  EXPECT_TRUE(*plain == *packed);
  // Concatenated gzip members are one stream, as gzip -d reads them.
  const std::string images = small_images();
  const Result<Dataset> members =
      read(gzip(images.substr(0, 7)) + gzip(images.substr(7)), small_labels());
  ASSERT_TRUE(members.has_value()) << members.error().to_string();
  EXPECT_TRUE(*plain == *members);
}

TEST_F(IdxTest, ReadsEveryElementType) {
  struct Case {
    std::uint8_t type;
    std::vector<double> values;
  };
  const std::vector<Case> cases{
      {0x08, {0, 200, 7, 255}},          {0x09, {-128, 127, -1, 0}},
      {0x0B, {-32768, 32767, -300, 12}}, {0x0C, {-2147483648.0, 2147483647.0, -70000, 5}},
      {0x0D, {-1.5, 0.25, 1e30, -0.0}},  {0x0E, {-1.5, 1e300, 0.1, 3.0}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(static_cast<int>(c.type));
    // Items of 1 dimension: one feature each. Labels in the same type.
    const std::string images = header(c.type, {4}) + elements(c.type, c.values);
    const std::string labels = header(c.type, {4}) + elements(c.type, {3, 1, 0, 1});
    const Result<Dataset> ds = read(images, labels, {.scale = 2.0});
    ASSERT_TRUE(ds.has_value()) << ds.error().to_string();
    ASSERT_EQ(ds->num_columns(), 2u);
    const std::span<const float> values = ds->column(0).float32();
    for (std::size_t r = 0; r < 4; ++r) {
      const double element = c.type == 0x0D ? static_cast<float>(c.values[r]) : c.values[r];
      EXPECT_EQ(values[r], static_cast<float>(element * 2.0)) << r;
    }
    EXPECT_EQ(ds->column(1).categories(), (std::vector<std::string>{"0", "1", "3"}));
    EXPECT_EQ(ds->column(1).codes()[0], 2);
  }
}

TEST_F(IdxTest, UsesClassNamesAndOptions) {
  const Result<Dataset> ds = read(small_images(), small_labels(),
                                  {.scale = 1.0,
                                   .feature_prefix = "pixel_",
                                   .target = "kind",
                                   .class_names = {"shirt", "shoe", "bag", "coat"}});
  ASSERT_TRUE(ds.has_value()) << ds.error().to_string();
  EXPECT_EQ(ds->column(3).name(), "pixel_3");
  EXPECT_EQ(ds->column(1).float32()[0], 255.0f);
  EXPECT_EQ(ds->target_name(), "kind");
  // Every name is a category, in label order, and the code is the label value.
  EXPECT_EQ(ds->column(4).categories(), (std::vector<std::string>{"shirt", "shoe", "bag", "coat"}));
  EXPECT_EQ(ds->column(4).codes()[0], 2);
  EXPECT_EQ(ds->column(4).codes()[1], 0);
}

TEST_F(IdxTest, MaxRowsReadsOnlyThePrefix) {
  // The rest of both files is not read: even trailing garbage goes unnoticed.
  const Result<Dataset> ds =
      read(small_images() + "junk", small_labels() + "junk", {.max_rows = 2});
  ASSERT_TRUE(ds.has_value()) << ds.error().to_string();
  EXPECT_EQ(ds->num_rows(), 2u);
  EXPECT_EQ(ds->column(4).categories(), (std::vector<std::string>{"0", "2"}));
  const Result<Dataset> all = read(small_images(), small_labels(), {.max_rows = 3});
  ASSERT_TRUE(all.has_value()) << all.error().to_string();
  EXPECT_EQ(all->num_rows(), 3u);
}

TEST_F(IdxTest, GrowsColumnsAcrossManyRows) {
  // Enough rows for several growth steps and several 1 MiB read pieces.
  const std::size_t n = 70000;
  std::vector<double> pixels(n * 3), labels(n);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<double>(i % 251);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<double>(i % 7);
  const Result<Dataset> ds =
      read(gzip(header(0x08, {static_cast<std::uint32_t>(n), 3}) + elements(0x08, pixels)),
           header(0x0C, {static_cast<std::uint32_t>(n)}) + elements(0x0C, labels), {.scale = 1.0});
  ASSERT_TRUE(ds.has_value()) << ds.error().to_string();
  ASSERT_EQ(ds->num_rows(), n);
  for (std::size_t r : {std::size_t{0}, std::size_t{4095}, std::size_t{4096}, n - 1}) {
    for (std::size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(ds->column(j).float32()[r], static_cast<float>((r * 3 + j) % 251));
    }
    EXPECT_EQ(ds->column(3).codes()[r], static_cast<std::int32_t>(r % 7));
  }
}

TEST_F(IdxTest, ReportsMissingFiles) {
  const fs::path labels = write("labels", small_labels());
  const Result<Dataset> ds = read_idx(dir_ / "nope.gz", labels);
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(ds.error().message(), "nope.gz")) << ds.error().message();
  const Result<Dataset> dir = read_idx(dir_, labels);
  ASSERT_FALSE(dir.has_value());
  EXPECT_NE(dir.error().code(), StatusCode::kOk);
}

TEST_F(IdxTest, RejectsBadHeaders) {
  const std::string labels = small_labels();
  expect_error("", labels, {"images", "byte 0", "truncated"});
  expect_error(std::string("\x01\x00\x08\x01", 4), labels, {"byte 0", "bad magic", "01 00"});
  expect_error(header(0x0A, {3, 4}), labels, {"byte 2", "unknown element type code 10"});
  expect_error(header(0x08, {}), labels, {"byte 3", "0 dimensions"});
  expect_error(header(0x08, {3, 2, 2}).substr(0, 10), labels,
               {"byte 10", "truncated", "dimension"});
  expect_error(header(0x08, {0, 2}), labels, {"byte 4", "dimension 0 is 0"});
  expect_error(header(0x08, {3, 2, 0}), labels, {"byte 12", "dimension 2 is 0"});
  expect_error(header(0x0E, {3, 0xffffffffu, 0xffffffffu, 0xffffffffu}), labels,
               {"byte 16", "overflow"});
  expect_error(header(0x0E, {0xffffffffu, 0xffffffffu, 0xffffffffu}), labels,
               {"byte 4", "overflow"});
  // The labels file: one dimension, as many items as the images file.
  expect_error(small_images(), header(0x08, {3, 1}) + elements(0x08, {0, 1, 2}),
               {"labels", "byte 3", "1 dimension", "has 2"});
  expect_error(small_images(), header(0x08, {2}) + elements(0x08, {0, 1}),
               {"labels", "byte 4", "declares 2 labels", "declares 3 items"});
}

TEST_F(IdxTest, RejectsTruncatedAndTrailingData) {
  const std::string images = small_images();
  expect_error(images.substr(0, images.size() - 1), small_labels(),
               {"images", "byte 27", "truncated", "declares 28 bytes"});
  expect_error(images + "x", small_labels(), {"images", "byte 28", "trailing data"});
  expect_error(images, small_labels() + "xy", {"labels", "byte 11", "trailing data"});
  expect_error(gzip(images + "x"), small_labels(),
               {"images", "byte 28 of the decompressed data", "trailing data"});
  expect_error(images, small_labels().substr(0, 10), {"labels", "byte 10", "truncated"});
}

TEST_F(IdxTest, RejectsCorruptGzip) {
  const std::string packed = gzip(small_images());
  expect_error(packed.substr(0, packed.size() - 4), small_labels(),
               {"images", "truncated gzip data"});
  std::string damaged = packed;
  damaged[12] = static_cast<char>(damaged[12] ^ 0x55);
  const Result<Dataset> ds = read(damaged, small_labels());
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(ds.error().message(), "images")) << ds.error().message();
  // Garbage after a complete member is not another member.
  expect_error(packed + "garbage!", small_labels(), {"images", "corrupt gzip data"});
}

TEST_F(IdxTest, RejectsBadLabels) {
  const std::string images = small_images();
  expect_error(images, header(0x09, {3}) + elements(0x09, {1, -1, 0}),
               {"labels", "byte 9", "label 1 is -1", "[0, 2^31)"});
  expect_error(images, header(0x0D, {3}) + elements(0x0D, {1, 0.5, 0}),
               {"labels", "byte 12", "label 1 is 0.5"});
  expect_error(images, header(0x0E, {3}) + elements(0x0E, {1, 0, 3e9}),
               {"labels", "byte 24", "label 2 is 3000000000"});
  expect_error(images, header(0x0E, {3}) + elements(0x0E, {1, 0, std::nan("")}),
               {"labels", "label 2 is nan"});
  expect_error(images, small_labels(), {"label 0 is 2", "only 2 class names"},
               {.class_names = {"a", "b"}});
}

TEST_F(IdxTest, RejectsBadOptions) {
  const std::string images = small_images(), labels = small_labels();
  expect_error(images, labels, {"scale"}, {.scale = std::numeric_limits<double>::infinity()});
  expect_error(images, labels, {"feature_prefix"}, {.feature_prefix = ""});
  expect_error(images, labels, {"target"}, {.target = ""});
  expect_error(images, labels, {"'a' twice"}, {.class_names = {"a", "b", "a"}});
  // A target named like a feature column.
  expect_error(images, labels, {"px2"}, {.target = "px2"});
}

TEST_F(IdxTest, HugeDeclaredSizeCostsOnlyTheRealData) {
  // 2^32 - 1 items of 2^20 bytes declared, 100 bytes present: a truncation error, not an
  // allocation of the declared 4 PiB (under ASan an over-large allocation aborts).
  const std::string images = header(0x08, {0xffffffffu, 1024, 1024}) + std::string(100, '\x07');
  const std::string labels = header(0x08, {0xffffffffu}) + std::string(1000, '\x01');
  expect_error(images, labels, {"labels", "truncated"});
  std::string many_labels = header(0x08, {0xffffffffu});
  many_labels += std::string(5000, '\x01');
  expect_error(images, many_labels, {"labels", "byte 5008", "truncated"});
  // With max_rows the labels suffice and the images run out.
  expect_error(images, labels, {"images", "byte 116", "truncated"}, {.max_rows = 2});
}

TEST_F(IdxTest, SurvivesEveryCorruptionAndTruncation) {
  const std::string images = small_images(), labels = small_labels();
  for (const bool packed : {false, true}) {
    const std::string bytes = packed ? gzip(images) : images;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      for (const unsigned char mask : {0x01, 0x80, 0xff}) {
        std::string flipped = bytes;
        flipped[i] = static_cast<char>(flipped[i] ^ static_cast<char>(mask));
        const Result<Dataset> ds = read(flipped, labels);
        if (!ds.has_value()) {
          EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument) << ds.error().to_string();
        }
      }
    }
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      const Result<Dataset> ds = read(bytes.substr(0, n), labels);
      ASSERT_FALSE(ds.has_value()) << "truncated to " << n << (packed ? " (gzip)" : "");
      EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument);
    }
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::string flipped = labels;
    flipped[i] = static_cast<char>(flipped[i] ^ '\x40');
    const Result<Dataset> ds = read(images, flipped);
    if (!ds.has_value()) {
      EXPECT_EQ(ds.error().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(IdxFashionMnistTest, ReadsTheTestSet) {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  const fs::path images = dir / "t10k-images-idx3-ubyte.gz";
  const fs::path labels = dir / "t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(images) || !fs::exists(labels)) {
    GTEST_SKIP() << "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)";
  }
  const Result<Dataset> ds = read_idx(images, labels);
  ASSERT_TRUE(ds.has_value()) << ds.error().to_string();
  ASSERT_EQ(ds->num_rows(), 10000u);
  ASSERT_EQ(ds->num_columns(), 785u);
  EXPECT_EQ(ds->numeric_feature_indices().size(), 784u);
  EXPECT_EQ(ds->column(783).name(), "px783");
  float lo = 1, hi = 0;
  for (std::size_t j = 0; j < 784; ++j) {
    for (float v : ds->column(j).float32()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  const Column& target = ds->column(*ds->target_index());
  ASSERT_EQ(target.categories().size(), 10u);
  EXPECT_EQ(target.categories().front(), "0");
  EXPECT_EQ(target.categories().back(), "9");
  std::vector<int> histogram(10, 0);
  for (std::int32_t code : target.codes()) ++histogram[static_cast<std::size_t>(code)];
  EXPECT_EQ(histogram, std::vector<int>(10, 1000));
}

}  // namespace
}  // namespace trainflow::ml
