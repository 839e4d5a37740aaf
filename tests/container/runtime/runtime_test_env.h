// Shared by the process-level tests of tests/container/runtime: where the
// built programs are (from CMake), a temporary directory, small file helpers.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tgs::rt {

struct Built {
  static std::string Tgsctl() { return TGS_RT_TGSCTL; }
  static std::string OciRuntime() { return TGS_RT_OCI_RUNTIME; }
  static std::string Controller() { return TGS_RT_CONTROLLER; }  // "" when not built
  static std::string Client() { return TGS_RT_CLIENT; }          // tgs-test-client-linked
  static std::string ShimDir() { return TGS_RT_SHIM_DIR; }       // build/lib/tgs
  static std::string SimDir() { return TGS_RT_SIM_DIR; }         // build/lib/tgs/simgpu
};

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `name` in PATH, or "".
inline std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = dir + "/" + name;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace tgs::rt
