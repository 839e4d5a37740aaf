#include "container/runtime/invocation.h"

#include <set>

namespace tgs::oci {
namespace {

// Options that take a value when written "--name VALUE" (also "-name VALUE":
// runc's option parser accepts one dash). Global options of runc and crun,
// then those of create/run. Every other option is a flag.
const std::set<std::string> kGlobalValueOptions = {"log", "log-format", "root", "criu", "rootless", "cgroup-manager"};
const std::set<std::string> kCommandValueOptions = {"bundle", "b", "console-socket", "pid-file", "preserve-fds"};

// "--root=x" -> ("root", "x"); "-b" -> ("b", nullopt).
std::pair<std::string, std::optional<std::string>> SplitOption(const std::string& arg) {
  std::string body = arg.substr(arg.rfind("--", 0) == 0 ? 2 : 1);
  size_t eq = body.find('=');
  if (eq == std::string::npos) return {body, std::nullopt};
  return {body.substr(0, eq), body.substr(eq + 1)};
}

std::vector<std::string> SplitDirs(const std::string& text) {
  std::vector<std::string> dirs;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t colon = text.find(':', pos);
    if (colon == std::string::npos) colon = text.size();
    if (colon > pos) dirs.push_back(text.substr(pos, colon - pos));
    pos = colon + 1;
  }
  return dirs;
}

}  // namespace

Invocation ParseInvocation(const std::vector<std::string>& args) {
  Invocation inv;
  size_t i = 0;
  // Global options, the wrapper's among them.
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--" || arg.size() < 2 || arg[0] != '-') break;
    auto [name, value] = SplitOption(arg);
    if (name == "tgs-runtime" || name == "tgs-cdi-spec-dirs") {
      if (!value) {
        if (i + 1 >= args.size()) {
          inv.error = "--" + name + " needs a value";
          return inv;
        }
        value = args[++i];
      }
      if (value->empty()) {
        inv.error = "--" + name + " needs a non-empty value";
        return inv;
      }
      if (name == "tgs-runtime") {
        inv.real_runtime = *value;
      } else {
        inv.spec_dirs = SplitDirs(*value);
      }
      continue;  // the wrapper's own: not passed on
    }
    inv.runtime_args.push_back(arg);
    if (kGlobalValueOptions.count(name) != 0 && !value && i + 1 < args.size()) {
      value = args[++i];
      inv.runtime_args.push_back(*value);
    }
    if (name == "log" && value) inv.log_file = *value;
    if (name == "log-format" && value) inv.log_format = *value;
  }
  if (i < args.size() && args[i] != "--") inv.command = args[i];
  // The command and its options pass through as they are; only the bundle
  // is looked for, up to the container id (the first operand).
  size_t first_command_arg = inv.runtime_args.size() + 1;
  inv.runtime_args.insert(inv.runtime_args.end(), args.begin() + static_cast<long>(i), args.end());
  if (!CreatesContainer(inv)) return inv;
  for (size_t k = first_command_arg; k < inv.runtime_args.size(); ++k) {
    const std::string& arg = inv.runtime_args[k];
    if (arg == "--" || arg.size() < 2 || arg[0] != '-') break;
    auto [name, value] = SplitOption(arg);
    if (kCommandValueOptions.count(name) != 0 && !value && k + 1 < inv.runtime_args.size()) {
      value = inv.runtime_args[++k];
    }
    if ((name == "bundle" || name == "b") && value) inv.bundle = *value;
  }
  return inv;
}

bool CreatesContainer(const Invocation& invocation) {
  return invocation.command == "create" || invocation.command == "run";
}

}  // namespace tgs::oci
