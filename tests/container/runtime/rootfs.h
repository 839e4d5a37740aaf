// A container root file system assembled from the host's own binaries: each
// program and the shared libraries the loader resolves for it (ldd), at the
// same paths. Enough for dynamically linked test programs; no image needed.
#pragma once

#include <string>
#include <vector>

namespace tgs::rt {

// The absolute paths ldd prints for `binary` (its libraries and the program
// interpreter); libraries ldd cannot find are left out (libcuda.so.1 of a
// program linked with -lcuda comes from the shim in the container).
std::vector<std::string> SharedLibrariesOf(const std::string& binary, std::string* error);

// Copies `files` (host path -> path in the rootfs) and the libraries of
// every one of them, and of `libraries_only` (libraries that are mounted
// into the container but whose dependencies must be in it), into `rootfs`.
// Creates the directories a container needs (/proc, /dev, /sys, /tmp, /run,
// /etc). False with `*error` on the first failure.
struct RootfsFile {
  std::string host_path;
  std::string container_path;
};
bool AssembleRootfs(const std::string& rootfs, const std::vector<RootfsFile>& files,
                    const std::vector<std::string>& libraries_only, std::string* error);

}  // namespace tgs::rt
