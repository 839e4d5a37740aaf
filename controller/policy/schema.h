// The control parameters, listed once: key, field, allowed range and
// a one-line meaning. The loader validates from this table and
// `--check-config` prints from it, so a parameter added here is parsed,
// range-checked and shown without further code. config/README.md documents
// the same table for operators; a test (PolicyExamples.ReadmeDocuments...)
// checks that every key and default appears there.
#pragma once

#include <span>
#include <string_view>
#include <variant>

#include "controller/policy/policy.h"

namespace tgs::policy {

struct ControlField {
  std::string_view key;
  // int fields take whole numbers; bool fields true/false (min/max unused)
  std::variant<int ControlParams::*, double ControlParams::*, bool ControlParams::*> field;
  double min;
  double max;
  std::string_view meaning;
};

std::span<const ControlField> ControlFields();

}  // namespace tgs::policy
