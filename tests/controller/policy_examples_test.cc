// The shipped examples load, mean what their comments say, and the schema
// reference documents every key the loader accepts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/policy/loader.h"
#include "controller/policy/schema.h"
#include "policy_test_util.h"

namespace tgs::policy {
namespace {

namespace fs = std::filesystem;

const fs::path kConfigDir = TGS_CONFIG_DIR;

std::vector<fs::path> Examples() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(kConfigDir / "examples")) {
    if (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

Policy MustLoadExample(const std::string& name) {
  LoadResult r = LoadPolicyFile((kConfigDir / "examples" / name).string());
  EXPECT_TRUE(r.ok()) << testing::AllErrors(r);
  return r.ok() ? *r.policy : DefaultPolicy();
}

TEST(PolicyExamples, EveryExampleLoadsWithoutWarnings) {
  std::vector<fs::path> examples = Examples();
  ASSERT_GE(examples.size(), 4u) << "examples expected under " << kConfigDir;
  for (const fs::path& path : examples) {
    LoadResult r = LoadPolicyFile(path.string());
    EXPECT_TRUE(r.ok()) << path << "\n" << testing::AllErrors(r);
    EXPECT_TRUE(r.warnings.empty()) << path << "\n" << testing::AllErrors(r);
  }
}

TEST(PolicyExamples, RequiredExamplesExist) {
  for (const char* name : {"minimal.yaml", "production-and-opportunistic.yaml", "kubernetes.yaml", "weights.yaml"}) {
    EXPECT_TRUE(fs::exists(kConfigDir / "examples" / name)) << name;
  }
}

TEST(PolicyExamples, Minimal) {
  Policy p = MustLoadExample("minimal.yaml");
  EXPECT_TRUE(p.rules.empty());
  EXPECT_EQ(Resolve(p, {"anything", "/x", {}}).kind, Kind::kOpportunistic);
}

TEST(PolicyExamples, ProductionAndOpportunistic) {
  Policy p = MustLoadExample("production-and-opportunistic.yaml");
  ContainerPolicy prod = Resolve(p, {"train-prod", "", {}});
  EXPECT_EQ(prod.kind, Kind::kProduction);
  EXPECT_EQ(prod.memory_limit_bytes, 20ull << 30);
  ContainerPolicy other = Resolve(p, {"someone", "", {}});
  EXPECT_EQ(other.kind, Kind::kOpportunistic);
  EXPECT_EQ(other.memory_limit_bytes, 8ull << 30);
  EXPECT_EQ(Resolve(p, {"notebook-alice", "", {}}).memory_limit_bytes, 4ull << 30);
}

TEST(PolicyExamples, KubernetesClassesForTheDevicePlugin) {
  Policy p = MustLoadExample("kubernetes.yaml");
  // The plugin's default resources, and the extra class the comments mention.
  for (const char* cls : {"production", "opportunistic", "batch"}) EXPECT_TRUE(p.classes.contains(cls)) << cls;
  EXPECT_EQ(p.controller.grant_dir, "/run/tgs-grants");
  ContainerPolicy batch;
  ApplyClass(p, "batch", &batch);
  EXPECT_EQ(batch.weight, 2);
  EXPECT_TRUE(batch.oversubscribe);
  EXPECT_EQ(batch.resident_limit_bytes, 12ull << 30);
  ContainerPolicy by_hand = Resolve(
      p, {"", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9.slice/cri-containerd-1.scope", {}});
  EXPECT_EQ(by_hand.class_name, "opportunistic");
  EXPECT_EQ(by_hand.memory_limit_bytes, 4ull << 30);
  EXPECT_NE(by_hand.rule_index, -1);
}

TEST(PolicyExamples, ThreeWeightedOpportunisticContainers) {
  Policy p = MustLoadExample("weights.yaml");
  EXPECT_EQ(Resolve(p, {"llm-serving", "", {}}).kind, Kind::kProduction);
  std::vector<int> weights;
  for (const char* id : {"trainer-small", "trainer-medium", "trainer-large"}) {
    ContainerPolicy c = Resolve(p, {id, "", {}});
    EXPECT_EQ(c.kind, Kind::kOpportunistic) << id;
    EXPECT_TRUE(c.oversubscribe) << id;
    weights.push_back(c.weight);
  }
  EXPECT_EQ(weights, (std::vector<int>{1, 2, 5}));
  EXPECT_EQ(Resolve(p, {"trainer-large", "", {}}).memory_limit_bytes, 20ull << 30);
  EXPECT_EQ(Resolve(p, {"trainer-small", "", {}}).memory_limit_bytes, 12ull << 30);
  EXPECT_EQ(p.control.interval_ms, 50);
}

// The reference must name every key the loader accepts, and state each
// control parameter's default as the code has it.
TEST(PolicyExamples, ReadmeDocumentsEveryKeyAndDefault) {
  std::string readme = ReadFile(kConfigDir / "README.md");
  ASSERT_FALSE(readme.empty());
  for (const char* key : {"version", "controller", "socket", "admin_socket", "metrics_listen", "state_dir", "grant_dir", "control",
                          "defaults", "class", "memory_limit", "classes", "kind", "weight", "oversubscribe",
                          "containers", "match", "id", "cgroup", "labels", "resident_limit", "unshimmed"}) {
    EXPECT_NE(readme.find("`" + std::string(key) + "`"), std::string::npos) << key;
  }
  const ControlParams defaults;
  for (const ControlField& f : ControlFields()) {
    std::string value;
    if (auto* int_field = std::get_if<int ControlParams::*>(&f.field)) {
      value = std::to_string(defaults.*(*int_field));
    } else if (auto* bool_field = std::get_if<bool ControlParams::*>(&f.field)) {
      value = defaults.*(*bool_field) ? "true" : "false";
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", defaults.*std::get<double ControlParams::*>(f.field));
      value = buf;
    }
    // A table row: | `key` | type | default | range | meaning |
    size_t row = readme.find("| `" + std::string(f.key) + "` |");
    ASSERT_NE(row, std::string::npos) << f.key << " has no row in config/README.md";
    std::string line = readme.substr(row, readme.find('\n', row) - row);
    EXPECT_NE(line.find("| " + value + " |"), std::string::npos) << f.key << " default " << value << " in: " << line;
  }
}

}  // namespace
}  // namespace tgs::policy
