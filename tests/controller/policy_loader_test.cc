// Validation: every kind of mistake is reported at its exact line and
// column, with a message that names the key and says what is allowed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "controller/policy/loader.h"
#include "policy_test_util.h"

namespace tgs::policy {
namespace {

using testing::HasErrorAt;
using testing::HasWarningAt;
using testing::Load;

TEST(PolicyLoader, VersionAloneYieldsEveryDefault) {
  LoadResult r = Load("version: 1\n");
  ASSERT_TRUE(r.ok()) << testing::AllErrors(r);
  const Policy& p = *r.policy;
  EXPECT_EQ(p.source, "test.yaml");
  EXPECT_EQ(p.controller.socket, "/run/tgs/tgs.sock");
  EXPECT_EQ(p.controller.admin_socket, "/run/tgs-admin/admin.sock");
  EXPECT_EQ(p.controller.metrics_listen, "127.0.0.1:9400");
  EXPECT_EQ(p.controller.state_dir, "/run/tgs-state");
  EXPECT_EQ(p.controller.grant_dir, "/run/tgs-grants");
  EXPECT_EQ(p.control.interval_ms, 100);
  EXPECT_DOUBLE_EQ(p.control.production_target, 0.97);
  EXPECT_EQ(p.control.idle_release_ms, 300);
  EXPECT_DOUBLE_EQ(p.control.fallback_opportunistic_share, 0.1);
  EXPECT_EQ(p.defaults.class_name, "opportunistic");
  EXPECT_EQ(p.defaults.memory_limit_bytes, 0u);
  ASSERT_EQ(p.classes.size(), 2u);
  EXPECT_EQ(p.classes.at("production").kind, Kind::kProduction);
  EXPECT_EQ(p.classes.at("opportunistic").kind, Kind::kOpportunistic);
  EXPECT_TRUE(p.rules.empty());
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.warnings.empty());
}

TEST(PolicyLoader, ParsesEverySection) {
  LoadResult r = Load(R"(version: 1
controller:
  socket: /tmp/tgs/tgs.sock
  admin_socket: /tmp/admin/admin.sock
  metrics_listen: "[::1]:0"
  state_dir: /tmp/state
  grant_dir: /tmp/grants
control:
  interval_ms: 50
  production_target: 0.9
  restart_below: 0.8
  decrease_factor: 0.5
  additive_increase: 0.02
  slow_start_initial: 0.1
  slow_start_growth: 1.5
  opportunistic_floor: 0
  idle_release_ms: 1000
  profile_ms: 200
  reprofile_after: 7
  fallback_opportunistic_share: 1
defaults:
  class: batch
  memory_limit: 1GiB
classes:
  batch: { kind: opportunistic, weight: 4, memory_limit: 512MiB, oversubscribe: true }
containers:
  - match: { id: a, cgroup: "/x/*", labels: { k: v, empty: "" } }
    class: production
    memory_limit: 0
  - match: { id: b }
    weight: 9
)");
  ASSERT_TRUE(r.ok()) << testing::AllErrors(r);
  const Policy& p = *r.policy;
  EXPECT_EQ(p.controller.socket, "/tmp/tgs/tgs.sock");
  EXPECT_EQ(p.controller.grant_dir, "/tmp/grants");
  EXPECT_EQ(p.controller.metrics_listen, "[::1]:0");
  EXPECT_EQ(p.control.interval_ms, 50);
  EXPECT_DOUBLE_EQ(p.control.restart_below, 0.8);
  EXPECT_DOUBLE_EQ(p.control.slow_start_growth, 1.5);
  EXPECT_DOUBLE_EQ(p.control.opportunistic_floor, 0.0);
  EXPECT_EQ(p.control.reprofile_after, 7);
  EXPECT_DOUBLE_EQ(p.control.fallback_opportunistic_share, 1.0);
  EXPECT_EQ(p.defaults.class_name, "batch");
  EXPECT_EQ(p.defaults.memory_limit_bytes, 1ull << 30);
  const ClassSpec& batch = p.classes.at("batch");
  EXPECT_EQ(batch.weight, 4);
  EXPECT_EQ(batch.memory_limit_bytes, 512ull << 20);
  EXPECT_EQ(batch.oversubscribe, true);
  EXPECT_EQ(batch.line, 25);
  ASSERT_EQ(p.rules.size(), 2u);
  EXPECT_EQ(p.rules[0].line, 27);
  EXPECT_EQ(p.rules[0].match.id, "a");
  EXPECT_EQ(p.rules[0].match.cgroup_glob, "/x/*");
  EXPECT_EQ(p.rules[0].match.labels.at("empty"), "");
  EXPECT_EQ(p.rules[0].memory_limit_bytes, 0u);  // explicit 0: set, meaning no limit
  EXPECT_EQ(p.rules[1].class_name, "batch");     // from defaults.class
  EXPECT_EQ(p.rules[1].weight, 9);
  EXPECT_FALSE(p.rules[1].memory_limit_bytes.has_value());
}

TEST(PolicyLoader, ErrorsFormatAsFileLineColumn) {
  LoadResult r = Load("version: 1\ncontrol:\n  interval_ms: 7\n");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), "test.yaml:3:16: control.interval_ms: 7 is out of range (10..5000)");
  EXPECT_EQ(r.ErrorText(), "test.yaml:3:16: control.interval_ms: 7 is out of range (10..5000)\n");
}

