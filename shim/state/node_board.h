// The node board: the one piece of state shared by *all* containers of a
// node, one entry per GPU (by UUID). THIS FILE IS ITS LAYOUT: any change to
// the structs below bumps kBoardLayoutVersion. (Per-container state is in
// container_state.h.)
//
// Why it exists: an opportunistic kernel that the device starts while
// production has work queued delays production by that kernel's length, and
// a rate limit alone cannot stop that (controller/README.md). So production
// shims publish here, per GPU, whether they have work in flight, and
// opportunistic shims wait while they do: within microseconds, with no
// daemon in the loop.
//
// Who writes what:
// - tgs-controller creates "<state_dir>/tgs-node-board", claims an entry for
//   every GPU a process registers with, counts the registered production
//   processes per GPU (`production_processes`), sets `yield` from the policy
//   (control.yield_to_production), and hands the file to every shim with its
//   Welcome (a second SCM_RIGHTS descriptor).
// - A production shim increments `production_inflight` when it launches
//   after having none in flight, decrements it when a synchronisation
//   (stream/context/event synchronize, a successful stream query, a
//   synchronous copy to the host) returns or a host callback runs with
//   nothing launched since it was queued, and on every launch adds its
//   blocks to `production_blocks` and stamps `production_last_launch_ns`.
// - Opportunistic shims only read it.
//
// Crash safety: a production process that dies with work in flight leaves
// `production_inflight` raised. Readers therefore treat production as busy
// only while it also launched within kProductionStaleNs, and the controller
// clears the count when a GPU's last production process goes away.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace tgs::state {

inline constexpr uint64_t kBoardMagic = 0x4452414f42534754ull;  // "TGSBOARD" little-endian
inline constexpr uint32_t kBoardLayoutVersion = 2;  // 2: device memory
inline constexpr int kBoardGpus = 64;
inline constexpr char kBoardFileName[] = "tgs-node-board";
// Production flagged busy but silent this long counts as idle (a crashed
// process, or a wait the shim does not see).
inline constexpr int64_t kProductionStaleNs = 500'000'000;
// Production that launched on a GPU this recently is "on" it: opportunistic
// streams there keep at most one kernel queued (yield_to_production.h).
// Longer quiet and opportunistic work gets the whole GPU, pipelining
// included (the controller opens the gates after control.idle_release_ms).
inline constexpr int64_t kProductionRecentNs = 500'000'000;

struct alignas(64) BoardGpu {
  std::atomic<uint32_t> claimed;  // 0 = free, 1 = uuid valid (controller only)
  uint8_t uuid[16];
  std::atomic<uint32_t> production_processes;  // registered production processes (controller)
  std::atomic<uint32_t> yield;  // 1: opportunistic launches yield to production (controller, from policy)
  // The device's memory as the driver reports it (cuDeviceTotalMem), stored
  // by the first shim that attaches: the controller needs it to decide how
  // much opportunistic unified memory may stay resident, and loads no driver.
  std::atomic<uint64_t> total_memory_bytes;
  // Written by production shims, on their own cache line.
  alignas(64) std::atomic<int32_t> production_inflight;  // processes with unsynchronised work
  std::atomic<int64_t> production_last_launch_ns;          // CLOCK_MONOTONIC_COARSE
  // Blocks production launched on this GPU, all processes. Added before
  // production_last_launch_ns is stamped, so the pair read together gives
  // the controller launch instants and the work up to them: a rate free of
  // the quantisation of fixed sampling instants.
  std::atomic<uint64_t> production_blocks;
  std::atomic<uint64_t> production_busy_periods;           // 0 -> 1 transitions of production_inflight
};

struct alignas(64) NodeBoard {
  std::atomic<uint64_t> magic;  // written last (release) when initialisation completes
  uint32_t layout_version;
  uint32_t file_size;
  BoardGpu gpus[kBoardGpus];
};

// Production's state on one GPU as opportunistic shims see it.
inline bool ProductionPresent(const BoardGpu& g) {
  return g.production_processes.load(std::memory_order_relaxed) != 0;
}
// Whether opportunistic launches must yield to production on this GPU: the
// policy says so, and a registered production process launched here within
// kProductionRecentNs (a production process sees every GPU of its container,
// but may use only some of them).
inline bool YieldRequired(const BoardGpu& g, int64_t now_ns) {
  int64_t last = g.production_last_launch_ns.load(std::memory_order_relaxed);
  return g.yield.load(std::memory_order_relaxed) != 0 && ProductionPresent(g) && last != 0 &&
         now_ns - last < kProductionRecentNs;
}
inline bool ProductionBusy(const BoardGpu& g, int64_t now_ns) {
  return g.production_inflight.load(std::memory_order_acquire) > 0 &&
         now_ns - g.production_last_launch_ns.load(std::memory_order_relaxed) < kProductionStaleNs;
}

// Lock-free lookup of a GPU's entry by UUID; -1 when no entry has it.
int FindBoardGpu(const NodeBoard& board, const uint8_t uuid[16]);

class BoardFile {
 public:
  // tgs-controller: opens or creates "<dir>/tgs-node-board". A board left by
  // an earlier controller is kept (shims still map it); its production
  // process counts restart from zero, since processes re-register.
  static std::unique_ptr<BoardFile> Open(const std::string& dir, std::string* error);
  // A shim: maps the board received from the controller, taking `fd`.
  static std::unique_ptr<BoardFile> Adopt(int fd, std::string* error);
  ~BoardFile();
  BoardFile(const BoardFile&) = delete;
  BoardFile& operator=(const BoardFile&) = delete;

  NodeBoard& board() { return *board_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  int FindGpu(const uint8_t uuid[16]) const { return FindBoardGpu(*board_, uuid); }
  // The controller (single-threaded) claims entries; -1 when the table is full.
  int FindOrClaimGpu(const uint8_t uuid[16]);

 private:
  BoardFile(std::string path, int fd, NodeBoard* board) : path_(std::move(path)), fd_(fd), board_(board) {}
  std::string path_;
  int fd_;
  NodeBoard* board_;
};

}  // namespace tgs::state
