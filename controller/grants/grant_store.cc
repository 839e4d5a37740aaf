#include "controller/grants/grant_store.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "controller/daemon/fs_paths.h"

namespace tgs::controller {

bool GrantStore::Load(const std::string& path, std::string* error) {
  path_ = path;
  allocations_.clear();
  class_bindings_.clear();
  std::ifstream in(path);
  if (!in) return true;
  std::stringstream text;
  text << in.rdbuf();
  auto fail = [&](const std::string& why) {
    std::string aside = path + ".bad";
    std::rename(path.c_str(), aside.c_str());
    *error = path + ": " + why + " (moved to " + aside + ")";
    allocations_.clear();
    class_bindings_.clear();
    return false;
  };
  nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return fail("not a JSON object");
  if (doc.value("format", 0) != kFormat) {
    return fail("format " + doc.value("format", nlohmann::json()).dump() + ", expected " + std::to_string(kFormat));
  }
  if (auto it = doc.find("allocations"); it != doc.end()) {
    if (!it->is_array()) return fail("allocations must be a list");
    for (const nlohmann::json& j : *it) {
      std::string why;
      std::optional<Allocation> a = AllocationFromJson(j, &why);
      if (!a) return fail(why);
      allocations_[a->id] = std::move(*a);
    }
  }
  if (auto it = doc.find("class_bindings"); it != doc.end()) {
    if (!it->is_object()) return fail("class_bindings must be an object");
    for (const auto& [key, cls] : it->items()) {
      if (!cls.is_string()) return fail("class_bindings['" + key + "'] must be a class name");
      class_bindings_[key] = cls.get<std::string>();
    }
  }
  return true;
}

bool GrantStore::Save(std::string* error) const {
  if (path_.empty()) return true;
  nlohmann::json allocations = nlohmann::json::array();
  for (const auto& [id, a] : allocations_) allocations.push_back(AllocationToJson(a));
  nlohmann::json doc = {{"format", kFormat}, {"allocations", allocations}, {"class_bindings", class_bindings_}};
  return WriteFileAtomically(path_, doc.dump(2) + "\n", error);
}

const Allocation* GrantStore::FindAllocation(const std::string& id) const {
  auto it = allocations_.find(id);
  return it == allocations_.end() ? nullptr : &it->second;
}

Allocation* GrantStore::FindAllocation(const std::string& id) {
  auto it = allocations_.find(id);
  return it == allocations_.end() ? nullptr : &it->second;
}

void GrantStore::AddAllocation(Allocation a) {
  std::string id = a.id;
  allocations_[id] = std::move(a);
}

bool GrantStore::RemoveAllocation(const std::string& id) { return allocations_.erase(id) > 0; }

std::string GrantStore::ClassBinding(const std::string& container_key) const {
  auto it = class_bindings_.find(container_key);
  return it == class_bindings_.end() ? "" : it->second;
}

void GrantStore::BindClass(const std::string& container_key, const std::string& class_name) {
  class_bindings_[container_key] = class_name;
}

void GrantStore::UnbindClass(const std::string& container_key) { class_bindings_.erase(container_key); }

}  // namespace tgs::controller
