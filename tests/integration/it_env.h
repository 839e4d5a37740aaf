// Shared fixture for the process-level integration tests: where the built
// pieces are, a private simulated GPU and state directory per test, and the
// environment a "container" process gets.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tests/integration/process_runner.h"

namespace tgs::it {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

// Build-tree paths, passed in by CMake (tests/integration/CMakeLists.txt).
struct Paths {
  static std::string ShimLib();      // build/lib/tgs/libtgs.so
  static std::string ShimNvmlLib();  // build/lib/tgs/libtgs-nvml.so
  static std::string SimDir();       // build/lib/tgs/simgpu
  static std::string BinDir();       // build/bin
  static std::string ClientLinked();
  static std::string ClientProcaddr();
  static std::string CudartShared();  // "" when not built
  static std::string CudartStatic();  // "" when not built
  static std::string TrainSim();      // "" when not built
  static std::string InferSim();      // "" when not built
};

enum class Client { kLinked, kProcaddr };
const char* ClientName(Client c);
inline void PrintTo(Client c, std::ostream* os) { *os << ClientName(c); }
std::string ClientPath(Client c);

// One "container" on a private simulated GPU.
struct Container {
  std::string id;     // TGS_CONTAINER_ID; empty = leave unset (cgroup path)
  std::string limit;  // TGS_MEMORY_LIMIT; empty = leave unset
};

class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Environment for a process of `c`: simulated GPU on LD_LIBRARY_PATH, the
  // shim preloaded (unless `preload` is false), private shm and state dir.
  Env ContainerEnv(const Container& c, bool preload = true) const;

  // Runs a test client with `args` as its command list; fails the test if it
  // did not exit normally (or exited with `expect_exit` other than 0/expected).
  RunResult RunClient(Client client, const Env& env, const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Simulated GPU memory per device in these tests.
  static constexpr uint64_t kSimMemory = 16 * kGiB;

  std::string shm_name_;   // TGS_SIM_SHM
  std::string state_dir_;  // TGS_STATE_DIR
};

// Fails (not skips) when a built artifact the tests depend on is missing: these
// are all part of the project, so their absence is a build problem to report.
::testing::AssertionResult BuiltArtifactsPresent();

// Text of the size for a client argument (plain bytes).
std::string Bytes(uint64_t n);

// A cgroup hierarchy root this (root) process may create cgroups in and move
// processes into: cgroup v2 (unified) first, then the v1 memory hierarchy
// unless `v2_only`; "" when none is writable.
std::string WritableCgroupRoot(bool v2_only = false);

}  // namespace tgs::it
