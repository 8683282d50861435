#include "trainflow/store/file_system.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/faulty_file_system.hpp"
#include "testing/temp_dir.hpp"

namespace trainflow {
namespace {

using test::FaultyFileSystem;
using test::FsOp;
using test::TempDir;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::vector<std::string> entries(const std::filesystem::path& dir) {
  Result<std::vector<std::string>> names = local_file_system().list(dir);
  EXPECT_TRUE(names.has_value());
  return names ? *names : std::vector<std::string>{};
}

TEST(FileSystemTest, WriteFileAtomicallyCreatesAndReplaces) {
  TempDir dir;
  FileSystem& fs = local_file_system();
  const auto path = dir / "object";
  ASSERT_TRUE(write_file_atomically(fs, path, "first").ok());
  EXPECT_EQ(*fs.read(path), "first");
  ASSERT_TRUE(write_file_atomically(fs, path, std::string(1 << 20, 'x')).ok());
  EXPECT_EQ(*fs.read(path), std::string(1 << 20, 'x'));
  ASSERT_TRUE(write_file_atomically(fs, path, "").ok());
  EXPECT_EQ(*fs.read(path), "");
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"object"});  // no temporary files left
}

TEST(FileSystemTest, LocalErrorsCarryCodesAndPaths) {
  TempDir dir;
  FileSystem& fs = local_file_system();
  const Result<std::string> missing = fs.read(dir / "absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(missing.error().message(), "absent")) << missing.error().message();

  ASSERT_TRUE(write_file_atomically(fs, dir / "x", "1").ok());
  const Result<FileHandle> again = fs.create_exclusive(dir / "x");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), StatusCode::kAlreadyExists);

  EXPECT_EQ(fs.list(dir / "absent").error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(fs.remove(dir / "absent").ok());
}

// /dev/full fails every write with ENOSPC: a real disk-full error, no injection.
TEST(FileSystemTest, RealEnospcIsResourceExhausted) {
  const int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (fd < 0) GTEST_SKIP() << "/dev/full is not available";
  FileSystem& fs = local_file_system();
  const Status written = fs.write(FileHandle{fd}, "bytes");
  EXPECT_EQ(written.code(), StatusCode::kResourceExhausted) << written.to_string();
  EXPECT_TRUE(contains(written.message(), "No space left on device")) << written.message();
  EXPECT_TRUE(fs.close(FileHandle{fd}).ok());
}

struct Fault {
  FsOp op;
  const char* step;
  Status error;
  StatusCode expected;
};

class AtomicWriteFaultTest : public ::testing::TestWithParam<Fault> {};

// Whatever step fails, the old file is intact, no temporary file is left, and the error names
// the step.
TEST_P(AtomicWriteFaultTest, FailedStepLeavesTheOldFileAndNoTemporary) {
  const Fault& fault = GetParam();
  TempDir dir;
  FaultyFileSystem fs;
  const auto path = dir / "object";
  ASSERT_TRUE(write_file_atomically(fs, path, "old contents").ok());

  fs.fail(fault.op, fault.error);
  const Status s = write_file_atomically(fs, path, "new contents, which must not appear");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), fault.expected) << s.to_string();
  EXPECT_TRUE(contains(s.message(), std::string(fault.step) + " failed")) << s.message();
  EXPECT_EQ(*fs.read(path), "old contents");
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"object"});
}

Status enospc() {
  return {StatusCode::kResourceExhausted, "No space left on device"};
}
Status eio() {
  return data_loss("Input/output error");
}

INSTANTIATE_TEST_SUITE_P(
    Steps, AtomicWriteFaultTest,
    ::testing::Values(Fault{FsOp::kWrite, "write", enospc(), StatusCode::kResourceExhausted},
                      Fault{FsOp::kWrite, "write", eio(), StatusCode::kDataLoss},
                      Fault{FsOp::kSync, "fsync", enospc(), StatusCode::kResourceExhausted},
                      Fault{FsOp::kSync, "fsync", eio(), StatusCode::kDataLoss},
                      Fault{FsOp::kRename, "rename", enospc(), StatusCode::kResourceExhausted},
                      Fault{FsOp::kRename, "rename", eio(), StatusCode::kDataLoss},
                      Fault{FsOp::kClose, "close", eio(), StatusCode::kDataLoss},
                      Fault{FsOp::kCreate, "create", enospc(), StatusCode::kResourceExhausted}));

TEST(FileSystemTest, FsyncIsNeverRetried) {
  TempDir dir;
  FaultyFileSystem fs;
  fs.fail(FsOp::kSync, eio());
  EXPECT_FALSE(write_file_atomically(fs, dir / "object", "bytes").ok());
  EXPECT_EQ(fs.calls(FsOp::kSync), 1);
  EXPECT_EQ(fs.calls(FsOp::kRename), 0);
  EXPECT_TRUE(entries(dir.path()).empty());
}

TEST(FileSystemTest, DirectoryFsyncFailureIsReportedWithTheFileInPlace) {
  TempDir dir;
  FaultyFileSystem fs;
  fs.fail(FsOp::kSyncDirectory, eio());
  const Status s = write_file_atomically(fs, dir / "object", "bytes");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_TRUE(contains(s.message(), "fsync of the directory failed")) << s.message();
  EXPECT_EQ(*fs.read(dir / "object"), "bytes");
}

}  // namespace
}  // namespace trainflow
