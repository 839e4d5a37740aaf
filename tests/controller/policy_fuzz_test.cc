// Robustness: truncated and mutated policies never crash or throw; each
// yields either a policy or positioned errors. Deterministic (fixed seeds)
// so a failure reproduces; the printed input is the reproducer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "controller/policy/loader.h"

namespace tgs::policy {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> ExampleTexts() {
  std::vector<std::string> texts;
  for (const auto& entry : fs::directory_iterator(fs::path(TGS_CONFIG_DIR) / "examples")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream f(entry.path());
    std::stringstream s;
    s << f.rdbuf();
    texts.push_back(s.str());
  }
  return texts;
}

// The contract every input must satisfy.
void CheckOutcome(std::string_view text) {
  LoadResult r;
  ASSERT_NO_THROW(r = LoadPolicyText(text, "fuzz.yaml")) << text;
  ASSERT_EQ(r.ok(), r.errors.empty()) << text;
  ASSERT_LE(r.errors.size(), kMaxReportedErrors + 1) << text;
  if (!r.ok()) {
    ASSERT_TRUE(r.warnings.empty()) << text;
  }
  for (const PolicyError& e : r.errors) {
    ASSERT_EQ(e.file, "fuzz.yaml");
    ASSERT_FALSE(e.message.empty()) << text;
    ASSERT_GE(e.line, 0);
    ASSERT_GE(e.column, 0);
    ASSERT_EQ(e.line == 0, e.column == 0) << e.ToString();
  }
  if (r.ok()) {
    // A policy that loads resolves anything without trouble.
    ContainerPolicy c =
        Resolve(*r.policy, {"x", "/kubepods.slice/a/cri-containerd-b.scope", {{"tgs.io/class", "batch"}}});
    ASSERT_GT(c.weight, 0);
    ASSERT_TRUE(r.policy->classes.count(c.class_name)) << c.class_name;
  }
}

TEST(PolicyFuzz, EveryTruncationOfEveryExample) {
  for (const std::string& text : ExampleTexts()) {
    for (size_t n = 0; n <= text.size(); ++n) {
      CheckOutcome(std::string_view(text).substr(0, n));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(PolicyFuzz, RandomMutations) {
  // YAML's structural characters, plus a few that stress numbers and sizes.
  static constexpr std::string_view kAlphabet = "{}[]:,-#&*!|>'\"%@`? \n\t0123456789.eE+-_aZ~\\\x01\x7f\xff";
  std::mt19937 rng(20240601);
  for (const std::string& original : ExampleTexts()) {
    for (int round = 0; round < 1500; ++round) {
      std::string text = original;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < edits && !text.empty(); ++i) {
        size_t pos = rng() % text.size();
        char c = kAlphabet[rng() % kAlphabet.size()];
        switch (rng() % 4) {
          case 0:
            text[pos] = c;
            break;
          case 1:
            text.insert(text.begin() + static_cast<long>(pos), c);
            break;
          case 2:
            text.erase(pos, 1 + rng() % 8);
            break;
          case 3: {  // duplicate a line elsewhere: duplicate keys, odd indentation
            size_t start = text.rfind('\n', pos);
            start = start == std::string::npos ? 0 : start + 1;
            size_t end = text.find('\n', pos);
            std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
            text.insert(rng() % text.size(), line);
            break;
          }
        }
      }
      CheckOutcome(text);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(PolicyFuzz, HostileShapes) {
  CheckOutcome(std::string(100000, '['));  // nesting deeper than yaml-cpp allows
  CheckOutcome(std::string(3000, '[') + std::string(3000, ']'));
  CheckOutcome("version: 1\ncontainers: &x [*x]\n");  // a list that contains itself
  CheckOutcome("version: 1\ncontrol: &c {interval_ms: *c}\n");
  CheckOutcome("version: 1\nclasses: &c {a: *c}\n");
  CheckOutcome("version: 1\ncontainers:\n  - match: &m {labels: *m}\n");
  CheckOutcome("&a version: *a\n");
  CheckOutcome("version: 1\n*undefined\n");
  CheckOutcome(std::string("version: 1\0control: {}\n", 23));
  CheckOutcome("\xef\xbb\xbfversion: 1\n");  // UTF-8 byte-order mark
  CheckOutcome("version: 1\ncontrol:\n  interval_ms: 1e400\n  production_target: 1e-400\n");
  CheckOutcome("version: 1\ndefaults:\n  memory_limit: 99999999999999999999TiB\n");
  CheckOutcome("version: !!map {}\n");
  CheckOutcome("? version\n: 1\n");
  CheckOutcome("version: 1\ncontainers:\n" + std::string(5000, ' ') + "- x\n");
  std::string many = "version: 1\ncontainers:\n";
  for (int i = 0; i < 2000; ++i) many += "  - match: { id: c" + std::to_string(i) + " }\n";
  CheckOutcome(many);
}

}  // namespace
}  // namespace tgs::policy
