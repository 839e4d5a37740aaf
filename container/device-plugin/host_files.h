// The host files a TGS container gets besides its grant socket
// (container/INTERFACES.md, "Paths inside a container"): the shim directory,
// the node's real driver libraries, and the GPU's device nodes.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tgs::device_plugin {

// The files a shim directory must hold.
inline constexpr const char* kShimFiles[] = {"libtgs.so", "libtgs-nvml.so", "ld.so.preload"};

// False with *error naming the first file of kShimFiles that `dir` lacks.
bool CheckShimDir(const std::string& dir, std::string* error);

// Whether the ELF shared object at `path` defines the dynamic symbol `name`
// (read from the file, never loaded: loading a shim would run it here).
// nullopt with *error when the file is not a readable 64-bit ELF object.
std::optional<bool> DefinesDynamicSymbol(const std::string& path, const std::string& name, std::string* error);

// The node's libcuda.so.1 and libnvidia-ml.so.1 as the loader finds them
// (LD_LIBRARY_PATH, /etc/ld.so.cache, the usual directories), skipping any
// library that exports tgs_shim_identity (a TGS shim under the driver's
// name). A library not found is left out and said in *notes.
std::vector<std::string> FindDriverLibraries(std::vector<std::string>* notes);

// Checks --driver-lib paths: each must be a readable file that is not a TGS
// shim. False with *error naming the path.
bool CheckDriverLibraries(const std::vector<std::string>& paths, std::string* error);

struct DeviceNode {
  std::string container_path;  // /dev/<name>
  std::string host_path;       // <dev_root>/<name>
};

// nvidiactl, nvidia-uvm, nvidia-uvm-tools and nvidia<minor>, those that exist
// under `dev_root` now (nvidia-uvm appears only once the module is loaded).
std::vector<DeviceNode> GpuDeviceNodes(const std::string& dev_root, unsigned minor);

}  // namespace tgs::device_plugin