TEST(PolicyLoader, MalformedYamlIsAnErrorNotAnException) {
  LoadResult r = Load("version: 1\ncontrol: {interval_ms: [1, 2}\n");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_GT(r.errors[0].column, 0);
  EXPECT_NE(r.errors[0].message.find("YAML syntax error"), std::string::npos) << r.errors[0].message;

  LoadResult unclosed = Load("version: 1\ncontainers: [\n  {match: {id: a}}\n");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_NE(unclosed.errors[0].message.find("YAML syntax error"), std::string::npos);

  // yaml-cpp 0.7 would return an empty document for this, or loop forever in LoadAll.
  EXPECT_TRUE(HasErrorAt(Load("# comment\n, a\nversion: 1\n"), 2, 1, "YAML syntax error: unexpected ','"));
  EXPECT_TRUE(HasErrorAt(Load(","), 1, 1, "YAML syntax error: unexpected ','"));

  LoadResult tab = Load("version: 1\ncontrol:\n\tinterval_ms: 100\n");
  ASSERT_FALSE(tab.ok());
  EXPECT_EQ(tab.errors[0].line, 3) << testing::AllErrors(tab);
}

TEST(PolicyLoader, MissingOrUnsupportedVersion) {
  LoadResult missing = Load("control:\n  interval_ms: 100\n");
  EXPECT_TRUE(HasErrorAt(missing, 1, 1, "missing required key 'version'"));

  // Only the version is judged: another version's keys are not version 1's business.
  LoadResult future = Load("foo: 1\nversion: 2\n");
  ASSERT_EQ(future.errors.size(), 1u) << testing::AllErrors(future);
  EXPECT_TRUE(HasErrorAt(future, 2, 10, "unsupported policy version 2 (this controller reads version 1)"));

  EXPECT_TRUE(HasErrorAt(Load("version: one\n"), 1, 10, "expected a whole number"));
  EXPECT_TRUE(HasErrorAt(Load("version: \"1\"\n"), 1, 10, "write numbers without quotes"));
}

TEST(PolicyLoader, EmptyOrNonMapDocument) {
  EXPECT_TRUE(HasErrorAt(Load(""), 1, 1, "the policy is empty"));
  EXPECT_TRUE(HasErrorAt(Load("# only a comment\n"), 1, 1, "the policy is empty"));
  EXPECT_TRUE(HasErrorAt(Load("- version: 1\n"), 1, 1, "expected a map, got a list"));
  // Points at the '---' that starts the second document.
  EXPECT_TRUE(HasErrorAt(Load("version: 1\n---\nversion: 1\n"), 2, 1, "only one YAML document is allowed"));
}

