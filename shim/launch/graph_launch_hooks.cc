// Graph instantiation: walk the graph once (kernel nodes, child graphs) and
// record what one launch of the executable graph costs, so that each
// cuGraphLaunch meters and gates exactly that. Updates applied to an
// executable graph later (cuGraphExecUpdate, ...SetParams) are not followed.
#include <vector>

#include "shim/core/runtime.h"
#include "shim/interpose/hooks.h"
#include "shim/launch/graph_cost.h"

namespace tgs::hooks {
namespace {

const RealCuda& Real() { return Runtime::Get().real(); }

void AddCost(const RealCuda& real, CUgraph graph, int depth, launch::GraphCost* cost) {
  size_t count = 0;
  if (depth > 8 || CallReal(real.cuGraphGetNodes, graph, nullptr, &count) != CUDA_SUCCESS || count == 0) return;
  std::vector<CUgraphNode> nodes(count);
  if (CallReal(real.cuGraphGetNodes, graph, nodes.data(), &count) != CUDA_SUCCESS) return;
  for (size_t i = 0; i < count; ++i) {
    CUgraphNodeType type;
    if (CallReal(real.cuGraphNodeGetType, nodes[i], &type) != CUDA_SUCCESS) continue;
    if (type == CU_GRAPH_NODE_TYPE_KERNEL) {
      CUDA_KERNEL_NODE_PARAMS p{};
      if (CallReal(real.cuGraphKernelNodeGetParams_v2, nodes[i], &p) != CUDA_SUCCESS) continue;
      cost->kernels += 1;
      cost->blocks += static_cast<uint64_t>(p.gridDimX) * p.gridDimY * p.gridDimZ;
    } else if (type == CU_GRAPH_NODE_TYPE_GRAPH) {
      CUgraph child = nullptr;
      if (CallReal(real.cuGraphChildGraphNodeGetGraph, nodes[i], &child) == CUDA_SUCCESS) {
        AddCost(real, child, depth + 1, cost);
      }
    }
  }
}

CUresult Record(CUresult r, CUgraphExec* exec, CUgraph graph) {
  if (r != CUDA_SUCCESS || exec == nullptr) return r;
  launch::GraphCost cost;
  AddCost(Real(), graph, 0, &cost);
  if (cost.kernels == 0) cost.kernels = 1;  // still one launch to meter
  launch::GraphCosts().Insert(reinterpret_cast<uint64_t>(*exec), cost);
  return r;
}

}  // namespace

CUresult cuGraphInstantiate(CUgraphExec* exec, CUgraph graph, CUgraphNode* error_node, char* log, size_t size) {
  return Record(CallReal(Real().cuGraphInstantiate, exec, graph, error_node, log, size), exec, graph);
}
CUresult cuGraphInstantiate_v2(CUgraphExec* exec, CUgraph graph, CUgraphNode* error_node, char* log, size_t size) {
  return Record(CallReal(Real().cuGraphInstantiate_v2, exec, graph, error_node, log, size), exec, graph);
}
CUresult cuGraphInstantiateWithFlags(CUgraphExec* exec, CUgraph graph, unsigned long long flags) {
  return Record(CallReal(Real().cuGraphInstantiateWithFlags, exec, graph, flags), exec, graph);
}
CUresult cuGraphInstantiateWithParams(CUgraphExec* exec, CUgraph graph, CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  return Record(CallReal(Real().cuGraphInstantiateWithParams, exec, graph, params), exec, graph);
}
CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec* exec, CUgraph graph, CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  return Record(CallReal(Real().cuGraphInstantiateWithParams_ptsz, exec, graph, params), exec, graph);
}
CUresult cuGraphExecDestroy(CUgraphExec exec) {
  launch::GraphCosts().Erase(reinterpret_cast<uint64_t>(exec));
  return CallReal(Real().cuGraphExecDestroy, exec);
}

}  // namespace tgs::hooks
