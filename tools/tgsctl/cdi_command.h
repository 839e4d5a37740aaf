// `tgsctl cdi generate`: the node's CDI spec for TGS (tools/tgsctl/README.md).
#pragma once

#include <string>
#include <vector>

namespace tgs::tgsctl {

// Usage lines for tgsctl's help.
extern const char* const kCdiUsage;

// Runs `tgsctl cdi ARGS...`. `config` is tgsctl's --config (or its default)
// and `config_explicit` whether it was given. Returns the exit status: 0
// done, 1 the node's GPUs or the output could not be read or written, 2 a
// usage error or an unusable value (the message names the flag).
int RunCdiCommand(const std::vector<std::string>& args, const std::string& config, bool config_explicit);

}  // namespace tgs::tgsctl
