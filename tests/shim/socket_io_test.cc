// Framing of protocol messages and their descriptors on a SOCK_SEQPACKET
// socketpair (shim/protocol/socket_io.h). No controller, no timing: every
// Receive finds its packet already queued.
#include "shim/protocol/socket_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>

namespace tgs::protocol {
namespace {

bool SameFile(int a, int b) {
  struct stat sa, sb;
  if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// How many open descriptors of this process refer to the file of `fd`.
int OpenRefs(int fd) {
  int n = 0;
  for (int other = 0; other < 4096; ++other) {
    if (SameFile(other, fd)) ++n;
  }
  return n;
}

Message MakeWelcome() {
  Welcome w{};
  Stamp(w);
  w.class_kind = static_cast<uint32_t>(ClassKind::kOpportunistic);
  w.weight = 3;
  w.memory_limit_bytes = 1ull << 30;
  CopyString(w.container_key, "cgroup:/test.scope");
  CopyString(w.class_name, "opportunistic");
  return w;
}

class SocketIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair_), 0);
    char tmpl[] = "/tmp/tgs-socket-io-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_a_ = OpenFile("a");
    file_b_ = OpenFile("b");
  }
  void TearDown() override {
    for (int fd : {pair_[0], pair_[1], file_a_, file_b_}) {
      if (fd >= 0) close(fd);
    }
    std::filesystem::remove_all(dir_);
  }
  int OpenFile(const std::string& name) {
    int fd = open((dir_ + "/" + name).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    return fd;
  }
  int pair_[2] = {-1, -1};
  int file_a_ = -1;
  int file_b_ = -1;
  std::string dir_;
};

