// Offline checks of the Kubernetes deployment (container/kubernetes/): every
// manifest parses, the DaemonSet's pieces agree with each other (mounts,
// flags, the policy's paths, the shim version, the image tag), the samples
// ask only for resources the device plugin serves, in whole numbers, and the
// ConfigMap's policy loads with the controller's own loader. No cluster is
// needed; when kubectl is installed, it also renders the kustomization and
// decodes the workloads into Kubernetes' typed objects.
//
// TGS_MANIFEST_DIR=<dir> points the tests at another copy of the directory,
// to see a check fail on a deliberately broken manifest.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "controller/policy/loader.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kNamespace = "tgs-system";
constexpr const char* kImageRepository = "ghcr.io/tgs-project/tgs";
// The device plugin's defaults (container/device-plugin/options.h): what it
// uses when the DaemonSet does not pass the flag.
constexpr const char* kDefaultKubeletDir = "/var/lib/kubelet/device-plugins";
constexpr const char* kDefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock";
constexpr const char* kDefaultAdminSocket = "/run/tgs-admin/admin.sock";
constexpr const char* kDefaultDevRoot = "/dev";
// container/INTERFACES.md: controller.grant_dir's default.
constexpr const char* kDefaultGrantDir = "/run/tgs-grants";

fs::path ManifestDir() {
  const char* over = std::getenv("TGS_MANIFEST_DIR");
  return over != nullptr && *over != '\0' ? fs::path(over) : fs::path(TGS_KUBERNETES_DIR);
}

std::string Str(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

// node[k1][k2]..., or an undefined node when a key on the way is missing
// (yaml-cpp throws when a missing key's node is indexed again).
YAML::Node At(const YAML::Node& root, std::initializer_list<std::string> keys) {
  YAML::Node cur(root);
  for (const std::string& k : keys) {
    if (!cur || !cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& c = cur;
    if (!c[k]) return YAML::Node(YAML::NodeType::Undefined);
    cur.reset(c[k]);
  }
  return cur;
}

// `n` to iterate over, or an empty sequence when the key is missing (yaml-cpp
// throws when a missing key's node is iterated).
YAML::Node Items(const YAML::Node& n) {
  return n && (n.IsSequence() || n.IsMap()) ? n : YAML::Node(YAML::NodeType::Sequence);
}

// --- Loading ------------------------------------------------------------------

struct Object {
  fs::path file;
  YAML::Node node;
  std::string kind() const { return Str(node["kind"]); }
  std::string name() const { return Str(At(node, {"metadata", "name"})); }
};

// Every manifest under the directory (recursively), kustomization.yaml aside.
std::vector<fs::path> ManifestFiles() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(ManifestDir())) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    if ((ext == ".yaml" || ext == ".yml") && e.path().filename() != "kustomization.yaml") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// All documents of a file; a parse error fails the calling test.
std::vector<YAML::Node> LoadDocs(const fs::path& file) {
  try {
    return YAML::LoadAllFromFile(file.string());
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << file << ": " << e.what();
    return {};
  }
}

std::vector<Object> LoadObjects(const fs::path& file) {
  std::vector<Object> out;
  for (const YAML::Node& doc : LoadDocs(file)) {
    if (doc.IsNull()) continue;  // an empty document (a trailing ---)
    out.push_back({file, doc});
  }
  return out;
}

// The one object of `kind` in `file` (relative to the manifest directory).
YAML::Node One(const std::string& file, const std::string& kind) {
  YAML::Node found;
  int count = 0;
  for (const Object& o : LoadObjects(ManifestDir() / file)) {
    if (o.kind() == kind) {
      found = o.node;
      ++count;
    }
  }
  EXPECT_EQ(count, 1) << "expected one " << kind << " in " << file;
  return found;
}

// --- The DaemonSet's pod --------------------------------------------------------

struct Pod {
  YAML::Node spec;

  YAML::Node Container(const std::string& name, bool init = false) const {
    for (const YAML::Node& c : Items(spec[init ? "initContainers" : "containers"])) {
      if (Str(c["name"]) == name) return c;
    }
    ADD_FAILURE() << "no " << (init ? "init container " : "container ") << name;
    return YAML::Node();
  }
  std::vector<YAML::Node> AllContainers() const {
    std::vector<YAML::Node> out;
    for (const char* key : {"initContainers", "containers"}) {
      for (const YAML::Node& c : Items(spec[key])) out.push_back(c);
    }
    return out;
  }
  YAML::Node Volume(const std::string& name) const {
    for (const YAML::Node& v : Items(spec["volumes"])) {
      if (Str(v["name"]) == name) return v;
    }
    return YAML::Node();
  }
};

Pod DaemonSetPod() { return Pod{At(One("daemonset.yaml", "DaemonSet"), {"spec", "template", "spec"})}; }

// command + args, one string each.
std::vector<std::string> Argv(const YAML::Node& container) {
  std::vector<std::string> out;
  for (const char* key : {"command", "args"}) {
    for (const YAML::Node& a : Items(container[key])) out.push_back(Str(a));
  }
  return out;
}

// Every value of `flag`, written "--flag=value" or "--flag value".
std::vector<std::string> FlagValues(const std::vector<std::string>& argv, const std::string& flag) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].rfind(flag + "=", 0) == 0) {
      out.push_back(argv[i].substr(flag.size() + 1));
    } else if (argv[i] == flag && i + 1 < argv.size()) {
      out.push_back(argv[++i]);
    }
  }
  return out;
}

