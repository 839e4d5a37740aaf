#include "shim/launch/graph_cost.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

namespace tgs::launch {
namespace {

TEST(GraphCostTable, RecordsFindsAndForgets) {
  auto table = std::make_unique<GraphCostTable>();
  EXPECT_TRUE(table->Insert(0x5000, GraphCost{3, 792}));
  GraphCost c = table->Find(0x5000);
  EXPECT_EQ(c.kernels, 3u);
  EXPECT_EQ(c.blocks, 792u);
  table->Erase(0x5000);
  c = table->Find(0x5000);
  EXPECT_EQ(c.kernels, 1u);  // unknown graphs still count as one launch
  EXPECT_EQ(c.blocks, 0u);
}

TEST(GraphCostTable, ErasedSlotsDoNotHideLaterEntries) {
  auto table = std::make_unique<GraphCostTable>();
  // Many keys, so that some collide and probe past erased slots.
  for (uint64_t k = 2; k < 3000; ++k) ASSERT_TRUE(table->Insert(k * 64, GraphCost{k, k}));
  for (uint64_t k = 2; k < 3000; k += 2) table->Erase(k * 64);
  for (uint64_t k = 3; k < 3000; k += 2) EXPECT_EQ(table->Find(k * 64).blocks, k);
  for (uint64_t k = 2; k < 3000; k += 2) EXPECT_EQ(table->Find(k * 64).blocks, 0u);
}

TEST(GraphCostTable, FullTableRefusesInsteadOfLooping) {
  auto table = std::make_unique<GraphCostTable>();
  for (uint64_t k = 0; k < GraphCostTable::kCapacity; ++k) ASSERT_TRUE(table->Insert((k + 2) * 16, GraphCost{1, 1}));
  EXPECT_FALSE(table->Insert(0xdead0000, GraphCost{1, 1}));
  EXPECT_EQ(table->Find(0xdead0000).kernels, 1u);
}

TEST(GraphCostTable, ConcurrentReadersAndWriters) {
  auto table = std::make_unique<GraphCostTable>();
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (uint64_t i = 0; i < 20000; ++i) {
        uint64_t key = ((i % 500) + 2 + w * 1000) * 32;
        table->Insert(key, GraphCost{2, 10});
        if (i % 3 == 0) table->Erase(key);
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      for (uint64_t k = 2; k < 2500; ++k) {
        GraphCost c = table->Find(k * 32);
        ASSERT_TRUE((c.kernels == 2 && c.blocks == 10) || (c.kernels == 1 && c.blocks == 0));
      }
    }
  });
  threads[0].join();
  threads[1].join();
  stop = true;
  threads[2].join();
}

}  // namespace
}  // namespace tgs::launch
