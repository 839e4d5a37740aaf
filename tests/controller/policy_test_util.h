// Helpers shared by the policy tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "controller/policy/loader.h"

namespace tgs::policy::testing {

inline constexpr std::string_view kTestFile = "test.yaml";

inline LoadResult Load(std::string_view text) { return LoadPolicyText(text, kTestFile); }

inline std::string AllErrors(const LoadResult& r) {
  std::string text = r.ErrorText();
  for (const PolicyError& w : r.warnings) text += "(warning) " + w.ToString() + "\n";
  return text.empty() ? "(no errors)" : text;
}

// Passes if some error sits exactly at line:column (1-based) and mentions
// `needle`; the failure message lists every error found.
inline ::testing::AssertionResult HasErrorAt(const LoadResult& r, int line, int column, std::string_view needle) {
  for (const PolicyError& e : r.errors) {
    if (e.line == line && e.column == column && e.message.find(needle) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no error at " << line << ":" << column << " mentioning '" << needle
                                       << "'; got:\n"
                                       << AllErrors(r);
}

inline ::testing::AssertionResult HasWarningAt(const LoadResult& r, int line, int column, std::string_view needle) {
  for (const PolicyError& e : r.warnings) {
    if (e.line == line && e.column == column && e.message.find(needle) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no warning at " << line << ":" << column << " mentioning '" << needle
                                       << "'; got:\n"
                                       << AllErrors(r);
}

}  // namespace tgs::policy::testing
