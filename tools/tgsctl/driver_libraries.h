// Where the node's real NVIDIA driver libraries are, for `tgsctl cdi
// generate`: the files a container gets at /usr/local/nvidia/lib64 and the
// NVML it takes the GPU inventory from.
//
// TGS's shim carries the driver's SONAMEs (libcuda.so.1, libnvidia-ml.so.1),
// so on a node where the shim is installed the loader may find the shim
// first. Every library that exports `tgs_shim_identity` is skipped: mounting
// the shim as "the driver" would make the shim inside load itself.
#pragma once

#include <string>
#include <vector>

namespace tgs::tgsctl {

// True when the library at `path` exports `tgs_shim_identity`. Loads it
// (RTLD_LAZY | RTLD_LOCAL) to ask; false with `*error` set when it does not
// load at all.
bool IsTgsShim(const std::string& path, std::string* error);

// The real library for `soname` as the loader resolves it (dlopen by name),
// else the first of LD_LIBRARY_PATH, /etc/ld.so.cache and the usual driver
// directories that loads and is no TGS shim. Empty with `*error` listing what
// was tried when there is none.
std::string FindRealDriverLibrary(const std::string& soname, std::string* error);

}  // namespace tgs::tgsctl
