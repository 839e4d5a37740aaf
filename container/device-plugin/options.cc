#include "container/device-plugin/options.h"

#include <sys/un.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

namespace tgs::device_plugin {
namespace {

// sockaddr_un's path, less its terminating NUL.
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;
constexpr double kMaxOvercommit = 64.0;

const std::set<std::string> kValueFlags = {
    "--kubelet-dir", "--pod-resources-socket", "--admin-socket", "--class",          "--shim-dir",
    "--driver-lib",  "--dev-root",             "--nvml",         "--health-interval", "--label-interval",
    "--grant-grace"};

// A class name must make a valid extended-resource name "tgs.io/<name>-gib"
// (a DNS-1123 label, at most 63 characters) and a plain socket file name.
std::string ClassNameError(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() + 4 > 63) return "is longer than 59 characters (the resource name would pass 63)";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return "may hold only lowercase letters, digits and '-'";
  }
  if (name.front() == '-' || name.back() == '-') return "must start and end with a letter or digit";
  return "";
}

// A plain decimal with at most three decimals ("1.5", "2.125"): device
// counts are then exact (resource_model.cc).
std::optional<double> ParseOvercommit(const std::string& text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || c == '.')) return std::nullopt;
  }
  if (size_t dot = text.find('.'); dot != std::string::npos && text.size() - dot - 1 > 3) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<long> ParseMilliseconds(const std::string& text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::strtol(text.c_str(), nullptr, 10);
}

bool Absolute(const std::string& path) { return !path.empty() && path[0] == '/'; }

