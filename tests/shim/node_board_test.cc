#include "shim/state/node_board.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace tgs::state {
namespace {

constexpr uint8_t kUuidA[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr uint8_t kUuidB[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

bool FdIsOpen(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

class NodeBoardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tgs-board-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<BoardFile> Open() {
    std::string error;
    auto b = BoardFile::Open(dir_, &error);
    EXPECT_TRUE(b) << error;
    return b;
  }
  std::string BoardPath() const { return dir_ + "/" + kBoardFileName; }
  // A file of `size` bytes holding `bytes` at its start.
  int WriteFile(const std::string& name, size_t size, const void* bytes = nullptr, size_t n = 0) {
    std::string path = dir_ + "/" + name;
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    if (n > 0) {
      EXPECT_EQ(pwrite(fd, bytes, n, 0), static_cast<ssize_t>(n));
    }
    return fd;
  }
  std::string dir_;
};

TEST_F(NodeBoardTest, OpenCreatesTheBoardFile) {
  auto b = Open();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->path(), BoardPath());
  struct stat st;
  ASSERT_EQ(stat(BoardPath().c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), sizeof(NodeBoard));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(b->board().magic.load(), kBoardMagic);
  EXPECT_EQ(b->board().layout_version, kBoardLayoutVersion);
  EXPECT_EQ(b->board().file_size, sizeof(NodeBoard));
  for (const BoardGpu& g : b->board().gpus) {
    EXPECT_EQ(g.claimed.load(), 0u);
    EXPECT_EQ(g.production_processes.load(), 0u);
    EXPECT_EQ(g.production_inflight.load(), 0);
  }
  EXPECT_GE(b->fd(), 0);
}

TEST_F(NodeBoardTest, OpenFailsWithAReasonWhenTheDirectoryIsMissing) {
  std::string error;
  EXPECT_FALSE(BoardFile::Open(dir_ + "/missing", &error));
  EXPECT_NE(error.find("cannot open " + dir_ + "/missing/" + kBoardFileName), std::string::npos) << error;
}

TEST_F(NodeBoardTest, FindOrClaimGivesOneEntryPerUuid) {
  auto b = Open();
  EXPECT_EQ(b->FindGpu(kUuidA), -1);
  int a = b->FindOrClaimGpu(kUuidA);
  int bb = b->FindOrClaimGpu(kUuidB);
  ASSERT_GE(a, 0);
  ASSERT_GE(bb, 0);
  EXPECT_NE(a, bb);
  EXPECT_EQ(b->FindOrClaimGpu(kUuidA), a);
  EXPECT_EQ(b->FindGpu(kUuidA), a);
  EXPECT_EQ(b->FindGpu(kUuidB), bb);
  EXPECT_EQ(b->board().gpus[a].claimed.load(), 1u);
  EXPECT_EQ(std::memcmp(b->board().gpus[a].uuid, kUuidA, 16), 0);
}

TEST_F(NodeBoardTest, FullTableRefusesANewUuid) {
  auto b = Open();
  uint8_t uuid[16] = {};
  for (int i = 0; i < kBoardGpus; ++i) {
    uuid[0] = static_cast<uint8_t>(i);
    uuid[1] = 0xAB;
    EXPECT_EQ(b->FindOrClaimGpu(uuid), i);
  }
  EXPECT_EQ(b->FindOrClaimGpu(kUuidA), -1);
  EXPECT_EQ(b->FindGpu(kUuidA), -1);
  uuid[0] = 7;
  EXPECT_EQ(b->FindOrClaimGpu(uuid), 7);  // existing ones are still found
}

TEST_F(NodeBoardTest, ReopenKeepsClaimsButResetsProductionCounts) {
  int a;
  {
    auto b = Open();
    a = b->FindOrClaimGpu(kUuidA);
    ASSERT_GE(a, 0);
    b->board().gpus[a].production_processes.store(3);
    b->board().gpus[a].production_last_launch_ns.store(12345);
    b->board().gpus[a].production_busy_periods.store(7);
  }
  auto b = Open();
  EXPECT_EQ(b->FindGpu(kUuidA), a);
  EXPECT_EQ(b->FindOrClaimGpu(kUuidA), a);
  EXPECT_EQ(b->board().gpus[a].production_processes.load(), 0u);
  // What shims write is theirs: a shim that still maps the board keeps it.
  EXPECT_EQ(b->board().gpus[a].production_last_launch_ns.load(), 12345);
  EXPECT_EQ(b->board().gpus[a].production_busy_periods.load(), 7u);
}

TEST_F(NodeBoardTest, ReopenWhileMappedResetsCountsInTheSharedMapping) {
  auto first = Open();
  int a = first->FindOrClaimGpu(kUuidA);
  first->board().gpus[a].production_processes.store(2);
  auto second = Open();
  EXPECT_EQ(first->board().gpus[a].production_processes.load(), 0u);
  second->board().gpus[a].production_inflight.store(1);
  EXPECT_EQ(first->board().gpus[a].production_inflight.load(), 1);
}

TEST_F(NodeBoardTest, OpenStartsOverOnAFileOfAnotherLayout) {
  {
    auto b = Open();
    b->FindOrClaimGpu(kUuidA);
    b->board().layout_version = kBoardLayoutVersion + 1;
  }
  auto b = Open();
  EXPECT_EQ(b->board().layout_version, kBoardLayoutVersion);
  EXPECT_EQ(b->FindGpu(kUuidA), -1);
}

TEST_F(NodeBoardTest, OpenResizesAFileOfTheWrongSize) {
  close(WriteFile(kBoardFileName, 100));
  auto b = Open();
  ASSERT_TRUE(b);
  struct stat st;
  ASSERT_EQ(stat(BoardPath().c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), sizeof(NodeBoard));
  EXPECT_EQ(b->board().magic.load(), kBoardMagic);
}

TEST_F(NodeBoardTest, AdoptMapsTheSameBoard) {
  auto controller = Open();
  int a = controller->FindOrClaimGpu(kUuidA);
  controller->board().gpus[a].production_processes.store(1);
  int fd = dup(controller->fd());
  ASSERT_GE(fd, 0);
  std::string error;
  auto shim = BoardFile::Adopt(fd, &error);
  ASSERT_TRUE(shim) << error;
  EXPECT_EQ(shim->fd(), fd);
  EXPECT_EQ(shim->FindGpu(kUuidA), a);
  EXPECT_EQ(shim->FindGpu(kUuidB), -1);
  EXPECT_TRUE(ProductionPresent(shim->board().gpus[a]));
  shim->board().gpus[a].production_inflight.fetch_add(1);
  EXPECT_EQ(controller->board().gpus[a].production_inflight.load(), 1);
  shim.reset();
  EXPECT_FALSE(FdIsOpen(fd));  // Adopt took it
}

TEST_F(NodeBoardTest, AdoptRefusesASmallFileAndClosesIt) {
  const char text[] = "not a board";
  int fd = WriteFile("small", sizeof text, text, sizeof text);
  std::string error;
  EXPECT_FALSE(BoardFile::Adopt(fd, &error));
  EXPECT_NE(error.find("not a TGS node board"), std::string::npos) << error;
  EXPECT_FALSE(FdIsOpen(fd));
}

TEST_F(NodeBoardTest, AdoptRefusesAnotherLayoutVersion) {
  auto controller = Open();
  controller->board().layout_version = kBoardLayoutVersion + 1;
  std::string error;
  int fd = dup(controller->fd());
  EXPECT_FALSE(BoardFile::Adopt(fd, &error));
  EXPECT_NE(error.find("layout version " + std::to_string(kBoardLayoutVersion + 1)), std::string::npos) << error;
  EXPECT_FALSE(FdIsOpen(fd));
}

// A file of the board's size that is not a board (no magic): the error must
// not blame a layout version the file does not have.
TEST_F(NodeBoardTest, AdoptOfABoardSizedFileWithoutTheMagicSaysItIsNotABoard) {
  std::vector<uint8_t> zeros(sizeof(NodeBoard), 0);
  int fd = WriteFile("zeros", zeros.size(), zeros.data(), zeros.size());
  std::string error;
  EXPECT_FALSE(BoardFile::Adopt(fd, &error));
  EXPECT_FALSE(FdIsOpen(fd));
  EXPECT_NE(error.find("not a TGS node board"), std::string::npos) << error;
}

TEST(NodeBoardProductionTest, BusyOnlyWithWorkInFlightAndARecentLaunch) {
  BoardGpu g{};
  const int64_t now = 10'000'000'000;
  EXPECT_FALSE(ProductionPresent(g));
  EXPECT_FALSE(ProductionBusy(g, now));
  g.production_processes.store(1);
  EXPECT_TRUE(ProductionPresent(g));

  g.production_last_launch_ns.store(now - 1000);
  EXPECT_FALSE(ProductionBusy(g, now));  // launched, but synchronised since
  g.production_inflight.store(1);
  EXPECT_TRUE(ProductionBusy(g, now));
  g.production_inflight.store(2);
  EXPECT_TRUE(ProductionBusy(g, now));
  g.production_last_launch_ns.store(now - kProductionStaleNs + 1);
  EXPECT_TRUE(ProductionBusy(g, now));
  g.production_last_launch_ns.store(now - kProductionStaleNs);
  EXPECT_FALSE(ProductionBusy(g, now));  // stale: a crashed process
  g.production_last_launch_ns.store(0);
  EXPECT_FALSE(ProductionBusy(g, now));
  g.production_last_launch_ns.store(now);
  g.production_inflight.store(0);
  EXPECT_FALSE(ProductionBusy(g, now));
  g.production_inflight.store(-1);  // never counts as busy
  EXPECT_FALSE(ProductionBusy(g, now));
}

}  // namespace
}  // namespace tgs::state
