#include "controller/daemon/options.h"

#include <cstdlib>

#include "controller/policy/policy.h"

namespace tgs::controller {

ParseResult ParseArgs(const std::vector<std::string>& args) {
  Options options;
  ParseResult result;
  auto fail = [&](std::string message) {
    result.error = std::move(message);
    return result;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    if (flag == "--help" || flag == "-h") {
      if (inline_value) return fail("--help takes no value");
      options.help = true;
      continue;
    }
    if (flag == "--trust-claimed-ids") {
      if (inline_value) return fail("--trust-claimed-ids takes no value");
      options.trust_claimed_ids = true;
      continue;
    }
    if (flag == "--test-ignore-connection-close") {
      if (inline_value) return fail(flag + " takes no value");
      options.test_ignore_connection_close = true;
      continue;
    }
    // "--flag VALUE" or "--flag=VALUE".
    auto take_value = [&](std::string* value) {
      if (inline_value) {
        *value = *inline_value;
      } else if (i + 1 < args.size()) {
        *value = args[++i];
      } else {
        return false;
      }
      return true;
    };
    if (flag == "--node-watch" || flag == "--watch-device" || flag == "--watch-driver") {
      std::string value;
      if (!take_value(&value)) return fail(flag + " needs a value");
      if (flag == "--node-watch") {
        if (value != "auto" && value != "off") return fail("--node-watch is auto or off, not '" + value + "'");
        options.node_watch = value == "auto";
      } else if (flag == "--watch-device" && value == "none") {
        options.watch_no_devices = true;
      } else if (value.empty() || value[0] != '/') {
        return fail(flag + " needs an absolute path, not '" + value + "'");
      } else if (flag == "--watch-device") {
        if (value.size() >= 64) return fail("--watch-device prefix is longer than 63 bytes");
        if (options.watch_devices.size() >= 4) return fail("--watch-device given more than 4 times");
        options.watch_devices.push_back(value);
      } else {
        options.watch_drivers.push_back(value);
      }
      continue;
    }
    std::optional<std::string>* target = nullptr;
    std::optional<std::string> config;
    std::optional<std::string> report;
    if (flag == "--config") {
      target = &config;
    } else if (flag == "--check-config") {
      target = &options.check_config;
    } else if (flag == "--socket") {
      target = &options.socket;
    } else if (flag == "--state-dir") {
      target = &options.state_dir;
    } else if (flag == "--admin-socket") {
      target = &options.admin_socket;
    } else if (flag == "--grant-dir") {
      target = &options.grant_dir;
    } else if (flag == "--metrics-listen") {
      target = &options.metrics_listen;
    } else if (flag == "--report-interval") {
      target = &report;
    } else {
      return fail("unknown argument '" + args[i] + "' (see --help)");
    }
    std::string value;
    if (!take_value(&value)) return fail(flag + " needs a value");
    if (value.empty() && flag != "--metrics-listen") return fail(flag + " needs a non-empty value");
    if (target->has_value() || (flag == "--config" && options.config_explicit)) {
      return fail(flag + " given twice");
    }
    *target = value;
    if (config) {
      options.config_path = *config;
      options.config_explicit = true;
    }
    if (report) {
      char* end = nullptr;
      double seconds = std::strtod(report->c_str(), &end);
      if (*end != '\0' || !(seconds >= 0.1 && seconds <= 3600)) {
        return fail("--report-interval must be a number of seconds from 0.1 to 3600, not '" + *report + "'");
      }
      options.report_interval_ms = static_cast<int>(seconds * 1000);
    }
  }
  if (options.socket && (*options.socket)[0] != '/') return fail("--socket must be an absolute path");
  if (options.socket && options.socket->size() > 107) return fail("--socket path is longer than 107 bytes");
  if (options.state_dir && (*options.state_dir)[0] != '/') return fail("--state-dir must be an absolute path");
  if (options.grant_dir && (*options.grant_dir)[0] != '/') return fail("--grant-dir must be an absolute path");
  if (options.metrics_listen && !options.metrics_listen->empty() &&
      !policy::ValidListenAddress(*options.metrics_listen)) {
    return fail("--metrics-listen expects host:port (127.0.0.1:9400, [::1]:9400, 0.0.0.0:9400) or \"\" to disable "
                "metrics, not '" + *options.metrics_listen + "'");
  }
  if (options.admin_socket && (*options.admin_socket)[0] != '/') return fail("--admin-socket must be an absolute path");
  if (options.admin_socket && options.admin_socket->size() > 107) {
    return fail("--admin-socket path is longer than 107 bytes");
  }
  if (options.admin_socket && options.socket && *options.admin_socket == *options.socket) {
    return fail("--admin-socket must differ from --socket (shims reach that one)");
  }
  result.options = std::move(options);
  return result;
}

std::string UsageText(const std::string& program) {
  return "Usage: " + program + " [--config FILE] [--socket PATH] [--state-dir DIR]\n"
         "       [--admin-socket PATH] [--grant-dir DIR] [--metrics-listen HOST:PORT]\n"
         "       [--report-interval SECONDS] [--trust-claimed-ids]\n" +
         "       " + program + " --check-config FILE\n"
         "\n"
         "The TGS node controller: shimmed processes register on its socket; it decides\n"
         "each process's container and class from the kernel's view of it, hands the\n"
         "shim the container's state file, and sets each GPU's opportunistic launch rate\n"
         "so that production keeps its speed.\n"
         "\n"
         "  --config FILE        policy file (default " + kDefaultConfigPath + "; when the\n"
         "                       default is missing, built-in defaults are used)\n"
         "  --check-config FILE  validate FILE, print the effective policy, exit 0 or 1\n"
         "  --socket PATH        listen here instead of controller.socket\n"
         "  --state-dir DIR      keep container state files here instead of controller.state_dir\n"
         "  --admin-socket PATH  serve tgsctl here instead of controller.admin_socket (with\n"
         "                       --socket alone, the admin socket is admin.sock beside it)\n"
         "  --grant-dir DIR      grant sockets (one per class, one per Kubernetes allocation)\n"
         "                       here instead of controller.grant_dir (with --socket alone,\n"
         "                       grants/ beside the socket)\n"
         "  --metrics-listen A   serve Prometheus metrics on A (host:port, [v6]:port; port 0\n"
         "                       picks one) instead of controller.metrics_listen; \"\" disables\n"
         "  --node-watch auto|off  the eBPF node watch (process exits, GPU use without the\n"
         "                       shim): auto (default) runs it when the privileges allow\n"
         "  --watch-device P     a GPU device path prefix to watch (repeatable, at most 4;\n"
         "                       default /dev/nvidia-uvm); none: no opens are watched, and no\n"
         "                       program runs at every syscall (only cuInit and exits)\n"
         "  --watch-driver PATH  a driver library to probe (repeatable; default the node's\n"
         "                       libcuda.so.1)\n"
         "  --report-interval S  log each GPU's control state (production's rate against\n"
         "                       its reference, the opportunistic limit) every S seconds\n"
         "  --trust-claimed-ids  name containers by the id a client claims (TGS_CONTAINER_ID)\n"
         "                       rather than by its cgroup; for demos and benchmarks without\n"
         "                       root. Any process can then choose its policy: never use it\n"
         "                       on a shared node\n"
         "  --help               this text\n"
         "\n"
         "Signals: SIGHUP reloads the policy file (an invalid file keeps the old policy);\n"
         "SIGTERM/SIGINT stop the controller (state files stay). Log level: TGS_LOG.\n";
}

}  // namespace tgs::controller