std::string Flag(const std::vector<std::string>& argv, const std::string& flag, const std::string& fallback) {
  std::vector<std::string> v = FlagValues(argv, flag);
  EXPECT_LE(v.size(), 1u) << flag << " given more than once";
  return v.empty() ? fallback : v.back();
}

std::string Env(const YAML::Node& container, const std::string& name) {
  for (const YAML::Node& e : Items(container["env"])) {
    if (Str(e["name"]) == name) return Str(e["value"]);
  }
  return "";
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// Where a path inside a container comes from.
struct Source {
  enum Kind { kContainer, kHostPath, kConfigMap, kOther } kind = kContainer;
  std::string volume;       // the volume's name (not kContainer)
  std::string path;         // kHostPath: the host path; kConfigMap: the key; else the path itself
  bool read_only = false;
};

// Resolves `path` through `container`'s volume mounts (the longest mountPath
// that is a whole-component prefix of it).
Source Resolve(const Pod& pod, const YAML::Node& container, const std::string& path) {
  YAML::Node best;
  bool found = false;
  size_t best_len = 0;
  for (const YAML::Node& m : Items(container["volumeMounts"])) {
    std::string mp = Str(m["mountPath"]);
    while (mp.size() > 1 && mp.back() == '/') mp.pop_back();
    bool under = path == mp || (path.rfind(mp + "/", 0) == 0) || mp == "/";
    if (under && mp.size() >= best_len) {
      best = m;
      found = true;
      best_len = mp.size();
    }
  }
  Source s;
  if (!found) {
    s.path = path;
    return s;
  }
  std::string mount_path = Str(best["mountPath"]);
  while (mount_path.size() > 1 && mount_path.back() == '/') mount_path.pop_back();
  std::string rest = path.substr(std::min(path.size(), mount_path.size()));  // "" or "/..."
  if (std::string sub = Str(best["subPath"]); !sub.empty()) rest = "/" + sub + rest;
  s.volume = Str(best["name"]);
  s.read_only = Str(best["readOnly"]) == "true";
  YAML::Node v = pod.Volume(s.volume);
  if (v["hostPath"]) {
    s.kind = Source::kHostPath;
    std::string host = Str(At(v, {"hostPath", "path"}));
    while (host.size() > 1 && host.back() == '/') host.pop_back();
    s.path = host + rest;
  } else if (v["configMap"]) {
    s.kind = Source::kConfigMap;
    std::string item = rest.empty() ? "" : rest.substr(1);
    s.path = item;  // the key, unless items map it
    for (const YAML::Node& it : Items(At(v, {"configMap", "items"}))) {
      if (Str(it["path"]) == item) s.path = Str(it["key"]);
    }
  } else {
    s.kind = Source::kOther;
    s.path = path;
  }
  return s;
}

// A host path the container must see at the same place: the programs hand
// these paths to the kubelet or to each other, which use them on the host.
::testing::AssertionResult IsHostPathAtSamePlace(const Pod& pod, const YAML::Node& container,
                                                 const std::string& what, const std::string& path) {
  Source s = Resolve(pod, container, path);
  if (s.kind != Source::kHostPath) {
    return ::testing::AssertionFailure() << what << " " << path << " in container " << Str(container["name"])
                                         << " is not on a hostPath volume";
  }
  if (s.path != path) {
    return ::testing::AssertionFailure() << what << " " << path << " in container " << Str(container["name"])
                                         << " is host path " << s.path << ", not the same path";
  }
  return ::testing::AssertionSuccess();
}

// --- The policy in the ConfigMap -----------------------------------------------

std::string PolicyText() {
  YAML::Node cm = One("configmap.yaml", "ConfigMap");
  return Str(At(cm, {"data", "config.yaml"}));
}

// The classes the device plugin serves: its --class flags, else its defaults.
std::vector<std::string> PluginClasses(const Pod& pod) {
  std::vector<std::string> out;
  for (const std::string& c : FlagValues(Argv(pod.Container("device-plugin")), "--class")) {
    out.push_back(c.substr(0, c.find('=')));
  }
  if (out.empty()) out = {"production", "opportunistic"};
  return out;
}

std::set<std::string> PluginResources(const Pod& pod) {
  std::set<std::string> out;
  for (const std::string& c : PluginClasses(pod)) out.insert("tgs.io/" + c + "-gib");
  return out;
}

// --- Running programs -----------------------------------------------------------

struct CommandResult {
  int status = -1;  // exit status, -1 when it did not exit normally
  std::string output;
};

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// `command`'s stdout, and its stderr too unless `stdout_only` (then stderr
// goes to the test's own, where ctest shows it).
CommandResult Shell(const std::string& command, bool stdout_only = false) {
  CommandResult r;
  FILE* p = popen((stdout_only ? command : command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
  return r;
}

std::optional<fs::path> FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / program;
    if (access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
  }
  return std::nullopt;
}

// =============================================================================

TEST(Manifests, EveryFileParsesAndEveryObjectHasApiVersionKindAndName) {
  std::vector<fs::path> files = ManifestFiles();
  ASSERT_GE(files.size(), 6u) << "manifests expected under " << ManifestDir();
  for (const fs::path& file : files) {
    std::vector<Object> objects = LoadObjects(file);
    EXPECT_FALSE(objects.empty()) << file << " holds no object";
    for (const Object& o : objects) {
      ASSERT_TRUE(o.node.IsMap()) << file << ": a document is not a map";
      EXPECT_FALSE(Str(o.node["apiVersion"]).empty()) << file << ": an object without apiVersion";
      EXPECT_FALSE(o.kind().empty()) << file << ": an object without kind";
      EXPECT_FALSE(o.name().empty()) << file << ": a " << o.kind() << " without metadata.name";
    }
  }
}

TEST(Manifests, DeploymentObjectsLiveInTgsSystem) {
  for (const fs::path& file : ManifestFiles()) {
    if (file.parent_path().filename() == "samples") continue;  // the user's namespace
    for (const Object& o : LoadObjects(file)) {
      if (o.kind() == "Namespace") {
        EXPECT_EQ(o.name(), kNamespace) << file;
      } else {
        EXPECT_EQ(Str(At(o.node, {"metadata", "namespace"})), kNamespace)
            << file << ": " << o.kind() << " " << o.name();
      }
    }
  }
}

TEST(Manifests, KustomizationListsEveryDeploymentManifest) {
  YAML::Node k = YAML::LoadFile((ManifestDir() / "kustomization.yaml").string());
  std::set<std::string> listed;
  for (const YAML::Node& r : Items(k["resources"])) {
    std::string name = Str(r);
    EXPECT_TRUE(listed.insert(name).second) << name << " listed twice";
    EXPECT_TRUE(fs::exists(ManifestDir() / name)) << "kustomization.yaml lists missing " << name;
  }
  std::set<std::string> expected;
  for (const fs::path& file : ManifestFiles()) {
    if (file.parent_path() == ManifestDir()) expected.insert(file.filename().string());
  }
  EXPECT_EQ(listed, expected) << "kustomization.yaml's resources must be the top-level manifests (samples are "
                                 "applied by hand)";
}

TEST(Manifests, NamespaceAllowsPrivilegedPods) {
  YAML::Node ns = One("namespace.yaml", "Namespace");
  EXPECT_EQ(Str(At(ns, {"metadata", "labels", "pod-security.kubernetes.io/enforce"})), "privileged");
}

TEST(Manifests, ServiceAccountHasNoTokenAndThePodUsesIt) {
  YAML::Node sa = One("rbac.yaml", "ServiceAccount");
  EXPECT_EQ(Str(sa["automountServiceAccountToken"]), "false");
  Pod pod = DaemonSetPod();
  EXPECT_EQ(Str(pod.spec["serviceAccountName"]), Str(At(sa, {"metadata", "name"})));
  EXPECT_NE(Str(pod.spec["automountServiceAccountToken"]), "true") << "the pod would get a token nothing uses";
}

TEST(DaemonSet, SelectorMatchesTemplateLabels) {
  YAML::Node ds = One("daemonset.yaml", "DaemonSet");
  YAML::Node match = At(ds, {"spec", "selector", "matchLabels"});
  ASSERT_TRUE(match && match.IsMap() && match.size() > 0) << "spec.selector.matchLabels is empty";
  EXPECT_FALSE(At(ds, {"spec", "selector", "matchExpressions"})) << "matchExpressions: extend this test";
  YAML::Node labels = At(ds, {"spec", "template", "metadata", "labels"});
  for (const auto& kv : match) {
    std::string key = kv.first.Scalar();
    EXPECT_EQ(Str(labels[key]), Str(kv.second)) << "template label " << key << " must match the selector";
  }
}

TEST(DaemonSet, RunsOnLabelledGpuNodesWithHostPid) {
  Pod pod = DaemonSetPod();
  EXPECT_EQ(Str(At(pod.spec, {"nodeSelector", "tgs.io/gpu-node"})), "true");
  EXPECT_EQ(Str(pod.spec["hostPID"]), "true") << "the controller resolves peers' host pids in /proc";
  bool tolerates_gpu_taint = false;
  for (const YAML::Node& t : Items(pod.spec["tolerations"])) tolerates_gpu_taint |= Str(t["key"]) == "nvidia.com/gpu";
  EXPECT_TRUE(tolerates_gpu_taint);
  EXPECT_EQ(Str(At(pod.Container("controller"), {"securityContext", "privileged"})), "true")
      << "the controller needs the host's cgroup namespace";
}

TEST(DaemonSet, RollsOutOneNodeAtATimeAndNeverTwoAgentsOnANode) {
  YAML::Node s = At(One("daemonset.yaml", "DaemonSet"), {"spec", "updateStrategy"});
  EXPECT_EQ(Str(s["type"]), "RollingUpdate");
  EXPECT_FALSE(Str(At(s, {"rollingUpdate", "maxUnavailable"})).empty());
  // A surge pod's controller would find the node's sockets taken.
  std::string surge = Str(At(s, {"rollingUpdate", "maxSurge"}));
  EXPECT_TRUE(surge.empty() || surge == "0" || surge == "0%") << "maxSurge " << surge;
}

TEST(DaemonSet, EveryVolumeMountNamesADeclaredVolumeAndEveryVolumeIsUsed) {
  Pod pod = DaemonSetPod();
  std::set<std::string> declared, used;
  for (const YAML::Node& v : Items(pod.spec["volumes"])) {
    EXPECT_TRUE(declared.insert(Str(v["name"])).second) << "volume " << Str(v["name"]) << " declared twice";
  }
  for (const YAML::Node& c : pod.AllContainers()) {
    std::set<std::string> paths;
    for (const YAML::Node& m : Items(c["volumeMounts"])) {
      std::string name = Str(m["name"]);
      EXPECT_TRUE(declared.contains(name)) << "container " << Str(c["name"]) << " mounts undeclared volume "
                                           << name;
      EXPECT_TRUE(paths.insert(Str(m["mountPath"])).second)
          << "container " << Str(c["name"]) << " mounts two volumes at " << Str(m["mountPath"]);
      used.insert(name);
    }
  }
  for (const std::string& name : declared) EXPECT_TRUE(used.contains(name)) << "volume " << name << " is unused";
}

TEST(DaemonSet, EveryContainerHasResourceRequests) {
  for (const YAML::Node& c : DaemonSetPod().AllContainers()) {
    EXPECT_FALSE(Str(At(c, {"resources", "requests", "cpu"})).empty()) << Str(c["name"]);
    EXPECT_FALSE(Str(At(c, {"resources", "requests", "memory"})).empty()) << Str(c["name"]);
  }
}

TEST(DaemonSet, ControllerConfigIsTheConfigMap) {
  Pod pod = DaemonSetPod();
  YAML::Node ctl = pod.Container("controller");
  std::string config = Flag(Argv(ctl), "--config", "/etc/tgs/config.yaml");
  Source s = Resolve(pod, ctl, config);
  ASSERT_EQ(s.kind, Source::kConfigMap) << "--config " << config << " is not on the ConfigMap's volume";
  YAML::Node volume = pod.Volume(s.volume);
  YAML::Node cm = One("configmap.yaml", "ConfigMap");
  EXPECT_EQ(Str(At(volume, {"configMap", "name"})), Str(At(cm, {"metadata", "name"})));
  EXPECT_TRUE(At(cm, {"data", s.path})) << "the ConfigMap has no key " << s.path << " for --config " << config;
  // tgsctl (the probes, an operator's exec) reads the admin socket from the
  // default policy path.
  EXPECT_EQ(config, "/etc/tgs/config.yaml") << "tgsctl finds the admin socket through /etc/tgs/config.yaml";
}

TEST(DaemonSet, ControllerPathsAreHostPathsAtTheSamePlace) {
  tgs::policy::LoadResult r = tgs::policy::LoadPolicyText(PolicyText(), "configmap.yaml:config.yaml");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  const auto& settings = r.policy->controller;
  YAML::Node policy_yaml = YAML::Load(PolicyText());
  Pod pod = DaemonSetPod();
  YAML::Node ctl = pod.Container("controller");
  std::vector<std::string> argv = Argv(ctl);
  // A flag overrides the policy's value.
  std::string socket = Flag(argv, "--socket", settings.socket);
  std::string admin = Flag(argv, "--admin-socket", settings.admin_socket);
  std::string state = Flag(argv, "--state-dir", settings.state_dir);
  std::string grants = Str(At(policy_yaml, {"controller", "grant_dir"}));
  grants = Flag(argv, "--grant-dir", grants.empty() ? kDefaultGrantDir : grants);

  EXPECT_TRUE(IsHostPathAtSamePlace(pod, ctl, "controller.socket's directory", ParentDir(socket)));
  EXPECT_TRUE(IsHostPathAtSamePlace(pod, ctl, "controller.admin_socket's directory", ParentDir(admin)));
  // The kubelet mounts <grant_dir>/alloc/<id> from the host at the path the
  // controller reports.
  EXPECT_TRUE(IsHostPathAtSamePlace(pod, ctl, "controller.grant_dir", grants));
  // State (and grants.json) must outlive the pod: a new agent takes over.
  EXPECT_TRUE(IsHostPathAtSamePlace(pod, ctl, "controller.state_dir", state));
  EXPECT_FALSE(Resolve(pod, ctl, grants).read_only);
  EXPECT_FALSE(Resolve(pod, ctl, state).read_only);
  EXPECT_FALSE(Resolve(pod, ctl, ParentDir(admin)).read_only);
}

TEST(DaemonSet, DevicePluginFlagsAgreeWithItsMounts) {
  Pod pod = DaemonSetPod();
  YAML::Node plugin = pod.Container("device-plugin");
  YAML::Node ctl = pod.Container("controller");
  std::vector<std::string> argv = Argv(plugin);

  std::string kubelet_dir = Flag(argv, "--kubelet-dir", kDefaultKubeletDir);
  Source kd = Resolve(pod, plugin, kubelet_dir);
  EXPECT_EQ(kd.kind, Source::kHostPath) << "--kubelet-dir " << kubelet_dir;
  EXPECT_EQ(kd.path, kDefaultKubeletDir) << "--kubelet-dir " << kubelet_dir << " is not the kubelet's directory";
  EXPECT_FALSE(kd.read_only) << "the plugin creates its sockets there";

  std::string pod_resources = Flag(argv, "--pod-resources-socket", kDefaultPodResourcesSocket);
  Source pr = Resolve(pod, plugin, pod_resources);
  EXPECT_EQ(pr.kind, Source::kHostPath) << "--pod-resources-socket " << pod_resources;
  EXPECT_EQ(pr.path, kDefaultPodResourcesSocket);

  // Both containers reach the same host socket.
  tgs::policy::LoadResult r = tgs::policy::LoadPolicyText(PolicyText(), "configmap.yaml:config.yaml");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  std::string ctl_admin = Flag(Argv(ctl), "--admin-socket", r.policy->controller.admin_socket);
  std::string admin = Flag(argv, "--admin-socket", kDefaultAdminSocket);
  Source pa = Resolve(pod, plugin, admin);
  Source ca = Resolve(pod, ctl, ctl_admin);
  EXPECT_EQ(pa.kind, Source::kHostPath) << "--admin-socket " << admin;
  EXPECT_EQ(pa.path, ca.path) << "the plugin's --admin-socket " << admin << " is not the controller's " << ctl_admin;

  // The plugin hands the shim directory's host path to the kubelet.
  std::vector<std::string> shim = FlagValues(argv, "--shim-dir");
  ASSERT_EQ(shim.size(), 1u) << "--shim-dir is required, once";
  EXPECT_TRUE(IsHostPathAtSamePlace(pod, plugin, "--shim-dir", shim[0]));

  // Device nodes: the plugin hands the kubelet <dev-root>/nvidia* as host
  // paths, so --dev-root must be /dev: the container's own (which the NVIDIA
  // toolkit fills with the host's nodes at the same paths), or the host's
  // mounted at the same place.
  std::string dev_root = Flag(argv, "--dev-root", kDefaultDevRoot);
  EXPECT_EQ(dev_root, "/dev") << "--dev-root " << dev_root << ": the kubelet would look for the GPUs' device "
                              << "nodes under " << dev_root << " on the host";
  Source dr = Resolve(pod, plugin, dev_root);
  if (dr.kind != Source::kContainer) {
    EXPECT_TRUE(IsHostPathAtSamePlace(pod, plugin, "--dev-root", dev_root));
  }
}

TEST(DaemonSet, DevicePluginProbesWatchTheSocketsOfItsClasses) {
  Pod pod = DaemonSetPod();
  YAML::Node plugin = pod.Container("device-plugin");
  std::string kubelet_dir = Flag(Argv(plugin), "--kubelet-dir", kDefaultKubeletDir);
  std::set<std::string> expected;
  for (const std::string& c : PluginClasses(pod)) expected.insert(kubelet_dir + "/tgs-" + c + ".sock");
  for (const char* probe : {"startupProbe", "livenessProbe", "readinessProbe"}) {
    if (!plugin[probe]) continue;
    std::string command;
    for (const YAML::Node& a : Items(At(plugin, {probe, "exec", "command"}))) command += Str(a) + " ";
    std::set<std::string> named;
    std::regex sock_re(R"((/[^ &;|]*/tgs-[a-z0-9-]+\.sock))");
    for (std::sregex_iterator it(command.begin(), command.end(), sock_re), end; it != end; ++it) {
      named.insert((*it)[1]);
    }
    EXPECT_EQ(named, expected) << probe << " checks other sockets than the plugin serves: " << command;
  }
}

TEST(DaemonSet, InitContainerInstallsTheShimDirectoryThePluginServes) {
  Pod pod = DaemonSetPod();
  YAML::Node init = pod.Container("install-shim", /*init=*/true);
  std::string version = Env(init, "TGS_VERSION");
  std::string root = Env(init, "TGS_SHIM_ROOT");
  ASSERT_FALSE(version.empty());
  ASSERT_FALSE(root.empty());
  EXPECT_EQ(version, TGS_PROJECT_VERSION) << "the shim directory is named by the project's version";
  Source s = Resolve(pod, init, root);
  ASSERT_EQ(s.kind, Source::kHostPath) << "TGS_SHIM_ROOT " << root;
  EXPECT_FALSE(s.read_only) << "install-shim writes there";
  std::vector<std::string> shim = FlagValues(Argv(pod.Container("device-plugin")), "--shim-dir");
  ASSERT_EQ(shim.size(), 1u);
  EXPECT_EQ(s.path + "/" + version, shim[0]) << "install-shim writes another directory than the plugin serves";
  // The script copies exactly the files the plugin mounts into containers.
  std::string script;
  for (const YAML::Node& a : Items(init["command"])) script += Str(a) + "\n";
  for (const char* f : {"libtgs.so", "libtgs-nvml.so", "ld.so.preload"}) {
    EXPECT_NE(script.find(f), std::string::npos) << "install-shim does not install " << f;
  }
  EXPECT_NE(script.find("mv -T"), std::string::npos) << "a version directory appears by rename, complete";
}

TEST(DaemonSet, OneImageTagEverywhereAndItIsTheProjectVersion) {
  YAML::Node ds = One("daemonset.yaml", "DaemonSet");
  Pod pod = DaemonSetPod();
  const std::string image = std::string(kImageRepository) + ":" + TGS_PROJECT_VERSION;
  std::vector<YAML::Node> containers = pod.AllContainers();
  ASSERT_EQ(containers.size(), 3u);
  for (const YAML::Node& c : containers) EXPECT_EQ(Str(c["image"]), image) << Str(c["name"]);
  EXPECT_EQ(Str(At(ds, {"metadata", "labels", "app.kubernetes.io/version"})), TGS_PROJECT_VERSION);
}

TEST(DaemonSet, MetricsPortAgreesWithThePolicyAndTheScrapeAnnotations) {
  tgs::policy::LoadResult r = tgs::policy::LoadPolicyText(PolicyText(), "configmap.yaml:config.yaml");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  Pod pod = DaemonSetPod();
  std::string listen = Flag(Argv(pod.Container("controller")), "--metrics-listen", r.policy->controller.metrics_listen);
  ASSERT_FALSE(listen.empty()) << "metrics are disabled";
  std::string host = listen.substr(0, listen.rfind(':'));
  std::string port = listen.substr(listen.rfind(':') + 1);
  EXPECT_TRUE(host != "127.0.0.1" && host != "localhost" && host != "[::1]")
      << "metrics on " << listen << " cannot be scraped from outside the pod";
  bool declared = false;
  for (const YAML::Node& p : Items(pod.Container("controller")["ports"])) declared |= Str(p["containerPort"]) == port;
  EXPECT_TRUE(declared) << "the controller declares no containerPort " << port;
  YAML::Node ann = At(One("daemonset.yaml", "DaemonSet"), {"spec", "template", "metadata", "annotations"});
  EXPECT_EQ(Str(ann["prometheus.io/scrape"]), "true");
  EXPECT_EQ(Str(ann["prometheus.io/port"]), port);
}

TEST(Policy, ConfigMapPolicyLoadsAndDefinesEveryClassThePluginServes) {
  tgs::policy::LoadResult r = tgs::policy::LoadPolicyText(PolicyText(), "configmap.yaml:config.yaml");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  std::string warnings;
  for (const auto& w : r.warnings) warnings += w.ToString() + "\n";
  EXPECT_TRUE(r.warnings.empty()) << warnings;
  for (const std::string& c : PluginClasses(DaemonSetPod())) {
    EXPECT_TRUE(r.policy->classes.contains(c)) << "the plugin serves tgs.io/" << c << "-gib but the policy has no "
                                               << "class " << c;
  }
  // What the brief of the deployment promises: the two built-in classes.
  EXPECT_EQ(r.policy->classes.at("production").kind, tgs::policy::Kind::kProduction);
  EXPECT_EQ(r.policy->classes.at("opportunistic").kind, tgs::policy::Kind::kOpportunistic);
}

TEST(Policy, TheRealControllerAcceptsIt) {
  fs::path dir = fs::temp_directory_path() / ("tgs-manifest-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::path file = dir / "config.yaml";
  std::ofstream(file) << PolicyText();
  CommandResult r = Shell(Quote(TGS_CONTROLLER_BIN) + " --check-config " + Quote(file.string()));
  fs::remove_all(dir);
  EXPECT_EQ(r.status, 0) << "tgs-controller --check-config refuses the ConfigMap's policy:\n" << r.output;
}

// Every tgs.io resource a sample container asks for, with its quantities.
struct Ask {
  std::string file, container, resource, limit, request;
};
std::vector<Ask> SampleAsks() {
  std::vector<Ask> out;
  for (const fs::path& file : ManifestFiles()) {
    if (file.parent_path().filename() != "samples") continue;
    for (const Object& o : LoadObjects(file)) {
      YAML::Node spec = o.kind() == "Pod" ? o.node["spec"] : At(o.node, {"spec", "template", "spec"});
      for (const char* key : {"initContainers", "containers"}) {
        for (const YAML::Node& c : Items(spec[key])) {
          std::set<std::string> names;
          for (const char* part : {"limits", "requests"}) {
            for (const auto& kv : Items(At(c, {"resources", part}))) {
              if (kv.first.Scalar().rfind("tgs.io/", 0) == 0) names.insert(kv.first.Scalar());
            }
          }
          for (const std::string& n : names) {
            out.push_back({file.filename().string(), Str(c["name"]), n, Str(At(c, {"resources", "limits", n})),
                           Str(At(c, {"resources", "requests", n}))});
          }
        }
      }
    }
  }
  return out;
}

TEST(Samples, AskOnlyForResourcesThePluginServes) {
  std::set<std::string> served = PluginResources(DaemonSetPod());
  std::vector<Ask> asks = SampleAsks();
  ASSERT_FALSE(asks.empty()) << "no sample asks for a tgs.io resource";
  std::map<std::pair<std::string, std::string>, int> per_container;
  for (const Ask& a : asks) {
    EXPECT_TRUE(served.contains(a.resource)) << a.file << ": " << a.resource << " is not served by the plugin";
    ++per_container[{a.file, a.container}];
  }
  // Two TGS resources would give one container two /run/tgs mounts.
  for (const auto& [where, n] : per_container) EXPECT_EQ(n, 1) << where.first << " container " << where.second;
  // The two samples the README walks through.
  std::map<std::string, std::string> limit_of;
  for (const Ask& a : asks) limit_of[a.file + " " + a.resource] = a.limit;
  EXPECT_EQ(limit_of["production-pod.yaml tgs.io/production-gib"], "20");
  EXPECT_EQ(limit_of["opportunistic-pod.yaml tgs.io/opportunistic-gib"], "16");
}

TEST(Samples, AskInWholeNumbersInLimits) {
  const std::regex whole("[1-9][0-9]*");
  for (const Ask& a : SampleAsks()) {
    // Extended resources must be integers; the kubelet refuses "20Gi", "0.5"
    // and "500m", and requests without limits.
    EXPECT_TRUE(std::regex_match(a.limit, whole)) << a.file << ": limits." << a.resource << " '" << a.limit
                                                  << "' is not a whole number";
    EXPECT_TRUE(a.request.empty() || a.request == a.limit)
        << a.file << ": requests." << a.resource << " must equal the limit";
  }
}

// --- kubectl, when it is installed (no cluster needed) ----------------------------

std::string KubectlCommand(const fs::path& kubectl) {
  // No kubeconfig: nothing here may reach a cluster, whatever the developer's
  // environment points at.
  return "KUBECONFIG=/dev/null " + Quote(kubectl.string());
}

TEST(Kubectl, KustomizeRendersExactlyTheDeploymentObjects) {
  std::optional<fs::path> kubectl = FindOnPath("kubectl");
  if (!kubectl) {
    GTEST_SKIP() << "kubectl is not on PATH: the kustomization was not rendered (install kubectl to check it)";
  }
  CommandResult r = Shell(KubectlCommand(*kubectl) + " kustomize " + Quote(ManifestDir().string()),
                          /*stdout_only=*/true);
  ASSERT_EQ(r.status, 0) << r.output;
  std::multiset<std::string> rendered, expected;
  try {
    for (const YAML::Node& doc : YAML::LoadAll(r.output)) {
      if (!doc.IsNull()) rendered.insert(Str(doc["kind"]) + "/" + Str(At(doc, {"metadata", "name"})));
    }
  } catch (const YAML::Exception& e) {
    FAIL() << "kubectl kustomize printed something that is not YAML: " << e.what() << "\n" << r.output;
  }
  for (const fs::path& file : ManifestFiles()) {
    if (file.parent_path().filename() == "samples") continue;
    for (const Object& o : LoadObjects(file)) expected.insert(o.kind() + "/" + o.name());
  }
  EXPECT_EQ(rendered, expected);
}

TEST(Kubectl, WorkloadsDecodeAsTypedKubernetesObjects) {
  std::optional<fs::path> kubectl = FindOnPath("kubectl");
  if (!kubectl) {
    GTEST_SKIP() << "kubectl is not on PATH: the workloads were not decoded (install kubectl to check them)";
  }
  // `kubectl set env --local` decodes each object into its Go type (a field of
  // the wrong type fails) and needs no API server; client-side dry-run does.
  std::string files;
  std::vector<std::string> expected;
  for (const fs::path& file : ManifestFiles()) {
    bool workload = false;
    for (const Object& o : LoadObjects(file)) {
      if (o.kind() == "DaemonSet") expected.push_back("daemonset.apps/" + o.name());
      if (o.kind() == "Pod") expected.push_back("pod/" + o.name());
      workload |= o.kind() == "DaemonSet" || o.kind() == "Pod";
    }
    if (workload) files += " -f " + Quote(file.string());
  }
  ASSERT_FALSE(files.empty());
  CommandResult r = Shell(KubectlCommand(*kubectl) + " set env --local" + files + " TGS_MANIFEST_CHECK=1 -o name");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const std::string& name : expected) {
    EXPECT_NE(r.output.find(name), std::string::npos) << name << " was not decoded:\n" << r.output;
  }
  // Every other object decodes too (kubectl label works on any kind).
  std::string every;
  for (const fs::path& file : ManifestFiles()) every += " -f " + Quote(file.string());
  CommandResult all = Shell(KubectlCommand(*kubectl) + " label --local" + every + " tgs.io/manifest-check=1 -o name");
  EXPECT_EQ(all.status, 0) << all.output;
}

}  // namespace

// --- install-shim, run ------------------------------------------------------------
// FIELD-NOTES §6: replacing the shim under running containers crashes them.
// The init container's own script is run here against a temporary "host"
// directory, with this build's shim directory standing in for the image's
// /usr/lib/tgs: a version is installed once, complete, and never rewritten;
// another version goes beside it; a directory another build wrote under this
// version stops the pod.

struct InstallRun {
  int status = -1;
  std::string output;
};

class InstallShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    YAML::Node init = DaemonSetPod().Container("install-shim", /*init=*/true);
    std::vector<std::string> command = Argv(init);
    ASSERT_EQ(command.size(), 3u) << "install-shim is expected to be /bin/sh -c SCRIPT";
    ASSERT_EQ(command[0], "/bin/sh");
    ASSERT_EQ(command[1], "-c");
    script_ = command[2];
    // The one line that names the image's shim directory points at this build's.
    const std::string image_src = "src=/usr/lib/tgs\n";
    size_t at = script_.find(image_src);
    ASSERT_NE(at, std::string::npos) << "install-shim no longer sets src=/usr/lib/tgs:\n" << script_;
    ASSERT_EQ(script_.find(image_src, at + 1), std::string::npos);
    script_.replace(at, image_src.size(), "src=" + std::string(TGS_BUILD_SHIM_DIR) + "\n");
    version_ = Env(init, "TGS_VERSION");
    char tmpl[] = "/tmp/tgs-install-shim-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  InstallRun Run(const std::string& version) {
    CommandResult r = Shell("env -i PATH=/usr/bin:/bin TGS_VERSION=" + Quote(version) +
                            " TGS_SHIM_ROOT=" + Quote(root_.string()) + " /bin/sh -c " + Quote(script_));
    return {r.status, r.output};
  }
  static ino_t Inode(const fs::path& p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string script_, version_;
  fs::path root_;
};

