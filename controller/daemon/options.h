// Command line of tgs-controller. Parsing is pure (no I/O) so it is unit-tested;
// main.cc acts on the result.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tgs::controller {

inline constexpr const char* kDefaultConfigPath = "/etc/tgs/config.yaml";

struct Options {
  std::string config_path = kDefaultConfigPath;
  bool config_explicit = false;  // --config given: a missing file is an error
  std::optional<std::string> check_config;  // --check-config FILE: validate and exit
  std::optional<std::string> socket;        // overrides controller.socket
  std::optional<std::string> state_dir;     // overrides controller.state_dir
  std::optional<std::string> admin_socket;  // overrides controller.admin_socket
  std::optional<std::string> grant_dir;     // overrides controller.grant_dir
  std::optional<std::string> metrics_listen;  // overrides controller.metrics_listen ("" disables)
  // Containers named by the id a client claims (TGS_CONTAINER_ID) instead of
  // its cgroup: for demos and benchmarks without root. Any process can then
  // pick its own policy, so never on a shared node.
  bool trust_claimed_ids = false;
  int report_interval_ms = 0;  // --report-interval SECONDS: per-GPU status lines at info
  bool node_watch = true;      // --node-watch auto|off
  std::vector<std::string> watch_devices;  // --watch-device PREFIX (repeatable)
  bool watch_no_devices = false;           // --watch-device none
  std::vector<std::string> watch_drivers;  // --watch-driver PATH (repeatable)
  bool test_ignore_connection_close = false;  // --test-ignore-connection-close (tests only)
  bool help = false;
};

struct ParseResult {
  std::optional<Options> options;  // set exactly when `error` is empty
  std::string error;               // one line, without the program name
};

// `args` excludes argv[0]. Accepts "--flag VALUE" and "--flag=VALUE".
ParseResult ParseArgs(const std::vector<std::string>& args);

// The text printed by --help.
std::string UsageText(const std::string& program);

}  // namespace tgs::controller
