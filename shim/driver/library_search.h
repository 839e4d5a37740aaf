// Finds and loads the real vendor library (libcuda.so.1 or
// libnvidia-ml.so.1) behind the shim. The shim carries the same SONAME, so
// the loader's own search would find the shim again: this search uses full
// paths and skips any candidate that turns out to be a TGS shim.
#pragma once

#include <string>
#include <vector>

namespace tgs {

struct LoadedLibrary {
  void* handle = nullptr;  // dlopen handle, RTLD_LOCAL so its symbols never join the global scope
  std::string path;
  std::string error;  // why nothing was loaded (lists what was tried)
};

// Candidates in search order: LD_LIBRARY_PATH directories, the loader cache,
// then the usual driver directories (host and NVIDIA container toolkit).
std::vector<std::string> CandidatePaths(const std::string& soname);

// Loads `explicit_path` if non-empty (and nothing else), otherwise the first
// candidate that loads and is not a TGS shim.
LoadedLibrary LoadRealLibrary(const std::string& soname, const std::string& explicit_path,
                              const char* explicit_variable);

}  // namespace tgs