TEST(PolicyLoader, WrongTypes) {
  LoadResult r = Load(R"(version: 1
controller: [a, b]
control:
  interval_ms: fast
  production_target: [0.9]
  idle_release_ms: 1.5
  profile_ms:
classes:
  batch: { kind: opportunistic, oversubscribe: yes }
containers:
  match: { id: a }
)");
  EXPECT_TRUE(HasErrorAt(r, 2, 13, "controller: expected a map, got a list"));
  EXPECT_TRUE(HasErrorAt(r, 4, 16, "control.interval_ms: expected a whole number in 10..5000, got 'fast'"));
  EXPECT_TRUE(HasErrorAt(r, 5, 22, "control.production_target: expected a number in 0.5..1, got a list"));
  EXPECT_TRUE(HasErrorAt(r, 6, 20, "control.idle_release_ms: expected a whole number"));
  // An absent value points at its key: the null's own mark is the next line.
  EXPECT_TRUE(HasErrorAt(r, 7, 3, "control.profile_ms: expected a whole number in 10..60000, got nothing"));
  EXPECT_TRUE(HasErrorAt(r, 9, 48, "classes.batch.oversubscribe: expected true or false, got 'yes'"));
  EXPECT_TRUE(HasErrorAt(r, 11, 3, "containers: expected a list of rules, got a map"));
}

TEST(PolicyLoader, QuotedNumbersAreStrings) {
  LoadResult r = Load("version: 1\ncontrol:\n  interval_ms: \"100\"\n");
  EXPECT_TRUE(HasErrorAt(r, 3, 16, "got the quoted string '100'; write numbers without quotes"));
}

TEST(PolicyLoader, UnknownKeysAtEveryLevel) {
  LoadResult r = Load(R"(version: 1
controler: {}
controller:
  sockt: /run/x.sock
control:
  intervl_ms: 100
defaults:
  memory: 1GiB
classes:
  batch: { kind: opportunistic, wieght: 2 }
containers:
  - match: { id: a, pod: x }
    clas: batch
)");
  EXPECT_TRUE(HasErrorAt(r, 2, 1,
                         "unknown key 'controler' at the top level; did you mean 'controller'? (allowed: version, "
                         "controller, control, defaults, classes, containers)"));
  EXPECT_TRUE(HasErrorAt(r, 4, 3, "unknown key 'sockt' in controller; did you mean 'socket'?"));
  EXPECT_TRUE(HasErrorAt(r, 6, 3,
                         "unknown key 'intervl_ms' in control; did you mean 'interval_ms'? (allowed: interval_ms, "
                         "production_target,"));
  EXPECT_TRUE(HasErrorAt(r, 8, 3, "unknown key 'memory' in defaults (allowed: class, memory_limit)"));
  EXPECT_TRUE(HasErrorAt(r, 10, 33, "unknown key 'wieght' in classes.batch; did you mean 'weight'?"));
  EXPECT_TRUE(HasErrorAt(r, 12, 21, "unknown key 'pod' in containers[0].match (allowed: id, cgroup, labels)"));
  EXPECT_TRUE(HasErrorAt(r, 13, 5, "unknown key 'clas' in containers[0]; did you mean 'class'?"));
  EXPECT_EQ(r.errors.size(), 7u) << testing::AllErrors(r);
}

TEST(PolicyLoader, DuplicateKeys) {
  LoadResult r = Load(R"(version: 1
control:
  interval_ms: 100
  interval_ms: 200
containers:
  - match: { id: a }
    match: { id: b }
)");
  EXPECT_TRUE(HasErrorAt(r, 4, 3, "duplicate key 'interval_ms' in control (first at line 3)"));
  EXPECT_TRUE(HasErrorAt(r, 7, 5, "duplicate key 'match' in containers[0] (first at line 6)"));
}

