#include "controller/policy/check_config.h"

#include <cstdio>
#include <iomanip>
#include <sstream>

#include "controller/policy/loader.h"
#include "controller/policy/schema.h"
#include "shim/util/byte_size.h"

namespace tgs::policy {
namespace {

std::string Limit(uint64_t bytes) { return bytes == 0 ? "none" : FormatByteSize(bytes); }

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string Conditions(const Match& m) {
  std::string text;
  auto add = [&](const std::string& part) { text += (text.empty() ? "" : " ") + part; };
  if (m.id) add("id=" + *m.id);
  if (m.cgroup_glob) add("cgroup=" + *m.cgroup_glob);
  if (!m.labels.empty()) {
    std::string labels;
    for (const auto& [k, v] : m.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
    add("labels " + labels);
  }
  return text;
}

std::string Grant(const ContainerPolicy& p) {
  std::string text =
      p.class_name + " (" + std::string(KindName(p.kind)) + ")  memory_limit " + Limit(p.memory_limit_bytes);
  if (p.kind == Kind::kOpportunistic) {
    text += "  weight " + std::to_string(p.weight);
    if (p.oversubscribe) text += "  oversubscribe";
    if (p.resident_limit_bytes != 0) text += "  resident_limit " + FormatByteSize(p.resident_limit_bytes);
  }
  return text;
}

}  // namespace

void WritePolicySummary(const Policy& policy, std::ostream& out) {
  const ControllerSettings& c = policy.controller;
  out << "controller\n"
      << "  socket          " << c.socket << "\n"
      << "  admin_socket    " << c.admin_socket << "\n"
      << "  metrics_listen  " << (c.metrics_listen.empty() ? "(disabled)" : c.metrics_listen) << "\n"
      << "  state_dir       " << c.state_dir << "\n"
      << "  grant_dir       " << c.grant_dir << "\n"
      << "  unshimmed       " << (c.kill_unshimmed ? "kill" : "report") << "\n";

  // Marking defaults tells a reader which values the file actually chose.
  const ControlParams defaults;
  out << "control\n";
  for (const ControlField& f : ControlFields()) {
    std::string value;
    bool is_default;
    if (auto* int_field = std::get_if<int ControlParams::*>(&f.field)) {
      value = std::to_string(policy.control.*(*int_field));
      is_default = policy.control.*(*int_field) == defaults.*(*int_field);
    } else if (auto* bool_field = std::get_if<bool ControlParams::*>(&f.field)) {
      value = policy.control.*(*bool_field) ? "true" : "false";
      is_default = policy.control.*(*bool_field) == defaults.*(*bool_field);
    } else {
      auto field = std::get<double ControlParams::*>(f.field);
      value = Number(policy.control.*field);
      is_default = policy.control.*field == defaults.*field;
    }
    out << "  " << std::left << std::setw(30) << f.key << std::setw(8) << value
        << (is_default ? "(default)  " : "           ") << f.meaning << "\n";
  }

  out << "classes\n";
  for (const auto& [name, spec] : policy.classes) {
    out << "  " << std::left << std::setw(16) << name << std::setw(15) << KindName(spec.kind);
    out << "memory_limit " << std::setw(11)
        << (spec.memory_limit_bytes ? Limit(*spec.memory_limit_bytes) : std::string("(defaults)"));
    if (spec.kind == Kind::kOpportunistic) {
      out << "  weight " << spec.weight << (spec.oversubscribe.value_or(true) ? "  oversubscribe" : "");
      if (spec.resident_limit_bytes) out << "  resident_limit " << Limit(*spec.resident_limit_bytes);
    }
    out << (spec.line ? "  line " + std::to_string(spec.line) : std::string("  built in")) << "\n";
  }

  out << "containers (first match wins)\n";
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    const Rule& rule = policy.rules[i];
    std::ostringstream head;
    head << "[" << i << "] line " << rule.line;
    out << "  " << std::left << std::setw(14) << head.str() << Conditions(rule.match) << "\n"
        << "  " << std::setw(14) << ""
        << "-> " << Grant(PolicyForRule(policy, static_cast<int>(i))) << "\n";
  }
  out << "  " << std::left << std::setw(14) << "default"
      << "-> " << Grant(PolicyForRule(policy, -1)) << "\n";
}

int CheckConfigMain(const std::string& path, std::ostream& out, std::ostream& err) {
  try {
    LoadResult result = LoadPolicyFile(path);
    for (const PolicyError& w : result.warnings) {
      PolicyError shown = w;
      shown.message = "warning: " + w.message;
      err << shown.ToString() << "\n";
    }
    if (!result.ok()) {
      for (const PolicyError& e : result.errors) err << e.ToString() << "\n";
      err << path << ": policy not loaded\n";
      return 1;
    }
    out << path << ": OK (policy version " << result.policy->version << ", " << result.policy->rules.size() << " rule"
        << (result.policy->rules.size() == 1 ? "" : "s") << ")\n";
    WritePolicySummary(*result.policy, out);
    return 0;
  } catch (const std::exception& e) {
    // Only allocation failures can reach here; the loader catches the rest.
    err << path << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace tgs::policy
