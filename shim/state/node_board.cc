#include "shim/state/node_board.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace tgs::state {
namespace {

NodeBoard* Map(int fd) {
  void* mem = mmap(nullptr, sizeof(NodeBoard), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return mem == MAP_FAILED ? nullptr : static_cast<NodeBoard*>(mem);
}

bool Valid(const NodeBoard& b) {
  return b.magic.load(std::memory_order_acquire) == kBoardMagic && b.layout_version == kBoardLayoutVersion &&
         b.file_size == sizeof(NodeBoard);
}

}  // namespace

std::unique_ptr<BoardFile> BoardFile::Open(const std::string& dir, std::string* error) {
  std::string path = dir + "/" + kBoardFileName;
  // Shims write to it through the descriptor they are given, never by path;
  // only the controller opens it by name.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 ||
      (static_cast<size_t>(st.st_size) != sizeof(NodeBoard) && ftruncate(fd, sizeof(NodeBoard)) != 0)) {
    *error = "cannot size " + path + ": " + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  NodeBoard* board = Map(fd);
  if (board == nullptr) {
    *error = "cannot map " + path + ": " + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  if (!Valid(*board)) {
    // A new file, or one of another layout: start over. (Shims of an older
    // layout keep their own mapping of the bytes and are refused at Adopt.)
    std::memset(static_cast<void*>(board), 0, sizeof(NodeBoard));
    board->layout_version = kBoardLayoutVersion;
    board->file_size = sizeof(NodeBoard);
    board->magic.store(kBoardMagic, std::memory_order_release);
  }
  for (BoardGpu& g : board->gpus) g.production_processes.store(0, std::memory_order_relaxed);
  return std::unique_ptr<BoardFile>(new BoardFile(std::move(path), fd, board));
}

std::unique_ptr<BoardFile> BoardFile::Adopt(int fd, std::string* error) {
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < sizeof(NodeBoard)) {
    *error = "the received node board is not a TGS node board";
    close(fd);
    return nullptr;
  }
  NodeBoard* board = Map(fd);
  if (board == nullptr || !Valid(*board)) {
    if (board == nullptr) {
      *error = std::string("cannot map the received node board: ") + std::strerror(errno);
    } else if (board->magic.load(std::memory_order_acquire) != kBoardMagic) {
      *error = "the received file is not a TGS node board";
    } else {
      *error = "the received node board has layout version " + std::to_string(board->layout_version) +
               "; this shim speaks version " + std::to_string(kBoardLayoutVersion);
    }
    if (board != nullptr) munmap(board, sizeof(NodeBoard));
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<BoardFile>(new BoardFile("(node board from tgs-controller)", fd, board));
}

BoardFile::~BoardFile() {
  munmap(board_, sizeof(NodeBoard));
  close(fd_);
}

int FindBoardGpu(const NodeBoard& board, const uint8_t uuid[16]) {
  for (int g = 0; g < kBoardGpus; ++g) {
    const BoardGpu& e = board.gpus[g];
    if (e.claimed.load(std::memory_order_acquire) == 1 && std::memcmp(e.uuid, uuid, 16) == 0) return g;
  }
  return -1;
}

int BoardFile::FindOrClaimGpu(const uint8_t uuid[16]) {
  if (int g = FindGpu(uuid); g >= 0) return g;
  for (int g = 0; g < kBoardGpus; ++g) {
    BoardGpu& e = board_->gpus[g];
    if (e.claimed.load(std::memory_order_relaxed) != 0) continue;
    std::memcpy(e.uuid, uuid, 16);
    e.claimed.store(1, std::memory_order_release);
    return g;
  }
  return -1;
}

}  // namespace tgs::state
