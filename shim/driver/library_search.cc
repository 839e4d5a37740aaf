#include "shim/driver/library_search.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include "shim/driver/ld_cache.h"

extern "C" {
// Exported by every TGS shim library so that the search can tell a shim from
// a real driver even when it is installed under the driver's name.
__attribute__((visibility("default"))) extern const char tgs_shim_identity[];
}

namespace tgs {
namespace {

void AddUnique(std::vector<std::string>& list, std::string path) {
  for (const std::string& p : list) {
    if (p == path) return;
  }
  list.push_back(std::move(path));
}

bool SameFileAsThisLibrary(const std::string& path) {
  Dl_info info;
  if (dladdr(reinterpret_cast<const void*>(&tgs_shim_identity), &info) == 0 || info.dli_fname == nullptr) {
    return false;
  }
  struct stat self, other;
  if (stat(info.dli_fname, &self) != 0 || stat(path.c_str(), &other) != 0) return false;
  return self.st_dev == other.st_dev && self.st_ino == other.st_ino;
}

}  // namespace

std::vector<std::string> CandidatePaths(const std::string& soname) {
  std::vector<std::string> paths;
  if (const char* ld_path = std::getenv("LD_LIBRARY_PATH")) {
    std::string all(ld_path);
    size_t pos = 0;
    while (pos <= all.size()) {
      size_t end = all.find(':', pos);
      if (end == std::string::npos) end = all.size();
      std::string dir = all.substr(pos, end - pos);
      if (!dir.empty()) AddUnique(paths, dir + "/" + soname);
      pos = end + 1;
    }
  }
  for (std::string& p : LdCacheLookup("/etc/ld.so.cache", soname)) AddUnique(paths, std::move(p));
  static constexpr const char* kDirs[] = {
      "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",           "/usr/lib",
      "/lib/x86_64-linux-gnu",     "/lib64",                     "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib",
      "/usr/lib/wsl/lib",
  };
  for (const char* dir : kDirs) AddUnique(paths, std::string(dir) + "/" + soname);
  return paths;
}

LoadedLibrary LoadRealLibrary(const std::string& soname, const std::string& explicit_path,
                              const char* explicit_variable) {
  LoadedLibrary result;
  auto try_load = [&](const std::string& path) -> bool {
    if (SameFileAsThisLibrary(path)) {
      result.error += "\n  " + path + ": is this TGS shim, not the driver";
      return false;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      result.error += "\n  " + path + ": " + (why ? why : "dlopen failed");
      return false;
    }
    if (dlsym(handle, "tgs_shim_identity") != nullptr) {
      result.error += "\n  " + path + ": is a TGS shim, not the driver";
      dlclose(handle);
      return false;
    }
    result.handle = handle;
    result.path = path;
    return true;
  };

  if (!explicit_path.empty()) {
    struct stat st;
    if (stat(explicit_path.c_str(), &st) != 0) {
      result.error = std::string(explicit_variable) + "='" + explicit_path + "': " + std::strerror(errno);
    } else if (!try_load(explicit_path)) {
      result.error = std::string(explicit_variable) + "='" + explicit_path + "' cannot be used:" + result.error;
    }
    return result;
  }
  for (const std::string& path : CandidatePaths(soname)) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) continue;
    if (try_load(path)) {
      result.error.clear();
      return result;
    }
  }
  result.error = "no real " + soname + " found (set " + explicit_variable + " to its full path); tried:" +
                 (result.error.empty() ? std::string(" LD_LIBRARY_PATH, /etc/ld.so.cache and the usual driver directories")
                                       : result.error);
  return result;
}

}  // namespace tgs
