// The pure parts of grants (controller/grants/): admin requests, the policy
// a grant gives, the store in <state_dir>/grants.json, and the directories
// the loader keeps out of the socket's directory.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "controller/grants/grant.h"
#include "controller/grants/grant_store.h"
#include "controller/policy/loader.h"

namespace tgs::controller {
namespace {

using nlohmann::json;

policy::Policy TestPolicy() {
  policy::LoadResult r = policy::LoadPolicyText(
      "version: 1\ndefaults: { memory_limit: 1GiB }\nclasses:\n  batch: { kind: opportunistic, weight: 3, "
      "memory_limit: 6GiB }\n",
      "test.yaml");
  EXPECT_TRUE(r.policy.has_value());
  return *r.policy;
}

TEST(GrantRequest, ValidatesEveryField) {
  policy::Policy p = TestPolicy();
  std::string error;
  json ok = {{"class", "batch"},
             {"memory_limit_bytes", 4ull << 30},
             {"gpus", {"a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf"}},
             {"devices", {"x::1", "x::2"}},
             {"resource", "tgs.io/batch-gib"},
             {"owner", "tgs-device-plugin"},
             {"labels", {{"namespace", "ml"}}}};
  std::optional<Allocation> a = AllocationFromRequest(ok, p, &error);
  ASSERT_TRUE(a) << error;
  EXPECT_TRUE(IsAllocationId(a->id));
  EXPECT_EQ(a->gpus, std::vector<std::string>{"GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf"});  // one spelling
  EXPECT_EQ(a->devices.size(), 2u);
  EXPECT_GT(a->created_unix, 1.7e9);
  EXPECT_NE(AllocationFromRequest(ok, p, &error)->id, a->id);

  auto refused = [&](json change, const std::string& expected) {
    json r = ok;
    r.update(change);
    std::string why;
    EXPECT_FALSE(AllocationFromRequest(r, p, &why)) << change.dump();
    EXPECT_NE(why.find(expected), std::string::npos) << why;
  };
  refused({{"class", "gold"}}, "class 'gold' is not defined in the policy (test.yaml: batch, opportunistic, production)");
  refused({{"class", 3}}, "grant needs a class");
  refused({{"memory_limit_bytes", -1}}, "memory_limit_bytes must be a non-negative integer");
  refused({{"memory_limit_bytes", "4GiB"}}, "memory_limit_bytes must be a non-negative integer");
  refused({{"gpus", {"GPU-nothex"}}}, "gpus: 'GPU-nothex' is not a GPU UUID");
  refused({{"gpus", "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf"}}, "gpus must be a list of strings");
  refused({{"devices", {1, 2}}}, "devices must be a list of printable strings");
  refused({{"owner", "a\nb"}}, "owner must be a printable string");
  refused({{"labels", {{"pod", 7}}}}, "labels: 'pod' must be a non-empty printable key");
}

TEST(GrantPolicy, ClassThenAllocationLimit) {
  policy::Policy p = TestPolicy();
  std::string warning;
  policy::ContainerPolicy batch = GrantPolicy(p, "batch", 0, &warning);
  EXPECT_EQ(batch.kind, policy::Kind::kOpportunistic);
  EXPECT_EQ(batch.weight, 3);
  EXPECT_EQ(batch.memory_limit_bytes, 6ull << 30);
  EXPECT_TRUE(batch.oversubscribe);
  EXPECT_EQ(GrantPolicy(p, "batch", 2ull << 30, &warning).memory_limit_bytes, 2ull << 30);
  policy::ContainerPolicy prod = GrantPolicy(p, "production", 0, &warning);
  EXPECT_EQ(prod.kind, policy::Kind::kProduction);
  EXPECT_EQ(prod.memory_limit_bytes, 1ull << 30);  // defaults.memory_limit
  EXPECT_TRUE(warning.empty());
  policy::ContainerPolicy gone = GrantPolicy(p, "gold", 0, &warning);
  EXPECT_EQ(gone.kind, policy::Kind::kOpportunistic);
  EXPECT_NE(warning.find("class 'gold' is no longer in the policy"), std::string::npos) << warning;
}

TEST(GrantStoreTest, RoundTripsAndSetsABadFileAside) {
  char tmpl[] = "/tmp/tgs-grant-store-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/grants.json";
  std::string error;
  GrantStore store;
  ASSERT_TRUE(store.Load(path, &error)) << error;  // missing: empty
  std::optional<Allocation> a = AllocationFromRequest(
      {{"class", "batch"}, {"memory_limit_bytes", 123}, {"labels", {{"pod", "p"}}}}, TestPolicy(), &error);
  ASSERT_TRUE(a);
  store.AddAllocation(*a);
  store.BindClass("cgroup:/x", "batch");
  ASSERT_TRUE(store.Save(&error)) << error;

  GrantStore again;
  ASSERT_TRUE(again.Load(path, &error)) << error;
  const Allocation* b = again.FindAllocation(a->id);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->class_name, "batch");
  EXPECT_EQ(b->memory_limit_bytes, 123u);
  EXPECT_EQ(b->labels.at("pod"), "p");
  EXPECT_EQ(again.ClassBinding("cgroup:/x"), "batch");

  std::ofstream(path) << R"({"format": 1, "allocations": [{"id": "nothex", "class": "batch"}]})";
  GrantStore bad;
  EXPECT_FALSE(bad.Load(path, &error));
  EXPECT_NE(error.find("id 'nothex' is not 32 lowercase hex digits"), std::string::npos) << error;
  EXPECT_TRUE(std::filesystem::exists(path + ".bad"));
  EXPECT_TRUE(bad.allocations().empty());
  std::filesystem::remove_all(tmpl);
}

TEST(GrantConfig, GrantAndStateDirectoriesStayOutOfTheSocketDirectory) {
  for (const char* key : {"grant_dir", "state_dir"}) {
    std::string text = std::string("version: 1\ncontroller:\n  socket: /run/x/tgs.sock\n  ") + key + ": /run/x/sub\n";
    policy::LoadResult r = policy::LoadPolicyText(text, "c.yaml");
    ASSERT_FALSE(r.policy) << key;
    ASSERT_FALSE(r.errors.empty());
    EXPECT_NE(r.errors[0].ToString().find(std::string("controller.") + key +
                                          ": must not be inside the directory of controller.socket (/run/x/)"),
              std::string::npos)
        << r.errors[0].ToString();
  }
  policy::LoadResult fine = policy::LoadPolicyText(
      "version: 1\ncontroller:\n  socket: /run/x/tgs.sock\n  grant_dir: /run/x-grants\n", "c.yaml");
  ASSERT_TRUE(fine.policy);
  EXPECT_EQ(fine.policy->controller.grant_dir, "/run/x-grants");
}

}  // namespace
}  // namespace tgs::controller
