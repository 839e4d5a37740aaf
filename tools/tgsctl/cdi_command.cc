#include "tools/tgsctl/cdi_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "controller/policy/loader.h"
#include "tools/tgsctl/cdi_spec.h"
#include "tools/tgsctl/driver_libraries.h"
#include "tools/tgsctl/gpu_inventory.h"

#ifndef TGS_DEFAULT_SHIM_DIR
#error "TGS_DEFAULT_SHIM_DIR (the installed shim directory) must be defined by the build"
#endif

namespace tgs::tgsctl {

const char* const kCdiUsage =
    "  cdi generate [--class C]... [--shim-dir DIR] [--grant-dir DIR] [--driver-lib PATH|none]...\n"
    "               [--dev-root DIR] [--mount HOST:CONTAINER[:ro]]... [--nvml PATH] [--output FILE]\n"
    "                         write this node's CDI spec (kind tgs.io/gpu) for Docker, containerd,\n"
    "                         podman and tgs-oci-runtime: devices C-<index>, C-<UUID>, C-all per\n"
    "                         class C (default production and opportunistic). Defaults: --shim-dir\n"
    "                         " TGS_DEFAULT_SHIM_DIR
    ", --grant-dir controller.grant_dir of --config,\n"
    "                         --driver-lib the node's libcuda.so.1 and libnvidia-ml.so.1, --dev-root\n"
    "                         /dev, --output standard output\n";

namespace {

namespace fs = std::filesystem;

struct GenerateArgs {
  CdiSpecOptions spec;
  bool driver_libs_none = false;
  std::string shim_dir = TGS_DEFAULT_SHIM_DIR;
  std::optional<std::string> grant_dir;
  std::string nvml;
  std::string output;  // "" = stdout
  std::string config;
  bool config_explicit = false;
};

int Usage(const std::string& why) {
  std::fprintf(stderr, "tgsctl cdi: %s\n\nusage: tgsctl [--config FILE] COMMAND\n%s", why.c_str(), kCdiUsage);
  return 2;
}

// A flag whose value cannot be used: the message names it; no usage text.
int BadValue(const std::string& why) {
  std::fprintf(stderr, "tgsctl cdi generate: %s\n", why.c_str());
  return 2;
}

int Fail(const std::string& why) {
  std::fprintf(stderr, "tgsctl cdi generate: %s\n", why.c_str());
  return 1;
}

bool IsDeviceNode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode));
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Absolute(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// Writes `text` to `path` through a temporary file in the same directory and
// a rename, so a runtime reading the CDI directory never sees half a spec.
bool WriteAtomically(const std::string& path, const std::string& text, std::string* error) {
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  int fd = mkstemp(tmp.data());
  if (fd < 0) {
    *error = "cannot create a file in " + dir.string() + ": " + std::strerror(errno);
    return false;
  }
  bool ok = fchmod(fd, 0644) == 0;
  for (size_t done = 0; ok && done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  int saved = errno;
  ok = close(fd) == 0 && ok;
  if (ok && std::rename(tmp.c_str(), path.c_str()) == 0) return true;
  *error = "cannot write " + path + ": " + std::strerror(ok ? errno : saved);
  unlink(tmp.c_str());
  return false;
}

// The grant directory: --grant-dir, else controller.grant_dir of the policy
// (--config, or /etc/tgs/config.yaml when it exists), else the default. A
// policy that exists but does not load is an error: a spec pointing at the
// wrong grant directory would start containers that never reach the
// controller.
std::optional<std::string> GrantDir(const GenerateArgs& a, std::vector<std::string>* policy_classes,
                                    std::string* error) {
  if (!a.config_explicit && !Exists(a.config)) {
    return a.grant_dir.value_or(policy::ControllerSettings{}.grant_dir);
  }
  policy::LoadResult r = policy::LoadPolicyFile(a.config);
  if (!r.policy) {
    *error = "the policy " + a.config + " does not load (--config FILE names another):\n" + r.ErrorText();
    return std::nullopt;
  }
  for (const auto& [name, spec] : r.policy->classes) policy_classes->push_back(name);
  return a.grant_dir.value_or(r.policy->controller.grant_dir);
}

int Generate(GenerateArgs a) {
  // Classes and paths.
  if (a.spec.classes.empty()) a.spec.classes = {"production", "opportunistic"};
  std::string error;
  std::vector<std::string> policy_classes;
  std::optional<std::string> grant_dir = GrantDir(a, &policy_classes, &error);
  if (!grant_dir) return BadValue(error);
  a.spec.grant_dir = Absolute(*grant_dir);
  if (!policy_classes.empty()) {
    for (const std::string& c : a.spec.classes) {
      if (std::find(policy_classes.begin(), policy_classes.end(), c) != policy_classes.end()) continue;
      std::string known;
      for (const std::string& k : policy_classes) known += (known.empty() ? "" : ", ") + k;
      return BadValue("--class " + c + ": not a class of the policy " + a.config + " (" + known + ")");
    }
  }
  a.spec.shim_dir = Absolute(a.shim_dir);
  std::vector<std::string> missing = MissingShimFiles(a.spec.shim_dir, Exists);
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    return BadValue("--shim-dir " + a.spec.shim_dir + " lacks " + list +
                    " (a shim directory holds libtgs.so, libtgs-nvml.so and ld.so.preload; the build tree's is "
                    "build/lib/tgs)");
  }
  for (std::string& lib : a.spec.driver_libraries) {
    lib = Absolute(lib);
    if (!Exists(lib)) return BadValue("--driver-lib " + lib + ": no such file");
    std::string why;
    if (IsTgsShim(lib, &why)) return BadValue("--driver-lib " + lib + " is TGS's shim, not the driver");
    if (!why.empty()) return BadValue("--driver-lib " + lib + " does not load: " + why);
  }
  if (a.spec.driver_libraries.empty() && !a.driver_libs_none) {
    for (const char* soname : {"libcuda.so.1", "libnvidia-ml.so.1"}) {
      std::string path = FindRealDriverLibrary(soname, &error);
      if (path.empty()) {
        return Fail(error +
                    "\nGive the driver's files with --driver-lib PATH, or --driver-lib none when the "
                    "NVIDIA container toolkit injects the driver.");
      }
      a.spec.driver_libraries.push_back(path);
    }
  }
  a.spec.dev_root = Absolute(a.spec.dev_root);
  if (std::vector<std::string> problems = CheckCdiSpecOptions(a.spec); !problems.empty()) {
    std::string text;
    for (const std::string& p : problems) text += (text.empty() ? "" : "\n") + p;
    return BadValue(text);
  }

  // The GPUs, from the NVML that containers get when there is one, so the
  // spec and what containers see agree.
  std::string nvml = a.nvml;
  for (const std::string& lib : a.spec.driver_libraries) {
    if (nvml.empty() && fs::path(lib).filename().string().rfind("libnvidia-ml.so", 0) == 0) nvml = lib;
  }
  if (nvml.empty()) {
    nvml = FindRealDriverLibrary("libnvidia-ml.so.1", &error);
    if (nvml.empty()) return Fail(error + "\nGive NVML's path with --nvml PATH.");
  }
  std::optional<GpuInventory> inventory = ReadGpuInventory(nvml, &error);
  if (!inventory) return Fail(error);
  for (const std::string& note : inventory->notes)
    std::fprintf(stderr, "tgsctl cdi generate: note: %s\n", note.c_str());
  if (inventory->gpus.empty()) return Fail("NVML (" + nvml + ") lists no usable GPU; no spec written");
  std::string dev_root = a.spec.dev_root;
  for (const char* node : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"}) {
    if (!IsDeviceNode(dev_root + "/" + node)) {
      std::fprintf(stderr, "tgsctl cdi generate: note: %s/%s is not a device node here; left out\n", dev_root.c_str(),
                   node);
    }
  }

  nlohmann::ordered_json spec = BuildCdiSpec(inventory->gpus, a.spec, IsDeviceNode);
  std::string text = spec.dump(2) + "\n";
  if (a.output.empty()) {
    std::fputs(text.c_str(), stdout);
    return std::fflush(stdout) == 0 ? 0 : Fail("cannot write to standard output");
  }
  if (!WriteAtomically(a.output, text, &error)) return Fail("--output " + error);
  std::fprintf(stderr, "tgsctl cdi generate: %zu devices (CDI %s) for %zu GPU(s) written to %s\n",
               spec["devices"].size(), spec["cdiVersion"].get<std::string>().c_str(), inventory->gpus.size(),
               a.output.c_str());
  return 0;
}

}  // namespace