TEST_F(SocketIoTest, TwoDescriptorsArriveInOrder) {
  std::string error;
  ASSERT_TRUE(Send(pair_[0], MakeWelcome(), file_a_, &error, file_b_)) << error;
  int fds[kMaxFds] = {-7, -7};
  auto m = ReceiveFds(pair_[1], fds, 1000, &error);
  ASSERT_TRUE(m) << error;
  ASSERT_TRUE(std::holds_alternative<Welcome>(*m));
  const Welcome& w = std::get<Welcome>(*m);
  EXPECT_EQ(w.weight, 3u);
  EXPECT_EQ(w.memory_limit_bytes, 1ull << 30);
  EXPECT_STREQ(w.container_key, "cgroup:/test.scope");
  EXPECT_STREQ(w.class_name, "opportunistic");
  ASSERT_GE(fds[0], 0);
  ASSERT_GE(fds[1], 0);
  EXPECT_NE(fds[0], file_a_);  // new descriptors, not the sender's numbers
  EXPECT_TRUE(SameFile(fds[0], file_a_));
  EXPECT_TRUE(SameFile(fds[1], file_b_));
  EXPECT_FALSE(SameFile(fds[0], file_b_));
  EXPECT_EQ(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(fcntl(fds[1], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  close(fds[0]);
  close(fds[1]);
}

TEST_F(SocketIoTest, OnlyTheSecondDescriptorComesFirst) {
  std::string error;
  ASSERT_TRUE(Send(pair_[0], MakeWelcome(), -1, &error, file_b_)) << error;
  int fds[kMaxFds];
  ASSERT_TRUE(ReceiveFds(pair_[1], fds, 1000, &error)) << error;
  ASSERT_GE(fds[0], 0);
  EXPECT_TRUE(SameFile(fds[0], file_b_));
  EXPECT_EQ(fds[1], -1);
  close(fds[0]);
}

TEST_F(SocketIoTest, NoDescriptorsGiveMinusOnes) {
  std::string error;
  Attached a{};
  Stamp(a);
  a.slot = 5;
  a.start_time = 987654321;
  ASSERT_TRUE(Send(pair_[0], a, -1, &error)) << error;
  int fds[kMaxFds] = {42, 43};
  auto m = ReceiveFds(pair_[1], fds, 1000, &error);
  ASSERT_TRUE(m) << error;
  ASSERT_TRUE(std::holds_alternative<Attached>(*m));
  EXPECT_EQ(std::get<Attached>(*m).slot, 5u);
  EXPECT_EQ(std::get<Attached>(*m).start_time, 987654321u);
  EXPECT_EQ(fds[0], -1);
  EXPECT_EQ(fds[1], -1);
}

TEST_F(SocketIoTest, SingleDescriptorReceiveKeepsTheFirstAndClosesTheRest) {
  std::string error;
  ASSERT_TRUE(Send(pair_[0], MakeWelcome(), file_a_, &error, file_b_)) << error;
  int fd = -1;
  auto m = Receive(pair_[1], &fd, 1000, &error);
  ASSERT_TRUE(m) << error;
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(SameFile(fd, file_a_));
  EXPECT_EQ(OpenRefs(file_a_), 2);  // ours and the received one
  EXPECT_EQ(OpenRefs(file_b_), 1);  // the second was closed
  close(fd);
}

TEST_F(SocketIoTest, BadContentClosesTheDescriptors) {
  // A raw packet that is no message, carrying two descriptors.
  char junk[16] = "garbage";
  iovec iov{junk, sizeof junk};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  int send_fds[2] = {file_a_, file_b_};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof send_fds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof send_fds);
  std::memcpy(CMSG_DATA(c), send_fds, sizeof send_fds);
  ASSERT_EQ(sendmsg(pair_[0], &msg, 0), static_cast<ssize_t>(sizeof junk));

  int fds[kMaxFds] = {0, 0};
  std::string error;
  EXPECT_FALSE(ReceiveFds(pair_[1], fds, 1000, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(fds[0], -1);
  EXPECT_EQ(fds[1], -1);
  // Nothing but our own descriptors refers to the files any more.
  EXPECT_EQ(OpenRefs(file_a_), 1);
  EXPECT_EQ(OpenRefs(file_b_), 1);
}

TEST_F(SocketIoTest, TimeoutAndClosedConnectionSaySo) {
  int fds[kMaxFds];
  std::string error;
  EXPECT_FALSE(ReceiveFds(pair_[1], fds, 0, &error));  // nothing queued
  EXPECT_NE(error.find("timed out"), std::string::npos) << error;
  close(pair_[0]);
  pair_[0] = -1;
  EXPECT_FALSE(ReceiveFds(pair_[1], fds, 1000, &error));
  EXPECT_EQ(error, "connection closed");
  EXPECT_EQ(fds[0], -1);
  EXPECT_EQ(fds[1], -1);
}

TEST_F(SocketIoTest, SendToAClosedPeerFails) {
  close(pair_[1]);
  pair_[1] = -1;
  std::string error;
  EXPECT_FALSE(Send(pair_[0], MakeWelcome(), file_a_, &error, file_b_));
  EXPECT_NE(error.find("send failed"), std::string::npos) << error;
}

}  // namespace
}  // namespace tgs::protocol

namespace tgs::protocol {
namespace {

std::optional<Message> DecodeWelcome(const Welcome& w, std::string* error) {
  return Decode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&w), sizeof w), error);
}

// The oversubscription flag travels in the Welcome; unknown bits, and the
// flag on a production class, are refused rather than half-understood.
TEST(WelcomeFlags, OversubscribeOnlyForOpportunistic) {
  Welcome w = std::get<Welcome>(MakeWelcome());
  std::string error;
  w.flags = kWelcomeOversubscribe;
  auto ok = DecodeWelcome(w, &error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(std::get<Welcome>(*ok).flags, kWelcomeOversubscribe);

  w.flags = 1u << 7;
  EXPECT_FALSE(DecodeWelcome(w, &error));
  EXPECT_EQ(error, "Welcome has flags 128 for class kind 1");

  w.flags = kWelcomeOversubscribe;
  w.class_kind = static_cast<uint32_t>(ClassKind::kProduction);
  EXPECT_FALSE(DecodeWelcome(w, &error));
  EXPECT_EQ(error, "Welcome has flags 1 for class kind 0");
}

}  // namespace
}  // namespace tgs::protocol