TEST(PolicyLoader, BadSizes) {
  LoadResult r = Load(R"(version: 1
defaults:
  memory_limit: -5GiB
classes:
  batch: { kind: opportunistic, memory_limit: 12XB }
containers:
  - match: { id: a }
    memory_limit: lots
  - match: { id: b }
    memory_limit: [1GiB]
  - match: { id: c }
    memory_limit: 1.5
)");
  EXPECT_TRUE(HasErrorAt(r, 3, 17, "defaults.memory_limit: negative size '-5GiB'; use 0 for no limit"));
  EXPECT_TRUE(HasErrorAt(r, 5, 47, "classes.batch.memory_limit: unknown unit 'XB' in '12XB'"));
  EXPECT_TRUE(HasErrorAt(r, 8, 19, "containers[0].memory_limit: 'lots' does not start with a number"));
  EXPECT_TRUE(HasErrorAt(r, 10, 19, "containers[1].memory_limit: expected a size"));
  EXPECT_TRUE(HasErrorAt(r, 12, 19, "containers[2].memory_limit: '1.5' is a fractional number of bytes"));
}

TEST(PolicyLoader, OutOfRangeNumbers) {
  LoadResult r = Load(R"(version: 1
control:
  interval_ms: 5001
  production_target: 0.4
  decrease_factor: 1
  fallback_opportunistic_share: -0.1
  reprofile_after: 99999999999999999999
  additive_increase: .nan
classes:
  batch: { kind: opportunistic, weight: 1001 }
)");
  EXPECT_TRUE(HasErrorAt(r, 3, 16, "control.interval_ms: 5001 is out of range (10..5000)"));
  EXPECT_TRUE(HasErrorAt(r, 4, 22, "control.production_target: 0.4 is out of range (0.5..1)"));
  EXPECT_TRUE(HasErrorAt(r, 5, 20, "control.decrease_factor: 1 is out of range (0.1..0.99)"));
  EXPECT_TRUE(HasErrorAt(r, 6, 33, "control.fallback_opportunistic_share: -0.1 is out of range (0..1)"));
  EXPECT_TRUE(HasErrorAt(r, 7, 20, "control.reprofile_after: 99999999999999999999 is out of range"));
  EXPECT_TRUE(HasErrorAt(r, 8, 22, "control.additive_increase: expected a number"));
  EXPECT_TRUE(HasErrorAt(r, 10, 41, "classes.batch.weight: 1001 is out of range (1..1000)"));
}

TEST(PolicyLoader, ControlParametersMustBeConsistent) {
  LoadResult r = Load(
      "version: 1\ncontrol:\n  production_target: 0.9\n  restart_below: 0.95\n"
      "  interval_ms: 500\n  profile_ms: 400\n");
  EXPECT_TRUE(HasErrorAt(r, 4, 18, "control.restart_below (0.95) must be below control.production_target (0.9)"));
  // idle_release_ms is left at its default 300 < 500: blamed on interval_ms, the key the file set.
  EXPECT_TRUE(HasErrorAt(r, 5, 16, "control.idle_release_ms (300) must be at least control.interval_ms (500)"));
  EXPECT_TRUE(HasErrorAt(r, 6, 15, "control.profile_ms (400) must be at least control.interval_ms (500)"));
}