int RunCdiCommand(const std::vector<std::string>& args, const std::string& config, bool config_explicit) {
  if (args.empty()) return Usage("cdi needs a subcommand (generate)");
  if (args[0] != "generate") return Usage("unknown cdi subcommand '" + args[0] + "' (generate)");
  GenerateArgs a;
  a.config = config;
  a.config_explicit = config_explicit;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> value;
    if (size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    static const char* const kFlags[] = {"--class", "--shim-dir", "--grant-dir", "--driver-lib", "--dev-root",
                                         "--mount", "--nvml",     "--output",    "--config"};
    if (std::find_if(std::begin(kFlags), std::end(kFlags), [&](const char* f) { return flag == f; }) ==
        std::end(kFlags)) {
      return Usage("cdi generate: unknown argument '" + args[i] + "'");
    }
    if (!value) {
      if (i + 1 >= args.size()) return Usage(flag + " needs a value");
      value = args[++i];
    }
    if (value->empty()) return Usage(flag + " needs a non-empty value");
    if (flag == "--class") {
      a.spec.classes.push_back(*value);
    } else if (flag == "--shim-dir") {
      a.shim_dir = *value;
    } else if (flag == "--grant-dir") {
      a.grant_dir = *value;
    } else if (flag == "--driver-lib") {
      if (*value == "none") {
        a.driver_libs_none = true;
      } else {
        a.spec.driver_libraries.push_back(*value);
      }
    } else if (flag == "--dev-root") {
      a.spec.dev_root = *value;
    } else if (flag == "--mount") {
      std::string why;
      std::optional<ExtraMount> m = ParseMountFlag(*value, &why);
      if (!m) return BadValue("--mount " + *value + ": " + why);
      a.spec.mounts.push_back(*m);
    } else if (flag == "--nvml") {
      a.nvml = *value;
    } else if (flag == "--output") {
      a.output = *value;
    } else if (flag == "--config") {
      a.config = *value;
      a.config_explicit = true;
    }
  }
  if (a.driver_libs_none && !a.spec.driver_libraries.empty()) {
    return Usage("--driver-lib none and --driver-lib PATH exclude each other");
  }
  return Generate(std::move(a));
}

}  // namespace tgs::tgsctl
