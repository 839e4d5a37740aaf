// tgs-controller: the TGS node daemon. See daemon.h for the event loop and
// config/README.md for the policy file.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "controller/control/arbiter.h"
#include "controller/daemon/daemon.h"
#include "controller/daemon/options.h"
#include "controller/policy/check_config.h"
#include "shim/util/log.h"

// tgs_shim_core (state files, container identity) expects every binary that
// links it to name itself; the shim libraries define this in their exports.
extern "C" __attribute__((visibility("default"))) const char tgs_shim_identity[] = "tgs-controller";

int main(int argc, char** argv) {
  tgs::SetLogTag("tgs-controller");
  std::vector<std::string> args(argv + 1, argv + argc);
  tgs::controller::ParseResult parsed = tgs::controller::ParseArgs(args);
  if (!parsed.options) {
    std::fprintf(stderr, "tgs-controller: %s\n", parsed.error.c_str());
    return 2;
  }
  const tgs::controller::Options& options = *parsed.options;
  if (options.help) {
    std::cout << tgs::controller::UsageText("tgs-controller");
    return 0;
  }
  if (options.check_config) return tgs::policy::CheckConfigMain(*options.check_config, std::cout, std::cerr);
  if (std::string bad = tgs::TgsLogError(); !bad.empty()) TGS_LOG_WARN("%s", bad.c_str());

  tgs::controller::DaemonSettings settings;
  settings.config_path = options.config_path;
  settings.config_explicit = options.config_explicit;
  settings.socket_override = options.socket;
  settings.state_dir_override = options.state_dir;
  settings.admin_socket_override = options.admin_socket;
  settings.grant_dir_override = options.grant_dir;
  settings.metrics_listen_override = options.metrics_listen;
  settings.node_watch = options.node_watch;
  settings.watch_devices = options.watch_devices;
  settings.watch_no_devices = options.watch_no_devices;
  settings.watch_drivers = options.watch_drivers;
  settings.test_ignore_connection_close = options.test_ignore_connection_close;
  settings.trust_claimed_ids = options.trust_claimed_ids;
  std::optional<tgs::policy::Policy> policy = tgs::controller::LoadConfiguredPolicy(settings);
  if (!policy) {
    TGS_LOG_ERROR("cannot start: %s is not a valid policy (check it with --check-config)",
                  settings.config_path.c_str());
    return 1;
  }
  tgs::controller::Daemon daemon(std::move(settings), std::move(*policy),
                                 std::make_unique<tgs::controller::Arbiter>(
                                     std::chrono::milliseconds(options.report_interval_ms)));
  return daemon.Run();
}
