// `tgs-controller --check-config FILE`: validate a policy without starting
// anything, for operators before a rollout and for CI on config repositories.
#pragma once

#include <ostream>
#include <string>

#include "controller/policy/policy.h"

namespace tgs::policy {

// Loads `path`. On errors prints them, one `file:line:column: message` per
// line, to `err` and returns 1. Otherwise prints warnings to `err`, a summary
// of the effective policy (every default filled in) to `out`, and returns 0.
int CheckConfigMain(const std::string& path, std::ostream& out, std::ostream& err);

// The summary alone: controller settings, control parameters, classes, and
// the rules in matching order with what each one grants.
void WritePolicySummary(const Policy& policy, std::ostream& out);

}  // namespace tgs::policy
