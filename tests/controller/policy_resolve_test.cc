// Container -> policy matching: first match wins, conditions combine, and
// limits and weights fall through rule -> class -> defaults.
#include <gtest/gtest.h>

#include "controller/policy/loader.h"
#include "controller/policy/policy.h"
#include "policy_test_util.h"

namespace tgs::policy {
namespace {

Policy MustLoad(std::string_view text) {
  LoadResult r = testing::Load(text);
  EXPECT_TRUE(r.ok()) << testing::AllErrors(r);
  return r.ok() ? *r.policy : DefaultPolicy();
}

ContainerIdentity Id(std::string id, std::string cgroup = "", std::map<std::string, std::string> labels = {}) {
  return ContainerIdentity{std::move(id), std::move(cgroup), std::move(labels)};
}

constexpr std::string_view kPolicy = R"(version: 1
defaults:
  memory_limit: 2GiB
classes:
  batch: { kind: opportunistic, weight: 3, memory_limit: 6GiB, oversubscribe: true }
containers:
  - match: { id: train-prod }
    class: production
    memory_limit: 20GiB
  - match: { cgroup: "/kubepods.slice/*/cri-containerd-*.scope" }
    class: batch
  - match: { labels: { "tgs.io/class": "production" } }
    class: production
  - match: { id: special, labels: { team: a } }
    class: batch
    weight: 7
    memory_limit: 0
)";

TEST(PolicyResolve, ExactIdMatch) {
  Policy p = MustLoad(kPolicy);
  ContainerPolicy c = Resolve(p, Id("train-prod"));
  EXPECT_EQ(c.class_name, "production");
  EXPECT_EQ(c.kind, Kind::kProduction);
  EXPECT_EQ(c.memory_limit_bytes, 20ull << 30);
  EXPECT_EQ(c.rule_index, 0);
  EXPECT_EQ(c.rule_line, 7);
  EXPECT_EQ(c.MatchedBy(), "containers[0] (line 7)");
  // Ids are exact, not prefixes or globs.
  EXPECT_EQ(Resolve(p, Id("train-prod-2")).rule_index, -1);
  EXPECT_EQ(Resolve(p, Id("TRAIN-PROD")).rule_index, -1);
}

TEST(PolicyResolve, FirstMatchWins) {
  Policy p = MustLoad(kPolicy);
  // Matches rules 0 (id), 1 (cgroup) and 2 (label): rule 0 decides.
  ContainerPolicy c = Resolve(p, Id("train-prod", "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-1.scope",
                                    {{"tgs.io/class", "production"}}));
  EXPECT_EQ(c.rule_index, 0);
  // Without the id, the cgroup rule comes before the label rule.
  c = Resolve(
      p, Id("x", "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-1.scope", {{"tgs.io/class", "production"}}));
  EXPECT_EQ(c.rule_index, 1);
  EXPECT_EQ(c.class_name, "batch");
  c = Resolve(p, Id("x", "/system.slice/foo.scope", {{"tgs.io/class", "production"}}));
  EXPECT_EQ(c.rule_index, 2);
  EXPECT_EQ(c.kind, Kind::kProduction);
}

TEST(PolicyResolve, CgroupGlobStarSpansSlashes) {
  Policy p = MustLoad(kPolicy);
  // Guaranteed pods sit directly under kubepods.slice's child, burstable ones one slice deeper.
  EXPECT_EQ(Resolve(p, Id("", "/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope")).rule_index, 1);
  EXPECT_EQ(Resolve(p, Id("",
                          "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
                          "cri-containerd-abc.scope"))
                .rule_index,
            1);
  EXPECT_EQ(Resolve(p, Id("", "/kubepods.slice/cri-containerd-abc.scope")).rule_index, -1);       // needs a middle part
  EXPECT_EQ(Resolve(p, Id("", "/kubepods.slice/a/b/c/cri-containerd-abc.scope")).rule_index, 1);  // '*' spans '/'
  EXPECT_EQ(Resolve(p, Id("", "/kubepods.slice/a/cri-containerd-abc.scope/sub")).rule_index, -1);  // whole path
  EXPECT_EQ(Resolve(p, Id("", "/system.slice/docker-abc.scope")).rule_index, -1);
}

TEST(PolicyResolve, LabelsMustAllMatchExactly) {
  Policy p = MustLoad(kPolicy);
  EXPECT_EQ(Resolve(p, Id("", "", {{"tgs.io/class", "production"}, {"other", "x"}})).rule_index, 2);
  EXPECT_EQ(Resolve(p, Id("", "", {{"tgs.io/class", "Production"}})).rule_index, -1);
  EXPECT_EQ(Resolve(p, Id("", "", {{"tgs.io/klass", "production"}})).rule_index, -1);
}

TEST(PolicyResolve, ConditionsOfOneRuleAllHold) {
  Policy p = MustLoad(kPolicy);
  EXPECT_EQ(Resolve(p, Id("special", "", {{"team", "a"}})).rule_index, 3);
  EXPECT_EQ(Resolve(p, Id("special", "", {{"team", "b"}})).rule_index, -1);
  EXPECT_EQ(Resolve(p, Id("special")).rule_index, -1);
  EXPECT_EQ(Resolve(p, Id("other", "", {{"team", "a"}})).rule_index, -1);
}

TEST(PolicyResolve, EmptyIdentityFieldsNeverMatch) {
  Policy p = MustLoad("version: 1\ncontainers:\n  - match: { cgroup: \"*\" }\n    class: production\n");
  EXPECT_EQ(Resolve(p, Id("a", "")).rule_index, -1);
  EXPECT_EQ(Resolve(p, Id("a", "/any")).rule_index, 0);
  Policy by_id = MustLoad("version: 1\ncontainers:\n  - match: { labels: { k: \"\" } }\n    class: production\n");
  EXPECT_EQ(Resolve(by_id, Id("a", "", {{"k", ""}})).rule_index, 0);  // an empty label value is a value
  EXPECT_EQ(Resolve(by_id, Id("a")).rule_index, -1);
}

TEST(PolicyResolve, DefaultWhenNothingMatches) {
  Policy p = MustLoad(kPolicy);
  ContainerPolicy c = Resolve(p, Id("nobody", "/system.slice/x.scope", {{"a", "b"}}));
  EXPECT_EQ(c.rule_index, -1);
  EXPECT_EQ(c.rule_line, 0);
  EXPECT_EQ(c.MatchedBy(), "default");
  EXPECT_EQ(c.class_name, "opportunistic");
  EXPECT_EQ(c.kind, Kind::kOpportunistic);
  EXPECT_EQ(c.memory_limit_bytes, 2ull << 30);
  EXPECT_EQ(c.weight, 1);
  EXPECT_TRUE(c.oversubscribe);  // the opportunistic kind's default
  EXPECT_EQ(c.resident_limit_bytes, 0u);
}

TEST(PolicyResolve, LimitsAndWeightsFallThrough) {
  Policy p = MustLoad(kPolicy);
  // Class values when the rule sets none.
  ContainerPolicy batch = Resolve(p, Id("", "/kubepods.slice/a/cri-containerd-1.scope"));
  EXPECT_EQ(batch.weight, 3);
  EXPECT_EQ(batch.memory_limit_bytes, 6ull << 30);
  EXPECT_TRUE(batch.oversubscribe);
  // Rule values override the class's; an explicit 0 lifts the class's limit.
  ContainerPolicy special = Resolve(p, Id("special", "", {{"team", "a"}}));
  EXPECT_EQ(special.weight, 7);
  EXPECT_EQ(special.memory_limit_bytes, 0u);
  EXPECT_TRUE(special.oversubscribe);
  // Defaults' limit when neither rule nor class has one.
  ContainerPolicy labelled = Resolve(p, Id("", "", {{"tgs.io/class", "production"}}));
  EXPECT_EQ(labelled.memory_limit_bytes, 2ull << 30);
}

TEST(PolicyResolve, DefaultClassCanBeCustom) {
  Policy p = MustLoad(
      "version: 1\ndefaults: { class: batch }\nclasses:\n  batch: { kind: opportunistic, weight: 4, "
      "memory_limit: 1GiB }\ncontainers:\n  - match: { id: a }\n");
  ContainerPolicy rule = Resolve(p, Id("a"));
  EXPECT_EQ(rule.class_name, "batch");  // a rule without class takes defaults.class
  EXPECT_EQ(rule.weight, 4);
  ContainerPolicy fallback = Resolve(p, Id("z"));
  EXPECT_EQ(fallback.class_name, "batch");
  EXPECT_EQ(fallback.memory_limit_bytes, 1ull << 30);
}

TEST(PolicyResolve, HandBuiltPolicyWithUnknownClassIsOpportunistic) {
  Policy p;  // no classes at all
  Rule rule;
  rule.match.id = "a";
  rule.class_name = "ghost";
  p.rules.push_back(rule);
  ContainerPolicy c = Resolve(p, Id("a"));
  EXPECT_EQ(c.class_name, "ghost");
  EXPECT_EQ(c.kind, Kind::kOpportunistic);
  EXPECT_EQ(c.weight, 1);
  // A rule with no conditions is never a catch-all.
  Policy q = DefaultPolicy();
  q.rules.push_back(Rule{});
  EXPECT_EQ(Resolve(q, Id("a", "/x", {{"k", "v"}})).rule_index, -1);
}

TEST(PolicyResolve, PolicyForRule) {
  Policy p = MustLoad(kPolicy);
  EXPECT_EQ(PolicyForRule(p, 0).memory_limit_bytes, 20ull << 30);
  EXPECT_EQ(PolicyForRule(p, -1).MatchedBy(), "default");
  EXPECT_EQ(PolicyForRule(p, 99).rule_index, -1);  // out of range: the defaults
}

}  // namespace
}  // namespace tgs::policy
