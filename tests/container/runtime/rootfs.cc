#include "tests/container/runtime/rootfs.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "tests/integration/process_runner.h"

namespace tgs::rt {

namespace fs = std::filesystem;

std::vector<std::string> SharedLibrariesOf(const std::string& binary, std::string* error) {
  // No LD_PRELOAD or LD_LIBRARY_PATH: the host's plain answer.
  it::RunResult r = it::RunProcess({"/usr/bin/ldd", binary}, {{"PATH", "/usr/bin:/bin"}}, std::chrono::seconds(30));
  if (r.exit_code != 0) {
    *error = "ldd " + binary + ": " + r.Describe();
    return {};
  }
  // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
  // "linux-vdso.so.1 (0x...)", "libcuda.so.1 => not found".
  std::vector<std::string> paths;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    size_t arrow = line.find("=> ");
    size_t start = arrow != std::string::npos ? arrow + 3 : line.find_first_not_of(" \t");
    if (start == std::string::npos || start >= line.size() || line[start] != '/') continue;
    paths.push_back(line.substr(start, line.find(' ', start) - start));
  }
  return paths;
}

bool AssembleRootfs(const std::string& rootfs, const std::vector<RootfsFile>& files,
                    const std::vector<std::string>& libraries_only, std::string* error) {
  std::error_code ec;
  for (const char* dir : {"proc", "dev", "sys", "tmp", "run", "etc", "usr/bin", "bin"}) {
    fs::create_directories(fs::path(rootfs) / dir, ec);
  }
  std::set<std::string> libraries;
  std::vector<std::string> to_scan = libraries_only;
  for (const RootfsFile& f : files) to_scan.push_back(f.host_path);
  for (const std::string& binary : to_scan) {
    std::vector<std::string> libs = SharedLibrariesOf(binary, error);
    if (!error->empty()) return false;
    libraries.insert(libs.begin(), libs.end());
  }
  std::vector<RootfsFile> copies = files;
  for (const std::string& lib : libraries) copies.push_back({lib, lib});
  for (const RootfsFile& f : copies) {
    fs::path target = fs::path(rootfs) / fs::path(f.container_path).relative_path();
    fs::create_directories(target.parent_path(), ec);
    // Copies the file a symlink names: the rootfs has no other tree to point into.
    fs::copy_file(fs::canonical(f.host_path, ec), target, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      *error = "cannot copy " + f.host_path + " to " + target.string() + ": " + ec.message();
      return false;
    }
  }
  return true;
}

}  // namespace tgs::rt
