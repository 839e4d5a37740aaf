// Loading and validating a policy file.
//
// Error policy: nothing here throws or exits. yaml-cpp's exceptions (and
// bad_alloc) are caught at the API boundary and become PolicyErrors, so the
// controller can refuse a bad file at start-up, or keep the old policy on a
// reload, without a try block of its own. Every problem found is reported —
// not just the first — sorted by position and capped at kMaxReportedErrors,
// so one run of `tgs-controller --check-config` shows an operator everything
// to fix.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/policy/policy.h"

namespace tgs::policy {

inline constexpr size_t kMaxReportedErrors = 20;
// Policies are a few KiB; anything far larger is a wrong path, not a policy.
inline constexpr size_t kMaxPolicyBytes = 1 << 20;

struct PolicyError {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position (unreadable file)
  int column = 0;  // 1-based; 0 with line 0
  std::string message;

  // "file:line:column: message", or "file: message" without a position —
  // the form compilers use, so editors and CI annotators can jump to it.
  std::string ToString() const;
};

struct LoadResult {
  std::optional<Policy> policy;  // set exactly when `errors` is empty
  std::vector<PolicyError> errors;
  std::vector<PolicyError> warnings;  // legal but probably unintended; only with a policy

  bool ok() const { return policy.has_value(); }
  // Every error's ToString(), one per line, for logs and test failure messages.
  std::string ErrorText() const;
};

// `path` appears as the file name in every message.
LoadResult LoadPolicyFile(const std::string& path);

// `name` stands in for the file name in messages ("<stdin>", "policy.yaml").
LoadResult LoadPolicyText(std::string_view text, std::string_view name);

}  // namespace tgs::policy
