// tgsctl: the operator's command line for tgs-controller.
//
//   tgsctl status [--json]        GPUs, containers, memory, rates
//   tgsctl top [--interval S]     the same, refreshed
//   tgsctl set CONTAINER [class=NAME] [memory_limit=SIZE] [weight=N] [--persist]
//   tgsctl cdi generate [...]     the node's CDI spec (tools/tgsctl/cdi_command.h)
//
// It talks to the controller's admin socket (root only), found from
// --socket, else controller.admin_socket of --config / /etc/tgs/config.yaml,
// else /run/tgs-admin/admin.sock. `cdi` needs no controller.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "controller/policy/loader.h"
#include "shim/util/byte_size.h"
#include "tools/tgsctl/admin_client.h"
#include "tools/tgsctl/cdi_command.h"
#include "tools/tgsctl/status_table.h"

namespace {

using nlohmann::json;
using tgs::tgsctl::Failure;

constexpr const char* kDefaultConfig = "/etc/tgs/config.yaml";

constexpr const char* kUsage =
    "usage: tgsctl [--socket PATH | --config FILE] COMMAND\n"
    "\n"
    "  status [--json]        GPUs and containers: class, memory used / limit, unified\n"
    "                         memory, production's rate against its solo rate, launch limits\n"
    "  top [--interval S] [--count N]\n"
    "                         status, redrawn every S seconds (default 1) until Ctrl-C\n"
    "  set CONTAINER [class=NAME] [memory_limit=SIZE] [weight=N] [--persist]\n"
    "                         change a container's policy now; the controller validates it.\n"
    "                         Kept until the next policy reload, or with --persist across\n"
    "                         reloads and restarts\n"
    "%s"
    "\n"
    "  --socket PATH          the controller's admin socket\n"
    "  --config FILE          read controller.admin_socket (cdi: controller.grant_dir and the\n"
    "                         classes) from this policy file (default /etc/tgs/config.yaml,\n"
    "                         else /run/tgs-admin/admin.sock and /run/tgs-grants)\n"
    "\n"
    "Exit status: 0 done, 1 the controller refused (cdi: no GPU inventory or output), 2 usage\n"
    "error, 3 controller unreachable.\n";

void PrintUsage(FILE* to) { std::fprintf(to, kUsage, tgs::tgsctl::kCdiUsage); }

[[noreturn]] void UsageError(const std::string& why) {
  std::fprintf(stderr, "tgsctl: %s\n\n", why.c_str());
  PrintUsage(stderr);
  std::exit(2);
}

std::string AdminSocket(const std::string& socket, const std::string& config, bool config_explicit) {
  if (!socket.empty()) return socket;
  if (access(config.c_str(), R_OK) == 0) {
    tgs::policy::LoadResult r = tgs::policy::LoadPolicyFile(config);
    if (r.policy) return r.policy->controller.admin_socket;
    std::fprintf(stderr, "tgsctl: %s is not a valid policy (%s); using the default admin socket\n", config.c_str(),
                 r.errors.empty() ? "?" : r.errors.front().ToString().c_str());
  } else if (config_explicit) {
    std::fprintf(stderr, "tgsctl: cannot read %s; using the default admin socket\n", config.c_str());
  }
  return tgs::policy::ControllerSettings{}.admin_socket;
}

// Sends `request`; on failure prints why and exits with 3 (unreachable) or 1.
json Call(const std::string& socket, const json& request) {
  tgs::tgsctl::Reply r = tgs::tgsctl::Request(socket, request);
  switch (r.failure) {
    case Failure::kNone:
      break;
    case Failure::kUnreachable:
      std::fprintf(stderr,
                   "tgsctl: cannot reach tgs-controller at %s: %s\n"
                   "Is tgs-controller running? Its admin socket is controller.admin_socket in its policy;\n"
                   "give another with --socket PATH or --config FILE.\n",
                   socket.c_str(), r.error.c_str());
      std::exit(3);
    case Failure::kDenied:
      std::fprintf(stderr,
                   "tgsctl: permission denied on %s: the admin socket is for root on the node "
                   "(processes in containers have no access)\n",
                   socket.c_str());
      std::exit(3);
    case Failure::kProtocol:
      std::fprintf(stderr, "tgsctl: %s: %s\n", socket.c_str(), r.error.c_str());
      std::exit(1);
  }
  if (!r.body.value("ok", false)) {
    std::fprintf(stderr, "tgsctl: %s\n", r.body.value("error", std::string("the controller refused")).c_str());
    std::exit(1);
  }
  return r.body;
}

int Status(const std::string& socket, bool as_json) {
  json reply = Call(socket, {{"command", "status"}});
  if (as_json) {
    std::printf("%s\n", reply["status"].dump(2).c_str());
  } else {
    std::fputs(tgs::tgsctl::StatusTable(reply["status"]).c_str(), stdout);
  }
  return 0;
}

int Top(const std::string& socket, double interval, long count) {
  for (long i = 0; count <= 0 || i < count; ++i) {
    json reply = Call(socket, {{"command", "status"}});
    // Home and clear only on a terminal, so that piped output stays a log.
    if (isatty(STDOUT_FILENO)) std::fputs("\x1b[H\x1b[2J", stdout);
    std::fputs(tgs::tgsctl::StatusTable(reply["status"]).c_str(), stdout);
    std::fflush(stdout);
    if (count > 0 && i + 1 >= count) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  }
  return 0;
}

int Set(const std::string& socket, const std::vector<std::string>& args) {
  if (args.empty()) UsageError("set needs a container (tgsctl status lists them)");
  json request = {{"command", "set"}, {"container", args[0]}};
  bool changes = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--persist") {
      request["persist"] = true;
      continue;
    }
    size_t eq = a.find('=');
    if (eq == std::string::npos) UsageError("'" + a + "': expected class=NAME, memory_limit=SIZE or weight=N");
    std::string key = a.substr(0, eq), value = a.substr(eq + 1);
    if (value.empty()) UsageError("'" + a + "': no value");
    if (key == "class") {
      request["class"] = value;
    } else if (key == "memory_limit") {
      std::string why;
      if (!tgs::ParseByteSize(value, &why)) UsageError("memory_limit '" + value + "': " + why);
      request["memory_limit"] = value;
    } else if (key == "weight") {
      char* end = nullptr;
      long w = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0') UsageError("weight '" + value + "' is not an integer");
      request["weight"] = w;
    } else {
      UsageError("unknown setting '" + key + "' (class, memory_limit, weight)");
    }
    changes = true;
  }
  if (!changes) UsageError("set needs at least one of class=, memory_limit=, weight=");
  json reply = Call(socket, request);
  std::printf("%s\n", reply.value("message", std::string("done")).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string socket, config = kDefaultConfig;
  bool config_explicit = false;
  size_t i = 0;
  for (; i < args.size() && args[i].rfind("--", 0) == 0; ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      PrintUsage(stdout);
      return 0;
    }
    if ((args[i] == "--socket" || args[i] == "--config") && i + 1 >= args.size()) {
      UsageError(args[i] + " needs a value");
    }
    if (args[i] == "--socket") {
      socket = args[++i];
    } else if (args[i] == "--config") {
      config = args[++i];
      config_explicit = true;
    } else {
      UsageError("unknown option '" + args[i] + "'");
    }
  }
  if (i >= args.size()) UsageError("no command");
  std::string command = args[i++];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i), args.end());
  if (command == "cdi") return tgs::tgsctl::RunCdiCommand(rest, config, config_explicit);
  std::string admin = AdminSocket(socket, config, config_explicit);
  if (command == "status") {
    bool as_json = false;
    for (const std::string& a : rest) {
      if (a != "--json") UsageError("status: unknown argument '" + a + "'");
      as_json = true;
    }
    return Status(admin, as_json);
  }
  if (command == "top") {
    double interval = 1;
    long count = 0;
    for (size_t k = 0; k < rest.size(); ++k) {
      if ((rest[k] == "--interval" || rest[k] == "--count") && k + 1 < rest.size()) {
        char* end = nullptr;
        double v = std::strtod(rest[k + 1].c_str(), &end);
        if (*end != '\0' || !(v > 0)) UsageError(rest[k] + " needs a positive number, not '" + rest[k + 1] + "'");
        if (rest[k] == "--interval") interval = v;
        if (rest[k] == "--count") count = static_cast<long>(v);
        ++k;
      } else {
        UsageError("top: unknown argument '" + rest[k] + "'");
      }
    }
    return Top(admin, interval, count);
  }
  if (command == "set") return Set(admin, rest);
  UsageError("unknown command '" + command + "' (status, top, set, cdi)");
}
