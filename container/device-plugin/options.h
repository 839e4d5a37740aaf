// tgs-device-plugin's command line. Every value is checked here, so the rest
// of the plugin never re-validates a flag; an error names the flag and the
// value and main() exits with status 2.
#pragma once

#include <string>
#include <vector>

namespace tgs::device_plugin {

// One class the plugin serves, as `--class NAME[=OVERCOMMIT]`.
struct ClassOption {
  std::string name;
  double overcommit = 1.0;  // devices per GiB of GPU memory

  // "tgs.io/<name>-gib": the extended resource kubelet advertises.
  std::string ResourceName() const { return "tgs.io/" + name + "-gib"; }
  // "tgs-<name>.sock": the plugin's socket in the kubelet directory.
  std::string SocketName() const { return "tgs-" + name + ".sock"; }
};

struct Options {
  std::string kubelet_dir = "/var/lib/kubelet/device-plugins";
  std::string pod_resources_socket = "/var/lib/kubelet/pod-resources/kubelet.sock";  // "" disables labels and GC
  std::string admin_socket = "/run/tgs-admin/admin.sock";
  std::vector<ClassOption> classes;  // never empty after parsing
  std::string shim_dir;              // required
  bool driver_libs_given = false;    // false: discover the node's driver libraries
  std::vector<std::string> driver_libs;  // host paths; empty with --driver-lib none
  std::string dev_root = "/dev";
  std::string nvml_library = "libnvidia-ml.so.1";
  int health_interval_ms = 5000;
  int label_interval_ms = 2000;
  int grant_grace_ms = 60000;

  std::string KubeletSocket() const { return kubelet_dir + "/kubelet.sock"; }
};

struct ParseResult {
  Options options;
  bool help = false;
  std::string error;  // non-empty: the command line is unusable
};

// `args` excludes argv[0].
ParseResult ParseArgs(const std::vector<std::string>& args);

// The --help text.
const char* Usage();

}  // namespace tgs::device_plugin
