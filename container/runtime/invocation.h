// tgs-oci-runtime's command line: runc's (or crun's), with the wrapper's own
// options in front, e.g. from Docker's
//   "runtimes": {"tgs": {"path": "/usr/bin/tgs-oci-runtime",
//                        "runtimeArgs": ["--tgs-runtime=/usr/sbin/runc"]}}
// which places runtimeArgs before the engine's own arguments:
//   tgs-oci-runtime [--tgs-runtime PATH] [--tgs-cdi-spec-dirs DIR:DIR]
//                   [runtime global options] COMMAND [command options] ID
// The wrapper's options are removed; everything else reaches the real
// runtime unchanged and in order.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tgs::oci {

struct Invocation {
  std::vector<std::string> runtime_args;              // for the real runtime, without argv[0]
  std::optional<std::string> real_runtime;            // --tgs-runtime
  std::optional<std::vector<std::string>> spec_dirs;  // --tgs-cdi-spec-dirs, ':'-separated
  std::string command;                                // "create", "run", "state", ...; "" when none
  std::string bundle;                                 // --bundle / -b of create and run; "" = not given
  std::string log_file;                               // the runtime's --log, where engines read its errors
  std::string log_format;                             // --log-format: "text" (default) or "json"
  std::string error;                                  // a malformed wrapper option
};

// `args` is argv without argv[0].
Invocation ParseInvocation(const std::vector<std::string>& args);

// Whether the command starts a container from a bundle (the ones that get
// TGS devices injected).
bool CreatesContainer(const Invocation& invocation);

}  // namespace tgs::oci