TEST(PolicyLoader, ControllerSettings) {
  std::string long_path = "/run/" + std::string(110, 's') + ".sock";
  LoadResult r = Load(
      "version: 1\ncontroller:\n  socket: run/tgs.sock\n  state_dir: \"\"\n"
      "  metrics_listen: \"9400\"\n  admin_socket: " +
      long_path + "\n");
  EXPECT_TRUE(HasErrorAt(r, 3, 11, "controller.socket: must be an absolute path, got 'run/tgs.sock'"));
  EXPECT_TRUE(HasErrorAt(r, 4, 14, "controller.state_dir: must not be empty"));
  EXPECT_TRUE(HasErrorAt(r, 5, 19, "controller.metrics_listen: expected host:port"));
  EXPECT_TRUE(HasErrorAt(r, 6, 17, "a Unix socket path can have at most 107"));

  LoadResult same = Load("version: 1\ncontroller:\n  socket: /run/a.sock\n  admin_socket: /run/a.sock\n");
  EXPECT_TRUE(HasErrorAt(same, 4, 17, "controller.admin_socket: must differ from controller.socket"));
  LoadResult beside = Load("version: 1\ncontroller:\n  socket: /run/a/tgs.sock\n  admin_socket: /run/a/admin.sock\n");
  EXPECT_TRUE(HasErrorAt(beside, 4, 17, "must not be in the directory of controller.socket (/run/a/)"));

  for (const char* ok : {"\"\"", "127.0.0.1:9400", "0.0.0.0:0", "\"[::]:9400\"", "localhost:65535"}) {
    LoadResult good = Load(std::string("version: 1\ncontroller:\n  metrics_listen: ") + ok + "\n");
    EXPECT_TRUE(good.ok()) << ok << "\n" << testing::AllErrors(good);
  }
  for (const char* bad : {"\":9400\"", "127.0.0.1", "127.0.0.1:65536", "::1:9400", "host:port", "\"[::1]9400\""}) {
    LoadResult wrong = Load(std::string("version: 1\ncontroller:\n  metrics_listen: ") + bad + "\n");
    EXPECT_TRUE(HasErrorAt(wrong, 3, 19, "expected host:port")) << bad;
  }
}

TEST(PolicyLoader, Classes) {
  LoadResult r = Load(R"(version: 1
classes:
  production: { kind: opportunistic }
  Batch: { kind: opportunistic }
  nokind: { weight: 2 }
  weird: { kind: best-effort }
  inference: { kind: production, weight: 2, oversubscribe: true }
  plain: nothing
)");
  EXPECT_TRUE(
      HasErrorAt(r, 3, 23, "classes.production.kind: the built-in class 'production' is always of kind production"));
  EXPECT_TRUE(HasErrorAt(r, 4, 3, "invalid class name 'Batch'"));
  EXPECT_TRUE(HasErrorAt(r, 5, 3, "classes.nokind: missing 'kind' (production or opportunistic)"));
  EXPECT_TRUE(HasErrorAt(r, 6, 18, "classes.weird.kind: expected production or opportunistic, got 'best-effort'"));
  EXPECT_TRUE(HasErrorAt(r, 7, 42, "classes.inference.weight: weight shares the GPU among opportunistic containers"));
  EXPECT_TRUE(HasErrorAt(r, 7, 60, "classes.inference.oversubscribe: production memory is never oversubscribed"));
  EXPECT_TRUE(HasErrorAt(r, 8, 10, "classes.plain: expected a map, got 'nothing'"));
  EXPECT_EQ(r.errors.size(), 7u) << testing::AllErrors(r);  // no "missing kind" for `plain` on top
}

TEST(PolicyLoader, ResidentLimitOnlyForOversubscribingClasses) {
  LoadResult ok = Load(R"(version: 1
classes:
  batch: { kind: opportunistic, resident_limit: 6GiB }
  pinned: { kind: opportunistic, oversubscribe: false }
containers:
  - match: { id: b }
    class: batch
  - match: { id: p }
    class: pinned
  - match: { id: serving }
    class: production
)");
  ASSERT_TRUE(ok.errors.empty()) << testing::AllErrors(ok);
  EXPECT_EQ(Resolve(*ok.policy, {"b", "", {}}).resident_limit_bytes, 6ull << 30);
  EXPECT_TRUE(Resolve(*ok.policy, {"b", "", {}}).oversubscribe);
  EXPECT_FALSE(Resolve(*ok.policy, {"p", "", {}}).oversubscribe);
  EXPECT_FALSE(Resolve(*ok.policy, {"serving", "", {}}).oversubscribe);
  EXPECT_TRUE(Resolve(*ok.policy, {"unknown", "", {}}).oversubscribe);  // defaults: opportunistic

  LoadResult bad = Load(R"(version: 1
classes:
  serving: { kind: production, resident_limit: 1GiB }
  pinned: { kind: opportunistic, oversubscribe: false, resident_limit: 1GiB }
  odd: { kind: opportunistic, resident_limit: lots }
)");
  EXPECT_TRUE(HasErrorAt(bad, 3, 48, "classes.serving.resident_limit: a resident limit applies only to "
                                     "oversubscribing classes; class 'serving' is of kind production"));
  EXPECT_TRUE(HasErrorAt(bad, 4, 72, "class 'pinned' sets oversubscribe: false"));
  EXPECT_TRUE(HasErrorAt(bad, 5, 47, "classes.odd.resident_limit: 'lots' does not start with a number"));
  EXPECT_EQ(bad.errors.size(), 3u) << testing::AllErrors(bad);
}