std::string Basename(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

const char* Usage() {
  return "usage: tgs-device-plugin --shim-dir HOST_DIR [options]\n"
         "\n"
         "Advertises GPU memory to the kubelet as tgs.io/<class>-gib (1 device = 1 GiB\n"
         "of one GPU) and, on Allocate, asks tgs-controller for a grant and hands the\n"
         "container the shim, its grant socket and the GPU's device nodes.\n"
         "\n"
         "  --shim-dir HOST_DIR        required: holds libtgs.so, libtgs-nvml.so and\n"
         "                             ld.so.preload (mounted at /usr/lib/tgs and\n"
         "                             /etc/ld.so.preload)\n"
         "  --class NAME[=OVERCOMMIT]  serve tgs.io/NAME-gib, OVERCOMMIT devices per GiB\n"
         "                             (1 to 64, at most 3 decimals, default 1;\n"
         "                             production is always 1); repeatable (default:\n"
         "                             production and opportunistic)\n"
         "  --kubelet-dir DIR          kubelet.sock and the plugin's tgs-<class>.sock\n"
         "                             (default /var/lib/kubelet/device-plugins)\n"
         "  --pod-resources-socket P   the kubelet's pod-resources API, read to label and\n"
         "                             revoke grants; \"\" disables both\n"
         "                             (default /var/lib/kubelet/pod-resources/kubelet.sock)\n"
         "  --admin-socket PATH        tgs-controller's admin socket\n"
         "                             (default /run/tgs-admin/admin.sock)\n"
         "  --driver-lib HOST_PATH     mounted read-only at /usr/local/nvidia/lib64/<name>;\n"
         "                             repeatable; 'none' for none (default: the node's\n"
         "                             libcuda.so.1 and libnvidia-ml.so.1, TGS shims skipped)\n"
         "  --dev-root DIR             where the nvidia device nodes are (default /dev)\n"
         "  --nvml PATH                NVML library to load (default libnvidia-ml.so.1)\n"
         "  --health-interval MS       GPU health probe period (default 5000)\n"
         "  --label-interval MS        pod-resources poll period (default 2000)\n"
         "  --grant-grace MS           revoke a grant whose devices no pod has held for\n"
         "                             this long (default 60000)\n"
         "  --help                     this text\n"
         "\n"
         "Logs go to stderr; TGS_LOG=error|warn|info|debug sets the level (default warn).\n";
}

ParseResult ParseArgs(const std::vector<std::string>& args) {
  ParseResult result;
  Options& o = result.options;
  auto fail = [&](std::string message) {
    result.error = std::move(message);
    return result;
  };

  std::vector<std::string> class_args;
  std::vector<std::string> driver_lib_args;
  bool shim_dir_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    if (flag == "--help" || flag == "-h") {
      if (inline_value) return fail("--help takes no value");
      result.help = true;
      continue;
    }
    if (flag.rfind("-", 0) != 0) return fail("unexpected argument '" + flag + "' (flags start with --)");
    if (!kValueFlags.contains(flag)) return fail("unknown flag '" + flag + "' (see --help)");
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return fail(flag + " needs a value");
    }

    const std::map<std::string, std::pair<int*, std::pair<long, long>>> intervals = {
        {"--health-interval", {&o.health_interval_ms, {100, 3600000}}},
        {"--label-interval", {&o.label_interval_ms, {100, 3600000}}},
        {"--grant-grace", {&o.grant_grace_ms, {100, 86400000}}},
    };
    if (auto it = intervals.find(flag); it != intervals.end()) {
      auto [target, range] = it->second;
      std::optional<long> ms = ParseMilliseconds(value);
      if (!ms || *ms < range.first || *ms > range.second) {
        return fail(flag + " '" + value + "': not a whole number of milliseconds from " +
                    std::to_string(range.first) + " to " + std::to_string(range.second));
      }
      *target = static_cast<int>(*ms);
    } else if (flag == "--kubelet-dir" || flag == "--dev-root" || flag == "--admin-socket" ||
               flag == "--shim-dir") {
      if (!Absolute(value)) return fail(flag + " '" + value + "': needs an absolute path");
      while (value.size() > 1 && value.back() == '/') value.pop_back();
      if (flag == "--kubelet-dir") o.kubelet_dir = value;
      if (flag == "--dev-root") o.dev_root = value;
      if (flag == "--admin-socket") o.admin_socket = value;
      if (flag == "--shim-dir") {
        o.shim_dir = value;
        shim_dir_given = true;
      }
    } else if (flag == "--pod-resources-socket") {
      if (!value.empty() && !Absolute(value)) {
        return fail("--pod-resources-socket '" + value + "': needs an absolute path (or \"\" to disable)");
      }
      o.pod_resources_socket = value;
    } else if (flag == "--nvml") {
      if (value.empty()) return fail("--nvml needs a library name or path");
      o.nvml_library = value;
    } else if (flag == "--class") {
      class_args.push_back(value);
    } else {  // --driver-lib
      driver_lib_args.push_back(value);
    }
  }
  if (result.help) return result;

  if (!shim_dir_given) return fail("--shim-dir is required (the host directory holding libtgs.so)");

  if (class_args.empty()) class_args = {"production", "opportunistic"};
  std::set<std::string> seen;
  for (const std::string& arg : class_args) {
    ClassOption c;
    size_t eq = arg.find('=');
    c.name = arg.substr(0, eq);
    if (std::string why = ClassNameError(c.name); !why.empty()) {
      return fail("--class '" + arg + "': the class name " + why);
    }
    if (eq != std::string::npos) {
      std::string text = arg.substr(eq + 1);
      std::optional<double> over = ParseOvercommit(text);
      if (!over || *over < 1.0 || *over > kMaxOvercommit) {
        return fail("--class '" + arg + "': overcommit '" + text +
                    "' is not a number from 1 to 64 (at most 3 decimals)");
      }
      c.overcommit = *over;
    }
    if (c.name == "production" && c.overcommit != 1.0) {
      return fail("--class '" + arg + "': production never overcommits (its memory must be there)");
    }
    if (!seen.insert(c.name).second) return fail("--class '" + c.name + "' is given twice");
    o.classes.push_back(c);
  }

  // The plugin's sockets must fit a sockaddr_un.
  for (const ClassOption& c : o.classes) {
    std::string path = o.kubelet_dir + "/" + c.SocketName();
    if (path.size() > kMaxSocketPath) {
      return fail("--kubelet-dir '" + o.kubelet_dir + "': the socket path " + path + " is longer than " +
                  std::to_string(kMaxSocketPath) + " bytes");
    }
  }
  for (const auto& [flag, path] : {std::pair<std::string, std::string>{"--admin-socket", o.admin_socket},
                                   {"--pod-resources-socket", o.pod_resources_socket}}) {
    if (path.size() > kMaxSocketPath) {
      return fail(flag + " '" + path + "': longer than " + std::to_string(kMaxSocketPath) + " bytes");
    }
  }

  if (!driver_lib_args.empty()) {
    o.driver_libs_given = true;
    bool none = false;
    std::set<std::string> names;
    for (const std::string& lib : driver_lib_args) {
      if (lib == "none") {
        none = true;
        continue;
      }
      if (!Absolute(lib) || lib.back() == '/') {
        return fail("--driver-lib '" + lib + "': needs the absolute path of a library file (or 'none')");
      }
      if (!names.insert(Basename(lib)).second) {
        return fail("--driver-lib '" + lib + "': another --driver-lib is also named " + Basename(lib) +
                    " (both would mount at /usr/local/nvidia/lib64/" + Basename(lib) + ")");
      }
      o.driver_libs.push_back(lib);
    }
    if (none && !o.driver_libs.empty()) return fail("--driver-lib none cannot be combined with library paths");
  }
  return result;
}

}  // namespace tgs::device_plugin
