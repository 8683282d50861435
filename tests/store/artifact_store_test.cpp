#include "trainflow/store/artifact_store.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/faulty_file_system.hpp"
#include "testing/temp_dir.hpp"

namespace trainflow {
namespace {

using test::FaultyFileSystem;
using test::FsOp;
using test::TempDir;

// Every regular file under `dir`, relative to it.
std::vector<std::string> files_under(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(std::filesystem::relative(e.path(), dir).string());
  }
  return out;
}

void overwrite(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(ArtifactStoreTest, PutThenGetReturnsTheBytesUnderTheirDigest) {
  TempDir dir;
  Result<ArtifactStore> store = ArtifactStore::open(dir / "artifacts");
  ASSERT_TRUE(store.has_value()) << store.error().message();
  const std::string bytes("model weights\0with a zero byte", 30);
  const Result<Digest> d = store->put(bytes);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(*d, digest(bytes));
  EXPECT_EQ(*store->get(*d), bytes);
  EXPECT_TRUE(store->contains(*d));
  const Result<Digest> empty = store->put("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(*store->get(*empty), "");
}

TEST(ArtifactStoreTest, PathsAreBuiltFromTheDigestOnly) {
  TempDir dir;
  Result<ArtifactStore> store = ArtifactStore::open(dir / "artifacts");
  ASSERT_TRUE(store.has_value());
  const Digest d = *store->put("../../etc/passwd");
  const std::string hex = d.hex();
  EXPECT_EQ(store->path_of(d), dir / "artifacts" / hex.substr(0, 2) / hex.substr(2));
  EXPECT_EQ(files_under(dir / "artifacts"),
            std::vector<std::string>{hex.substr(0, 2) + "/" + hex.substr(2)});
}

TEST(ArtifactStoreTest, PuttingStoredBytesAgainWritesNothing) {
  TempDir dir;
  FaultyFileSystem fs;
  Result<ArtifactStore> store = ArtifactStore::open(dir / "artifacts", fs);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->put("same").has_value());
  const int creates = fs.calls(FsOp::kCreate);
  ASSERT_TRUE(store->put("same").has_value());
  EXPECT_EQ(fs.calls(FsOp::kCreate), creates);
}

TEST(ArtifactStoreTest, AbsentObjectIsNotFound) {
  TempDir dir;
  Result<ArtifactStore> store = ArtifactStore::open(dir / "artifacts");
  ASSERT_TRUE(store.has_value());
  const Result<std::string> got = store->get(digest("never stored"));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store->contains(digest("never stored")));
}

// A flipped bit, a truncation or an append: never served; removed; the next put heals it.
TEST(ArtifactStoreTest, CorruptObjectIsDataLossThenRemovedAndRewritable) {
  TempDir dir;
  Result<ArtifactStore> store = ArtifactStore::open(dir / "artifacts");
  ASSERT_TRUE(store.has_value());
  const std::string bytes(4096, 'a');
  const Digest d = *store->put(bytes);

  std::string flipped = bytes;
  flipped[1234] = static_cast<char>(flipped[1234] ^ 0x10);
  for (const std::string& corrupt : {flipped, bytes.substr(0, 4095), bytes + "b"}) {
    overwrite(store->path_of(d), corrupt);
    const Result<std::string> got = store->get(d);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code(), StatusCode::kDataLoss);
    EXPECT_NE(got.error().message().find(d.hex()), std::string::npos) << got.error().message();
    EXPECT_FALSE(std::filesystem::exists(store->path_of(d)));
    EXPECT_FALSE(store->contains(d));
    ASSERT_EQ(*store->put(bytes), d);
    EXPECT_EQ(*store->get(d), bytes);
  }
}

struct PutFault {
  FsOp op;
  Status error;
};

class ArtifactStoreFaultTest : public ::testing::TestWithParam<PutFault> {};

// ENOSPC or EIO on write, fsync or rename: put fails with the error, nothing is left under the
// object's name or beside it, and a later put succeeds.
TEST_P(ArtifactStoreFaultTest, FailedPutLeavesNoPartialArtifact) {
  TempDir dir;
  FaultyFileSystem fs;
  Result<ArtifactStore> store = ArtifactStore::open(dir / "artifacts", fs);
  ASSERT_TRUE(store.has_value());
  const std::string bytes(100000, 'z');
  fs.fail(GetParam().op, GetParam().error);
  const Result<Digest> put = store->put(bytes);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), GetParam().error.code());
  EXPECT_NE(put.error().message().find("storing artifact " + digest(bytes).hex()),
            std::string::npos)
      << put.error().message();
  EXPECT_TRUE(files_under(dir / "artifacts").empty());
  EXPECT_EQ(store->get(digest(bytes)).error().code(), StatusCode::kNotFound);

  ASSERT_TRUE(store->put(bytes).has_value());
  EXPECT_EQ(*store->get(digest(bytes)), bytes);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, ArtifactStoreFaultTest,
    ::testing::Values(PutFault{FsOp::kWrite, {StatusCode::kResourceExhausted, "ENOSPC"}},
                      PutFault{FsOp::kWrite, data_loss("EIO")},
                      PutFault{FsOp::kSync, {StatusCode::kResourceExhausted, "ENOSPC"}},
                      PutFault{FsOp::kSync, data_loss("EIO")},
                      PutFault{FsOp::kRename, {StatusCode::kResourceExhausted, "ENOSPC"}},
                      PutFault{FsOp::kRename, data_loss("EIO")}));

class ArtifactStoreConcurrencyTest : public ::testing::TestWithParam<int> {};

// Threads storing overlapping sets of objects all succeed, and every object verifies.
TEST_P(ArtifactStoreConcurrencyTest, ConcurrentPutsOfSameAndDifferentBytes) {
  TempDir dir;
  Result<ArtifactStore> store = ArtifactStore::open(dir / "artifacts");
  ASSERT_TRUE(store.has_value());
  const int threads = GetParam();
  std::vector<std::thread> pool;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const std::string bytes = "object " + std::to_string((i + t) % 25);
        if (!store->put(bytes).has_value()) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < 25; ++i) {
    const std::string bytes = "object " + std::to_string(i);
    EXPECT_EQ(*store->get(digest(bytes)), bytes);
  }
  for (const std::string& f : files_under(dir / "artifacts")) {
    EXPECT_EQ(f.find(".tmp."), std::string::npos) << f;
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, ArtifactStoreConcurrencyTest, ::testing::Values(1, 2, 4, 8));

}  // namespace
}  // namespace trainflow
