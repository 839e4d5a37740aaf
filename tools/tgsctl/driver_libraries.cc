#include "tools/tgsctl/driver_libraries.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>

#include <cstdlib>

#include "shim/driver/ld_cache.h"

namespace tgs::tgsctl {
namespace {

// The loader's own answer for `soname`, or "" when it finds nothing.
std::string LoaderPath(const std::string& soname) {
  void* handle = dlopen(soname.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) return "";
  std::string path;
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr) path = map->l_name;
  dlclose(handle);
  return path;
}

// Full paths in the order the shim's own search uses (shim/driver/
// library_search.cc), so that tgsctl and the shim agree on "the driver".
std::vector<std::string> CandidatePaths(const std::string& soname) {
  std::vector<std::string> paths;
  auto add = [&](std::string p) {
    for (const std::string& q : paths) {
      if (q == p) return;
    }
    paths.push_back(std::move(p));
  };
  if (const char* ld_path = std::getenv("LD_LIBRARY_PATH")) {
    std::string all(ld_path);
    size_t pos = 0;
    while (pos <= all.size()) {
      size_t end = all.find(':', pos);
      if (end == std::string::npos) end = all.size();
      if (end > pos) add(all.substr(pos, end - pos) + "/" + soname);
      pos = end + 1;
    }
  }
  for (std::string& p : LdCacheLookup("/etc/ld.so.cache", soname)) add(std::move(p));
  for (const char* dir :
       {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu",
        "/lib64", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib"}) {
    add(std::string(dir) + "/" + soname);
  }
  return paths;
}

}  // namespace

bool IsTgsShim(const std::string& path, std::string* error) {
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    *error = why != nullptr ? why : "dlopen failed";
    return false;
  }
  bool shim = dlsym(handle, "tgs_shim_identity") != nullptr;
  dlclose(handle);
  return shim;
}

std::string FindRealDriverLibrary(const std::string& soname, std::string* error) {
  std::string tried;
  auto usable = [&](const std::string& path) {
    std::string why;
    if (IsTgsShim(path, &why)) {
      tried += "\n  " + path + ": TGS's shim, not the driver";
      return false;
    }
    if (!why.empty()) {
      tried += "\n  " + path + ": " + why;
      return false;
    }
    return true;
  };
  std::string by_loader = LoaderPath(soname);
  if (!by_loader.empty() && usable(by_loader)) return by_loader;
  for (const std::string& path : CandidatePaths(soname)) {
    struct stat st;
    if (path == by_loader || stat(path.c_str(), &st) != 0) continue;
    if (usable(path)) return path;
  }
  *error = "no real " + soname + " on this node (the loader, LD_LIBRARY_PATH, /etc/ld.so.cache and the usual " +
           "driver directories were searched)" + (tried.empty() ? "" : "; skipped:" + tried);
  return "";
}

}  // namespace tgs::tgsctl
