// The Prometheus view of a node status (controller/metrics/metric_families.h):
// naming conventions, labels, and that a status without a container has no
// series of it.
#include "controller/metrics/metric_families.h"

#include <gtest/gtest.h>

#include <prometheus/text_serializer.h>

namespace tgs::controller {
namespace {

NodeStatus Sample() {
  NodeStatus s;
  s.controller.version = "0.1.0";
  s.gpus.push_back({});
  s.gpus[0].uuid = "GPU-00000000-0000-0000-0000-000000000001";
  s.gpus[0].memory_total_bytes = 16ull << 30;
  s.gpus[0].phase = "avoidance";
  s.gpus[0].opportunistic_limit_blocks_per_second = 1234;
  ContainerReport pod;
  pod.container = "cgroup:/kubepods.slice/x.scope";
  pod.class_name = "opportunistic";
  pod.kind = "opportunistic";
  pod.namespace_name = "ml";
  pod.pod = "trainer-0";
  pod.container_name = "main";
  pod.oversubscribe = true;
  s.containers.push_back(pod);
  ContainerOnGpu p;
  p.container = pod.container;
  p.gpu = 0;
  p.used_bytes = 3ull << 30;
  p.oversubscribed = true;
  p.unified_bytes = 2ull << 30;
  p.resident_bytes = 1ull << 30;
  p.gate_blocks_per_second = 1234;
  s.placements.push_back(p);
  return s;
}

TEST(MetricFamilies, NamesFollowPrometheusConventions) {
  for (const prometheus::MetricFamily& f : ToMetricFamilies(Sample())) {
    EXPECT_EQ(f.name.rfind("tgs_", 0), 0u) << f.name;
    bool total = f.name.size() > 6 && f.name.compare(f.name.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(total, f.type == prometheus::MetricType::Counter) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    EXPECT_FALSE(f.metric.empty()) << f.name;
  }
}

TEST(MetricFamilies, ContainerSeriesCarryGpuContainerClassNamespacePodAndContainerName) {
  std::string text = prometheus::TextSerializer().Serialize(ToMetricFamilies(Sample()));
  EXPECT_NE(text.find("tgs_container_memory_used_bytes{gpu=\"GPU-00000000-0000-0000-0000-000000000001\","
                      "container=\"cgroup:/kubepods.slice/x.scope\",class=\"opportunistic\",namespace=\"ml\","
                      "pod=\"trainer-0\",container_name=\"main\"} 3221225472"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tgs_container_unified_memory_host_bytes{"), std::string::npos) << text;
  EXPECT_NE(text.find("phase=\"avoidance\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("tgs_gpu_opportunistic_limit_blocks_per_second{gpu=\"GPU-00000000-0000-0000-0000-000000000001\"} 1234"),
            std::string::npos)
      << text;
}

TEST(MetricFamilies, UnlimitedAndUnknownValuesAreAbsentNotInfinite) {
  NodeStatus s = Sample();
  s.gpus[0].opportunistic_limit_blocks_per_second = kNoLimit;
  s.placements[0].gate_blocks_per_second = kNoLimit;
  s.placements[0].limit_bytes = 0;
  std::string text = prometheus::TextSerializer().Serialize(ToMetricFamilies(s));
  EXPECT_EQ(text.find("tgs_gpu_opportunistic_limit_blocks_per_second{"), std::string::npos) << text;
  EXPECT_EQ(text.find("tgs_container_launch_limit_blocks_per_second{"), std::string::npos) << text;
  EXPECT_EQ(text.find("tgs_container_memory_limit_bytes{"), std::string::npos) << text;
  EXPECT_EQ(text.find("Inf"), std::string::npos) << text;
}

TEST(MetricFamilies, AContainerNotInTheStatusHasNoSeries) {
  NodeStatus s = Sample();
  s.containers.clear();
  s.placements.clear();
  std::string text = prometheus::TextSerializer().Serialize(ToMetricFamilies(s));
  EXPECT_EQ(text.find("container="), std::string::npos) << text;
}

}  // namespace
}  // namespace tgs::controller
