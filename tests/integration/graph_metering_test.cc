// A graph launch is metered as the kernels and blocks of its kernel nodes,
// not as one opaque launch (graphs escaped the published TGS prototype's rate
// control). Read back from the container's state file after the process exits.
#include <filesystem>

#include "shim/state/state_file.h"
#include "tests/integration/it_env.h"

namespace tgs::it {
namespace {

class GraphMeteringTest : public IntegrationTest, public ::testing::WithParamInterface<Client> {};

TEST_P(GraphMeteringTest, GraphLaunchCountsItsKernelNodes) {
  Env env = ContainerEnv({"graphs", "1GiB"});
  RunResult r = RunClient(GetParam(), env, {"graph", "3", "264", "5"});
  const ResultLine* graph = FindResult(ParseResults(r.out), "graph");
  ASSERT_NE(graph, nullptr) << r.Describe();
  ASSERT_EQ(graph->Get("status"), "CUDA_SUCCESS") << r.Describe();
  ASSERT_EQ(r.exit_code, 0) << r.Describe();

  std::string error;
  auto state = state::StateFile::Open(state_dir_, "graphs", &error);
  ASSERT_TRUE(state) << error;
  const state::GpuEntry& gpu = state->state().gpus[0];
  ASSERT_EQ(gpu.claimed.load(), 1u);
  // The process exited, so its counters were retired into the GPU entry.
  EXPECT_EQ(gpu.retired_kernels.load(), 5u * 3) << r.Describe();
  EXPECT_EQ(gpu.retired_blocks.load(), 5u * 3 * 264) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(Clients, GraphMeteringTest, ::testing::Values(Client::kLinked, Client::kProcaddr),
                         [](const ::testing::TestParamInfo<Client>& info) { return ClientName(info.param); });

}  // namespace
}  // namespace tgs::it