TEST(PolicyLoader, UnshimmedProcessesAreReportedOrKilled) {
  EXPECT_FALSE(Load("version: 1\n").policy->controller.kill_unshimmed);
  LoadResult kill = Load("version: 1\ncontroller:\n  unshimmed: kill\n");
  ASSERT_TRUE(kill.ok()) << testing::AllErrors(kill);
  EXPECT_TRUE(kill.policy->controller.kill_unshimmed);
  LoadResult bad = Load("version: 1\ncontroller:\n  unshimmed: ignore\n");
  EXPECT_TRUE(HasErrorAt(bad, 3, 14, "controller.unshimmed: expected report or kill, got 'ignore'"));
}

TEST(PolicyLoader, UnknownClassReferences) {
  LoadResult r = Load(R"(version: 1
defaults:
  class: bach
classes:
  batch: { kind: opportunistic }
containers:
  - match: { id: a }
    class: gold
)");
  // Classes may be declared after their use: only truly unknown names are errors.
  EXPECT_TRUE(HasErrorAt(r, 3, 10,
                         "defaults.class: unknown class 'bach'; did you mean 'batch'? (defined: batch, "
                         "opportunistic, production)"));
  EXPECT_TRUE(HasErrorAt(r, 8, 12, "containers[0].class: unknown class 'gold'"));
  EXPECT_EQ(r.errors.size(), 2u) << testing::AllErrors(r);
}

TEST(PolicyLoader, BrokenClassDoesNotCascade) {
  LoadResult r =
      Load("version: 1\nclasses:\n  gold: { weight: 2 }\ncontainers:\n  - match: { id: a }\n    class: gold\n");
  EXPECT_EQ(r.errors.size(), 1u) << testing::AllErrors(r);
  EXPECT_TRUE(HasErrorAt(r, 3, 3, "missing 'kind'"));
}

TEST(PolicyLoader, Rules) {
  LoadResult r = Load(R"(version: 1
containers:
  - match: {}
  - match:
    class: production
  - class: production
  - just-a-string
  - match: { id: "", cgroup: "kubepods/*" }
  - match: { labels: {} }
  - match: { labels: { app: } }
  - match: { labels: { "tgs.io/class": "production" } }
    class: production
    weight: 3
)");
  EXPECT_TRUE(HasErrorAt(r, 3, 12, "containers[0].match: empty match; give at least one of id, cgroup, labels"));
  EXPECT_TRUE(HasErrorAt(r, 4, 5, "containers[1].match: empty match"));
  EXPECT_TRUE(HasErrorAt(r, 6, 5, "containers[2]: missing 'match'"));
  EXPECT_TRUE(
      HasErrorAt(r, 7, 5, "containers[3]: expected a rule (a map with match, class, ...), got 'just-a-string'"));
  EXPECT_TRUE(HasErrorAt(r, 8, 18, "containers[4].match.id: must not be empty"));
  EXPECT_TRUE(HasErrorAt(r, 8, 30, "containers[4].match.cgroup: pattern 'kubepods/*' can never match"));
  EXPECT_TRUE(HasErrorAt(r, 9, 22, "containers[5].match.labels: no labels listed"));
  EXPECT_TRUE(HasErrorAt(r, 10, 24, "containers[6].match.labels.app: expected a string, got nothing"));
  // Production is never throttled, so a weight on it would silently do nothing.
  EXPECT_TRUE(HasErrorAt(r, 13, 13,
                         "containers[7].weight: weight shares the GPU among opportunistic containers; "
                         "class 'production' is of kind production"));
  EXPECT_EQ(r.errors.size(), 9u) << testing::AllErrors(r);
}

