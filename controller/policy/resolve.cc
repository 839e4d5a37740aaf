#include <fnmatch.h>

#include "controller/policy/policy.h"

namespace tgs::policy {

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kProduction:
      return kProductionClass;
    case Kind::kOpportunistic:
      return kOpportunisticClass;
  }
  return "unknown";
}

Policy DefaultPolicy() {
  Policy policy;
  ClassSpec production;
  production.kind = Kind::kProduction;
  production.builtin = true;
  ClassSpec opportunistic;
  opportunistic.kind = Kind::kOpportunistic;
  opportunistic.builtin = true;
  policy.classes.emplace(kProductionClass, production);
  policy.classes.emplace(kOpportunisticClass, opportunistic);
  return policy;
}

std::string ContainerPolicy::MatchedBy() const {
  if (!granted_by.empty()) return "grant " + granted_by;
  if (rule_index < 0) return "default";
  return "containers[" + std::to_string(rule_index) + "] (line " + std::to_string(rule_line) + ")";
}

bool Matches(const Match& match, const ContainerIdentity& container) {
  if (match.Empty()) return false;  // never a catch-all by accident; `defaults` is the catch-all
  if (match.id && (container.id.empty() || *match.id != container.id)) return false;
  if (match.cgroup_glob) {
    // No FNM_PATHNAME: Kubernetes nests pods one or two slices deep
    // depending on QoS class, and a '*' that spans '/' covers both.
    if (container.cgroup.empty() || fnmatch(match.cgroup_glob->c_str(), container.cgroup.c_str(), 0) != 0) {
      return false;
    }
  }
  for (const auto& [key, value] : match.labels) {
    auto it = container.labels.find(key);
    if (it == container.labels.end() || it->second != value) return false;
  }
  return true;
}

ContainerPolicy PolicyForRule(const Policy& policy, int rule_index) {
  ContainerPolicy out;
  const Rule* rule = nullptr;
  if (rule_index >= 0 && static_cast<size_t>(rule_index) < policy.rules.size()) {
    rule = &policy.rules[static_cast<size_t>(rule_index)];
    out.rule_index = rule_index;
    out.rule_line = rule->line;
  }
  out.memory_limit_bytes = policy.defaults.memory_limit_bytes;
  ApplyClass(policy, rule ? rule->class_name : policy.defaults.class_name, &out);
  if (rule && rule->memory_limit_bytes) out.memory_limit_bytes = *rule->memory_limit_bytes;
  if (rule && rule->weight) out.weight = *rule->weight;
  if (out.weight <= 0) out.weight = 1;  // hand-built policies only; the loader enforces 1..1000
  return out;
}

void ApplyClass(const Policy& policy, const std::string& class_name, ContainerPolicy* out) {
  out->class_name = class_name;
  auto it = policy.classes.find(class_name);
  if (it == policy.classes.end()) return;
  const ClassSpec& spec = it->second;
  out->kind = spec.kind;
  out->weight = spec.weight;
  out->oversubscribe = spec.oversubscribe.value_or(spec.kind == Kind::kOpportunistic);
  out->resident_limit_bytes = out->oversubscribe && spec.resident_limit_bytes ? *spec.resident_limit_bytes : 0;
  if (spec.memory_limit_bytes) out->memory_limit_bytes = *spec.memory_limit_bytes;
}

ContainerPolicy Resolve(const Policy& policy, const ContainerIdentity& container) {
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    if (Matches(policy.rules[i].match, container)) return PolicyForRule(policy, static_cast<int>(i));
  }
  return PolicyForRule(policy, -1);
}

}  // namespace tgs::policy
