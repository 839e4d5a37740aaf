#include "tools/simgpu/module.h"

#include <mutex>
#include <set>
#include <sstream>

#include "shim/util/log.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/registry.h"

namespace simgpu {
namespace {

Registry<Module>& Modules() { return Leaked<Registry<Module>>(); }

struct FunctionIndex {
  std::shared_mutex mu;  // guards live
  std::set<const void*> live;
};
FunctionIndex& Functions() { return Leaked<FunctionIndex>(); }

CUresult Reject(int line, const std::string& text, const char* why) {
  TGS_LOG_ERROR("invalid module image, line %d '%s': %s", line, text.c_str(), why);
  return CUDA_ERROR_INVALID_IMAGE;
}

bool ParseParamType(const std::string& word, ParamType* out) {
  static const std::map<std::string, ParamType> kTypes = {
      {"ptr", ParamType::kPtr}, {"i32", ParamType::kI32}, {"u32", ParamType::kU32}, {"i64", ParamType::kI64},
      {"u64", ParamType::kU64}, {"f32", ParamType::kF32}, {"f64", ParamType::kF64}};
  auto it = kTypes.find(word);
  if (it == kTypes.end()) return false;
  *out = it->second;
  return true;
}

}  // namespace

CUresult LoadModule(const char* image, CUmodule* out) {
  std::istringstream in{std::string(image)};
  std::string line;
  int number = 0;
  if (!std::getline(in, line) || line != "simgpu-module 1") {
    return Reject(1, line.substr(0, 40), "first line must be 'simgpu-module 1' (only simulated modules can run here)");
  }
  ++number;
  auto module = std::make_shared<Module>();
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string keyword, name, rest;
    long long ns = -1;
    if (!(fields >> keyword >> name >> ns) || keyword != "kernel" || ((fields >> rest) && rest != "params")) {
      return Reject(number, line, "expected 'kernel <name> <ns_per_block> [params <type>...]'");
    }
    if (ns < 0) return Reject(number, line, "ns_per_block must be >= 0");
    if (module->functions.count(name) != 0) return Reject(number, line, "duplicate kernel name");
    auto f = std::make_unique<Function>();
    for (std::string word; fields >> word;) {
      ParamType type;
      if (!ParseParamType(word, &type)) return Reject(number, line, "parameter types are ptr i32 u32 i64 u64 f32 f64");
      f->params.push_back(type);
      f->has_ptr_params = f->has_ptr_params || type == ParamType::kPtr;
    }
    f->name = name;
    f->ns_per_block = ns;
    f->module = module.get();
    module->functions[name] = std::move(f);
  }
  {
    std::unique_lock lock(Functions().mu);
    for (auto& [name, f] : module->functions) Functions().live.insert(f.get());
  }
  Modules().Add(module);
  *out = module.get();
  return CUDA_SUCCESS;
}

CUresult UnloadModule(CUmodule handle) {
  auto module = Modules().Remove(handle);
  if (module == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  std::unique_lock lock(Functions().mu);
  for (auto& [name, f] : module->functions) Functions().live.erase(f.get());
  // Queued kernels carry their duration, not the Function, so freeing is safe.
  return CUDA_SUCCESS;
}

std::shared_ptr<Module> FindModule(CUmodule handle) { return Modules().Find(handle); }

Function* FindFunction(CUfunction f) {
  std::shared_lock lock(Functions().mu);
  return Functions().live.count(f) != 0 ? static_cast<Function*>(f) : nullptr;
}

size_t ParamSize(ParamType t) {
  switch (t) {
    case ParamType::kI32:
    case ParamType::kU32:
    case ParamType::kF32:
      return 4;
    default:
      return 8;
  }
}

int64_t KernelDurationNs(const Function& f, uint64_t blocks) {
  uint64_t sms = static_cast<uint64_t>(ClientSmCount());
  uint64_t waves = (blocks + sms - 1) / sms;
  return static_cast<int64_t>(waves) * f.ns_per_block;
}

}  // namespace simgpu