TEST_F(InstallShimTest, InstallsOnceCompleteAndNeverRewritesAVersion) {
  const fs::path src = TGS_BUILD_SHIM_DIR;
  ASSERT_TRUE(fs::exists(src / "libtgs.so")) << "build the shim first";
  fs::create_directories(root_ / (".install-" + version_ + ".left"));  // an install that died half-way

  InstallRun first = Run(version_);
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_NE(first.output.find("installed"), std::string::npos) << first.output;
  fs::path dest = root_ / version_;
  for (const char* f : {"libtgs.so", "libtgs-nvml.so", "ld.so.preload"}) {
    EXPECT_EQ(Read(dest / f), Read(src / f)) << f;
    EXPECT_EQ(fs::status(dest / f).permissions() & fs::perms::all, fs::perms(0644)) << f;
  }
  EXPECT_EQ(fs::status(dest).permissions() & fs::perms::all, fs::perms(0755));
  for (const auto& e : fs::directory_iterator(root_)) {
    EXPECT_EQ(e.path().filename().string().rfind(".install-", 0), std::string::npos) << "left over: " << e.path();
  }

  // A pod restart (or a second pod of the same version): nothing is rewritten.
  ino_t lib = Inode(dest / "libtgs.so");
  InstallRun again = Run(version_);
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("is this image's shim"), std::string::npos) << again.output;
  EXPECT_EQ(Inode(dest / "libtgs.so"), lib);

  // An upgrade goes beside it; what running containers loaded stays.
  InstallRun next = Run("9.9.9");
  ASSERT_EQ(next.status, 0) << next.output;
  EXPECT_TRUE(fs::exists(root_ / "9.9.9" / "libtgs.so"));
  EXPECT_EQ(Inode(dest / "libtgs.so"), lib);
}

TEST_F(InstallShimTest, AnotherBuildUnderThisVersionStopsThePod) {
  ASSERT_EQ(Run(version_).status, 0);
  fs::path lib = root_ / version_ / "libtgs-nvml.so";
  { std::ofstream(lib, std::ios::app) << "another build"; }
  std::string tampered = Read(lib);
  InstallRun r = Run(version_);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("differs from this image's"), std::string::npos) << r.output;
  EXPECT_EQ(Read(lib), tampered) << "install-shim must not replace a library that containers may have loaded";
}
