// The CDI spec `tgsctl cdi generate` writes: kind tgs.io/gpu, one device per
// (class, GPU) under two names and one per class for all GPUs, each giving a
// container what container/INTERFACES.md ("Paths inside a container") lists.
//
// Pure: the node's facts (GPUs, which device nodes exist) come in as
// arguments, so the whole spec is unit-tested without a GPU.
//
// Layout. Spec-level edits (applied once when any TGS device is requested):
// the shim directory, /etc/ld.so.preload, the driver libraries, the common
// device nodes (nvidiactl, nvidia-uvm, nvidia-uvm-tools) and extra mounts.
// Device edits: `TGS_CLASS=<class>`, the class's grant directory at /run/tgs,
// and the GPU's /dev/nvidia<minor>.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/tgsctl/gpu_inventory.h"

namespace tgs::tgsctl {

inline constexpr const char* kCdiKind = "tgs.io/gpu";

// Paths inside a container (container/INTERFACES.md).
inline constexpr const char* kContainerShimDir = "/usr/lib/tgs";
inline constexpr const char* kContainerPreloadFile = "/etc/ld.so.preload";
inline constexpr const char* kContainerGrantDir = "/run/tgs";
inline constexpr const char* kContainerDriverDir = "/usr/local/nvidia/lib64";

// What a shim directory must hold: both shim libraries and the preload list
// naming them. A container given /etc/ld.so.preload without the libraries
// prints a loader error in every process (FIELD-NOTES §4).
inline constexpr const char* kShimDirFiles[] = {"libtgs.so", "libtgs-nvml.so", "ld.so.preload"};

struct ExtraMount {
  std::string host_path;       // absolute
  std::string container_path;  // absolute
  bool read_only = false;
};

struct CdiSpecOptions {
  std::vector<std::string> classes;           // device name prefixes and TGS_CLASS values
  std::string shim_dir;                       // absolute host directory
  std::string grant_dir;                      // absolute; <grant_dir>/class/<class> goes to /run/tgs
  std::vector<std::string> driver_libraries;  // absolute host files, each at /usr/local/nvidia/lib64/<basename>
  std::string dev_root = "/dev";              // where the host's device nodes are
  std::vector<ExtraMount> mounts;
};

// Whether a host path exists (device nodes are only listed when they do).
using PathExists = std::function<bool(const std::string& path)>;

// "" when `name` may be a CDI device name (or its prefix: letters, digits,
// '-', '_', '.', starting and ending with a letter or digit), else why not.
std::string CheckCdiDeviceName(std::string_view name);

// "HOST:CONTAINER" or "HOST:CONTAINER:ro", both absolute. nullopt with
// `*error` saying what is wrong with `value`.
std::optional<ExtraMount> ParseMountFlag(std::string_view value, std::string* error);

// Every problem with `options` (classes, paths, two mounts on one container
// path), one line each; empty when the spec can be built.
std::vector<std::string> CheckCdiSpecOptions(const CdiSpecOptions& options);

// The files of kShimDirFiles that `shim_dir` lacks.
std::vector<std::string> MissingShimFiles(const std::string& shim_dir, const PathExists& exists);

// The spec, with cdiVersion set to MinimumCdiVersion of the result. Expects
// options that CheckCdiSpecOptions accepts.
nlohmann::ordered_json BuildCdiSpec(const std::vector<GpuInfo>& gpus, const CdiSpecOptions& options,
                                    const PathExists& device_node_exists);

// The lowest CDI version whose schema has every field `spec` uses, by the
// CDI project's own rules (specs-go/version.go): 0.3.0, the oldest version
// runtimes still accept; 0.4.0 for a mount `type`; 0.5.0 for a device node
// `hostPath` or a device name starting with a digit; 0.6.0 for annotations or
// a '.' in the kind's name; 0.7.0 for intelRdt or additionalGids.
std::string MinimumCdiVersion(const nlohmann::ordered_json& spec);

}  // namespace tgs::tgsctl
