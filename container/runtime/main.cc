// tgs-oci-runtime: an OCI runtime that is runc (or crun) plus TGS's CDI
// devices, for engines without CDI support and for runc used directly.
//
// Every invocation goes to the real runtime unchanged (invocation.h), except
// that before `create` and `run` the bundle's config.json gets the edits of
// the tgs.io/gpu devices it requests (inject.h), written back atomically. A
// requested device that no spec defines stops here: nothing is started.
//
// The real runtime: --tgs-runtime PATH, else $TGS_OCI_RUNTIME, else `runc`
// from PATH. The CDI spec directories: --tgs-cdi-spec-dirs DIR:DIR, else
// $TGS_CDI_SPEC_DIRS, else /etc/cdi:/var/run/cdi (later ones take
// precedence, as in CDI).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "container/runtime/cdi_names.h"
#include "container/runtime/cdi_registry.h"
#include "container/runtime/inject.h"
#include "container/runtime/invocation.h"

namespace {

namespace fs = std::filesystem;
using tgs::oci::Invocation;

constexpr const char* kUsage =
    "usage: tgs-oci-runtime [--tgs-runtime PATH] [--tgs-cdi-spec-dirs DIR:DIR] RUNTIME-ARGS...\n"
    "An OCI runtime: runs the real runtime (--tgs-runtime, $TGS_OCI_RUNTIME, else runc) with\n"
    "RUNTIME-ARGS; before `create` and `run` it adds the TGS devices the bundle's config.json\n"
    "requests (TGS_DEVICES=<names> in process.env, or cdi.k8s.io/* annotations naming\n"
    "tgs.io/gpu devices) from the CDI specs in --tgs-cdi-spec-dirs, $TGS_CDI_SPEC_DIRS, else\n"
    "/etc/cdi:/var/run/cdi.\n";

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  char text[64];
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// Says why nothing was started: on stderr, and in the runtime's --log file
// in its format, which is where containerd and Docker read a runtime's
// errors from to show them to the user.
[[noreturn]] void Refuse(const Invocation& inv, const std::string& why) {
  std::fprintf(stderr, "tgs-oci-runtime: %s\n", why.c_str());
  if (!inv.log_file.empty()) {
    std::ofstream log(inv.log_file, std::ios::app);
    std::string message = "tgs-oci-runtime: " + why;
    if (inv.log_format == "json") {
      log << nlohmann::json{{"level", "error"}, {"msg", message}, {"time", Timestamp()}}.dump() << "\n";
    } else {
      log << "time=\"" << Timestamp() << "\" level=error msg=" << nlohmann::json(message).dump() << "\n";
    }
  }
  std::exit(1);
}

std::vector<std::string> SplitColons(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ':');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// `name` as execvp would find it, skipping this program itself: installed
// as "runc" early in PATH, the wrapper must not run itself for ever.
std::string FindRealRuntime(const Invocation& inv) {
  std::string name = inv.real_runtime.value_or("");
  if (name.empty()) {
    const char* env = std::getenv("TGS_OCI_RUNTIME");
    name = env != nullptr && *env != '\0' ? env : "runc";
  }
  if (name.find('/') != std::string::npos) {
    if (SameFile(name, "/proc/self/exe")) Refuse(inv, "the real runtime " + name + " is tgs-oci-runtime itself");
    if (access(name.c_str(), X_OK) != 0) Refuse(inv, "the real runtime " + name + ": " + std::strerror(errno));
    return name;
  }
  const char* path = std::getenv("PATH");
  for (const std::string& dir :
       SplitColons(path != nullptr ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")) {
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0 && !SameFile(candidate, "/proc/self/exe")) return candidate;
  }
  Refuse(inv, "no '" + name + "' in PATH (set TGS_OCI_RUNTIME or --tgs-runtime to the real OCI runtime)");
}

std::vector<std::string> SpecDirs(const Invocation& inv) {
  if (inv.spec_dirs) return *inv.spec_dirs;
  if (const char* env = std::getenv("TGS_CDI_SPEC_DIRS"); env != nullptr && *env != '\0') return SplitColons(env);
  return {std::begin(tgs::oci::kDefaultCdiSpecDirs), std::end(tgs::oci::kDefaultCdiSpecDirs)};
}

// Replaces `path` with `text` through a temporary file and a rename in the
// same directory, keeping the file's mode: the real runtime never reads a
// half-written config.
bool WriteAtomically(const std::string& path, const std::string& text, mode_t mode, std::string* error) {
  std::string tmp = path + ".tgs-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) {
    *error = "cannot create a file beside " + path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = fchmod(fd, mode & 07777) == 0;
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

void InjectDevices(const Invocation& inv) {
  std::string bundle = inv.bundle.empty() ? "." : inv.bundle;
  std::string config_path = (fs::path(bundle) / "config.json").string();
  struct stat st;
  if (stat(config_path.c_str(), &st) != 0) {
    // No config to edit: the real runtime reports that in its own words.
    return;
  }
  nlohmann::json config;
  try {
    std::ifstream in(config_path);
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    Refuse(inv, config_path + " is not valid JSON: " + e.what());
  }
  tgs::oci::CdiRegistry registry{std::string(tgs::oci::kTgsKind)};
  registry.LoadDirectories(SpecDirs(inv));
  tgs::oci::InjectionResult result = tgs::oci::InjectRequestedDevices(config, registry, tgs::oci::StatHostDeviceNode);
  if (!result.error.empty()) Refuse(inv, config_path + ": " + result.error);
  if (!result.changed) return;
  std::string error;
  if (!WriteAtomically(config_path, config.dump(2) + "\n", st.st_mode, &error)) Refuse(inv, error);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && (args[0] == "--tgs-help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Invocation inv = tgs::oci::ParseInvocation(args);
  if (!inv.error.empty()) {
    std::fprintf(stderr, "tgs-oci-runtime: %s\n\n%s", inv.error.c_str(), kUsage);
    return 2;
  }
  std::string runtime = FindRealRuntime(inv);
  if (tgs::oci::CreatesContainer(inv)) InjectDevices(inv);

  std::vector<char*> exec_args{const_cast<char*>(runtime.c_str())};
  for (std::string& a : inv.runtime_args) exec_args.push_back(a.data());
  exec_args.push_back(nullptr);
  execv(runtime.c_str(), exec_args.data());
  Refuse(inv, "cannot run " + runtime + ": " + std::strerror(errno));
}
