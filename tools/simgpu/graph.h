// CUDA graphs: nodes hold the same Op a stream would execute, so stream
// capture records ops verbatim and a graph launch replays them in a
// topological order on the launch stream.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/stream.h"

struct CUgraph_st {};
struct CUgraphNode_st {};
struct CUgraphExec_st {};

namespace simgpu {

struct Graph;

struct GraphNode : CUgraphNode_st {
  CUgraphNodeType type = CU_GRAPH_NODE_TYPE_EMPTY;
  Op op;
  std::vector<GraphNode*> deps;
  Graph* graph = nullptr;
};

struct Graph : CUgraph_st {
  std::mutex mu;  // guards nodes
  std::vector<std::unique_ptr<GraphNode>> nodes;
};

struct GraphExec : CUgraphExec_st {
  std::vector<Op> ops;  // already in execution order
};

struct Capture {
  std::shared_ptr<Graph> graph;
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
  unsigned long long id = 0;
  std::mutex mu;  // guards streams
  std::vector<std::weak_ptr<Stream>> streams;  // origin first, then joined streams
};

GraphNode* AddGraphNode(Graph* graph, CUgraphNodeType type, Op op, const std::vector<GraphNode*>& deps);
// Topological order; false on a cycle.
bool InstantiateGraph(Graph* graph, GraphExec* exec);

std::shared_ptr<Graph> FindGraph(CUgraph handle);
std::shared_ptr<Graph> NewGraph();
std::shared_ptr<Graph> RemoveGraph(CUgraph handle);
std::shared_ptr<GraphExec> FindGraphExec(CUgraphExec handle);
std::shared_ptr<GraphExec> NewGraphExec();
std::shared_ptr<GraphExec> RemoveGraphExec(CUgraphExec handle);
bool NodeBelongsTo(CUgraphNode node, Graph* graph);
// Whether `node` is a node of a graph that still exists.
bool NodeIsLive(GraphNode* node);

unsigned long long NextCaptureId();

}  // namespace simgpu