TEST(PolicyLoader, ReportsEveryErrorSortedAndCapped) {
  std::string text = "version: 1\ncontainers:\n";
  for (int i = 0; i < 30; ++i) text += "  - match: { id: r" + std::to_string(i) + " }\n    weight: 0\n";
  text += "control:\n  interval_ms: 1\n";
  LoadResult r = Load(text);
  ASSERT_EQ(r.errors.size(), kMaxReportedErrors + 1) << testing::AllErrors(r);
  for (size_t i = 1; i < kMaxReportedErrors; ++i) {
    EXPECT_LT(r.errors[i - 1].line, r.errors[i].line) << "errors are reported in file order";
  }
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors.back().line, 0);
  EXPECT_EQ(r.errors.back().ToString(), "test.yaml: 11 more errors not shown");
}

TEST(PolicyLoader, Warnings) {
  LoadResult r = Load(R"(version: 1
defaults:
  class: production
containers:
  - match: { id: a }
  - match: { id: a }
    class: opportunistic
)");
  ASSERT_TRUE(r.ok()) << testing::AllErrors(r);
  EXPECT_TRUE(HasWarningAt(r, 3, 10, "every container no rule matches will be production"));
  EXPECT_TRUE(HasWarningAt(r, 6, 5, "containers[1] never matches: containers[0] (line 5) has the same conditions"));

  // A policy that fails to load gets no warnings: they could stem from the errors.
  LoadResult broken = Load("version: 1\ndefaults:\n  class: production\ncontrol:\n  interval_ms: 1\n");
  EXPECT_FALSE(broken.ok());
  EXPECT_TRUE(broken.warnings.empty());
}

TEST(PolicyLoader, AnchorsAndAliasesWork) {
  LoadResult r = Load(R"(version: 1
containers:
  - match: { id: a }
    memory_limit: &big 20GiB
  - match: { id: b }
    memory_limit: *big
)");
  ASSERT_TRUE(r.ok()) << testing::AllErrors(r);
  EXPECT_EQ(r.policy->rules[1].memory_limit_bytes, 20ull << 30);
}

TEST(PolicyLoader, NonStringKeys) {
  LoadResult r = Load("version: 1\ncontrol:\n  [a, b]: 1\n");
  EXPECT_TRUE(HasErrorAt(r, 3, 3, "keys in control must be plain strings, got a list"));
}

TEST(PolicyLoader, Files) {
  LoadResult missing = LoadPolicyFile("/nonexistent/tgs/policy.yaml");
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].line, 0);
  EXPECT_EQ(missing.errors[0].ToString(), "/nonexistent/tgs/policy.yaml: cannot open: No such file or directory");

  LoadResult dir = LoadPolicyFile("/");
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.errors[0].message.find("Is a directory"), std::string::npos);

  std::string path = ::testing::TempDir() + "policy_loader_test-" + std::to_string(getpid()) + ".yaml";
  {
    std::ofstream f(path);
    f << "version: 1\ncontrol:\n  interval_ms: 3\n";
  }
  LoadResult bad = LoadPolicyFile(path);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].ToString(), path + ":3:16: control.interval_ms: 3 is out of range (10..5000)");
  std::remove(path.c_str());
}

TEST(PolicyLoader, OversizedTextIsRefused) {
  std::string text = "version: 1\n# " + std::string(kMaxPolicyBytes, 'x') + "\n";
  LoadResult r = Load(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].line, 0);
  EXPECT_NE(r.errors[0].message.find("at most"), std::string::npos);
}

}  // namespace
}  // namespace tgs::policy
