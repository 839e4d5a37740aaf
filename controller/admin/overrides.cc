#include "controller/admin/overrides.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "shim/util/log.h"

namespace tgs::controller {
namespace {

constexpr int kMaxWeight = 1000;  // as in the policy schema

std::string ClassList(const policy::Policy& policy) {
  std::string names;
  for (const auto& [name, spec] : policy.classes) names += (names.empty() ? "" : ", ") + name;
  return names;
}

}  // namespace

std::optional<std::string> Overrides::Validate(const policy::Policy& policy, const policy::ContainerPolicy& current,
                                               const Override& change) {
  if (change.Empty()) return "nothing to change: give class=, memory_limit= or weight=";
  policy::Kind kind = current.kind;
  if (change.class_name) {
    auto it = policy.classes.find(*change.class_name);
    if (it == policy.classes.end()) {
      return "class '" + *change.class_name + "' is not in the policy (classes: " + ClassList(policy) + ")";
    }
    kind = it->second.kind;
  }
  if (change.weight) {
    if (*change.weight < 1 || *change.weight > kMaxWeight) {
      return "weight " + std::to_string(*change.weight) + " is out of range (1..1000)";
    }
    if (kind == policy::Kind::kProduction) {
      return "weight shares the GPU among opportunistic containers; this container's class is production";
    }
  }
  return std::nullopt;
}

namespace {

void Merge(Override& into, const Override& change) {
  if (change.class_name) into.class_name = change.class_name;
  if (change.memory_limit_bytes) into.memory_limit_bytes = change.memory_limit_bytes;
  if (change.weight) into.weight = change.weight;
}

// Removes from `o` the fields `change` sets.
void Clear(Override& o, const Override& change) {
  if (change.class_name) o.class_name.reset();
  if (change.memory_limit_bytes) o.memory_limit_bytes.reset();
  if (change.weight) o.weight.reset();
}

void ApplyOne(const policy::Policy& policy, const Override& o, policy::ContainerPolicy* p) {
  if (o.class_name) policy::ApplyClass(policy, *o.class_name, p);
  if (o.memory_limit_bytes) p->memory_limit_bytes = *o.memory_limit_bytes;
  if (o.weight && p->kind == policy::Kind::kOpportunistic) p->weight = *o.weight;
}

void DropGoneClasses(const policy::Policy& policy, std::map<std::string, Override>& layer) {
  for (auto it = layer.begin(); it != layer.end();) {
    Override& o = it->second;
    if (o.class_name && !policy.classes.contains(*o.class_name)) {
      TGS_LOG_WARN("%s: the class '%s' set with tgsctl is gone from the policy; that change is dropped",
                   it->first.c_str(), o.class_name->c_str());
      o.class_name.reset();
    }
    it = o.Empty() ? layer.erase(it) : std::next(it);
  }
}

}  // namespace

void Overrides::Set(const std::string& container, const Override& change) {
  if (change.persist) {
    Override& o = persistent_[container];
    Merge(o, change);
    o.persist = true;
    if (auto it = transient_.find(container); it != transient_.end()) {
      Clear(it->second, change);
      if (it->second.Empty()) transient_.erase(it);
    }
  } else {
    Merge(transient_[container], change);
  }
}

void Overrides::Apply(const policy::Policy& policy, const std::string& container, policy::ContainerPolicy* p) const {
  if (auto it = persistent_.find(container); it != persistent_.end()) ApplyOne(policy, it->second, p);
  if (auto it = transient_.find(container); it != transient_.end()) ApplyOne(policy, it->second, p);
}

void Overrides::DropTransient() { transient_.clear(); }

void Overrides::DropInvalid(const policy::Policy& policy) {
  DropGoneClasses(policy, persistent_);
  DropGoneClasses(policy, transient_);
}

bool Overrides::Save(const std::string& path, std::string* error) const {
  nlohmann::json doc = nlohmann::json::object();
  for (const auto& [container, o] : persistent_) {
    nlohmann::json e = nlohmann::json::object();
    if (o.class_name) e["class"] = *o.class_name;
    if (o.memory_limit_bytes) e["memory_limit_bytes"] = *o.memory_limit_bytes;
    if (o.weight) e["weight"] = *o.weight;
    doc[container] = e;
  }
  // Written aside and renamed: a crash leaves the old file or the new one.
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << doc.dump(2) << "\n";
    if (!out) {
      *error = "cannot write " + tmp;
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + tmp + " to " + path;
    return false;
  }
  return true;
}

bool Overrides::Load(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) return true;  // none saved
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    *error = path + ": not a JSON object of container -> {class, memory_limit_bytes, weight}";
    return false;
  }
  std::map<std::string, Override> loaded;
  for (const auto& [container, e] : doc.items()) {
    Override o;
    o.persist = true;
    if (!e.is_object()) {
      *error = path + ": entry '" + container + "' is not an object";
      return false;
    }
    if (e.contains("class") && e["class"].is_string()) o.class_name = e["class"].get<std::string>();
    if (e.contains("memory_limit_bytes") && e["memory_limit_bytes"].is_number_unsigned()) {
      o.memory_limit_bytes = e["memory_limit_bytes"].get<uint64_t>();
    }
    if (e.contains("weight") && e["weight"].is_number_integer()) o.weight = e["weight"].get<int>();
    if (o.Empty()) {
      *error = path + ": entry '" + container + "' changes nothing (expected class, memory_limit_bytes or weight)";
      return false;
    }
    loaded[container] = o;
  }
  persistent_ = std::move(loaded);
  return true;
}

}  // namespace tgs::controller
