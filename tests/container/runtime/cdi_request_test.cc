// How tgs-oci-runtime finds what a bundle requests and where it is defined:
// device names (cdi_names.h), spec files and directories (spec_file.h,
// cdi_registry.h), the whole injection (inject.h) and its command line
// (invocation.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "container/runtime/cdi_names.h"
#include "container/runtime/cdi_registry.h"
#include "container/runtime/inject.h"
#include "container/runtime/invocation.h"
#include "container/runtime/spec_file.h"

namespace tgs::oci {
namespace {

using nlohmann::json;

json WithEnv(std::vector<std::string> env, json annotations = json::object()) {
  json config = {{"process", {{"env", env}}}};
  if (!annotations.empty()) config["annotations"] = annotations;
  return config;
}

TEST(QualifiedName, SplitsVendorClassAndName) {
  std::optional<QualifiedName> q = ParseQualifiedName("tgs.io/gpu=opportunistic-0");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->kind, "tgs.io/gpu");
  EXPECT_EQ(q->name, "opportunistic-0");
  EXPECT_EQ(q->Full(), "tgs.io/gpu=opportunistic-0");
  for (const char* bad : {"opportunistic-0", "tgs.io=x", "/gpu=x", "tgs.io/=x", "tgs.io/gpu=", "a/b/c=x"}) {
    EXPECT_FALSE(ParseQualifiedName(bad)) << bad;
  }
}

TEST(RequestedDevices, ShortAndFullNamesFromTgsDevicesOnceEach) {
  RequestedDevices r = FindRequestedDevices(
      WithEnv({"PATH=/bin", "TGS_DEVICES= opportunistic-0, tgs.io/gpu=opportunistic-1,,opportunistic-0"}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.names, (std::vector<std::string>{"opportunistic-0", "opportunistic-1"}));
}

TEST(RequestedDevices, TgsDevicesNamingAnotherKindIsAnError) {
  RequestedDevices r = FindRequestedDevices(WithEnv({"TGS_DEVICES=nvidia.com/gpu=0"}));
  EXPECT_NE(r.error.find("'nvidia.com/gpu=0' is not a tgs.io/gpu device"), std::string::npos) << r.error;
}

TEST(RequestedDevices, AnnotationsNameTgsDevicesAmongOthers) {
  RequestedDevices r = FindRequestedDevices(
      WithEnv({}, {{"cdi.k8s.io/tgs-device-plugin_abc", "tgs.io/gpu=production-all,nvidia.com/gpu=0"},
                   {"cdi.k8s.io/other", "vendor.com/dev=x"},
                   {"io.kubernetes.pod", "tgs.io/gpu=ignored-not-cdi"}}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.names, std::vector<std::string>{"production-all"});
  r = FindRequestedDevices(WithEnv({}, {{"cdi.k8s.io/x", "production-0"}}));
  EXPECT_NE(r.error.find("annotation cdi.k8s.io/x: 'production-0' is not a CDI device name"), std::string::npos)
      << r.error;
}

TEST(RequestedDevices, NothingRequestedWithoutEnvOrAnnotations) {
  EXPECT_TRUE(FindRequestedDevices(json::object()).names.empty());
  EXPECT_TRUE(FindRequestedDevices(WithEnv({"TGS_DEVICESX=a", "TGS_CLASS=x"})).names.empty());
}

TEST(SpecFile, YamlScalarsAreTypedAsInJson) {
  std::string error;
  std::optional<json> spec = ParseSpecText(R"(cdiVersion: "0.3.0"
kind: tgs.io/gpu
devices:
  - name: opportunistic-0
    containerEdits:
      deviceNodes:
        - {path: /dev/x, type: c, major: 195, minor: 0, uid: 1000}
      mounts:
        - hostPath: "123"
          containerPath: /a
          options: [ro, bind]
      hooks:
        - {hookName: poststop, path: /bin/true, timeout: 5}
flag: true
nothing: ~
)",
                                           "/etc/cdi/tgs.yaml", &error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ((*spec)["cdiVersion"], "0.3.0");
  const json& edits = (*spec)["devices"][0]["containerEdits"];
  EXPECT_EQ(edits["deviceNodes"][0]["major"], 195);
  EXPECT_TRUE(edits["deviceNodes"][0]["major"].is_number_integer());
  EXPECT_EQ(edits["mounts"][0]["hostPath"], "123") << "quoted stays a string";
  EXPECT_EQ(edits["mounts"][0]["options"], json::parse(R"(["ro", "bind"])"));
  EXPECT_EQ((*spec)["flag"], true);
  EXPECT_TRUE((*spec)["nothing"].is_null());
}

TEST(SpecFile, ErrorsNameTheFileAndPosition) {
  std::string error;
  EXPECT_FALSE(ParseSpecText("kind: [unclosed\n", "/etc/cdi/a.yaml", &error));
  EXPECT_EQ(error.rfind("/etc/cdi/a.yaml:", 0), 0u) << error;
  EXPECT_FALSE(ParseSpecText("{\"kind\": ", "/etc/cdi/a.json", &error));
  EXPECT_NE(error.find("/etc/cdi/a.json: not valid JSON"), std::string::npos) << error;
  EXPECT_TRUE(IsSpecFileName("a.json") && IsSpecFileName("a.yaml") && IsSpecFileName("a.yml"));
  EXPECT_FALSE(IsSpecFileName("a.json.bak"));
}

json Spec(const std::string& env, std::vector<std::string> names) {
  json devices = json::array();
  for (const std::string& n : names) devices.push_back({{"name", n}, {"containerEdits", {{"env", {env}}}}});
  return {{"cdiVersion", "0.3.0"}, {"kind", "tgs.io/gpu"}, {"devices", devices}};
}

TEST(CdiRegistry, LaterDirectoriesOverrideAndTheSameDirectoryConflicts) {
  CdiRegistry registry("tgs.io/gpu");
  registry.AddSpec(Spec("FROM=etc", {"a", "b", "c"}), "/etc/cdi/tgs.json", 0);
  registry.AddSpec(Spec("FROM=run", {"b"}), "/var/run/cdi/tgs.json", 1);
  registry.AddSpec(Spec("FROM=etc2", {"c"}), "/etc/cdi/tgs2.json", 0);
  registry.AddSpec({{"cdiVersion", "0.3.0"}, {"kind", "nvidia.com/gpu"}, {"devices", {{{"name", "a"}}}}},
                   "/etc/cdi/nvidia.json", 1);
  std::string error;
  ASSERT_NE(registry.Find("a", &error), nullptr) << error;
  EXPECT_EQ(registry.Find("a", &error)->edits["env"][0], "FROM=etc") << "another kind does not replace ours";
  EXPECT_EQ(registry.Find("b", &error)->edits["env"][0], "FROM=run");
  EXPECT_EQ(registry.Find("b", &error)->spec->file, "/var/run/cdi/tgs.json");
  EXPECT_EQ(registry.Find("c", &error), nullptr);
  EXPECT_NE(error.find("defined twice at the same priority, in /etc/cdi/tgs.json and /etc/cdi/tgs2.json"),
            std::string::npos)
      << error;
  EXPECT_EQ(registry.Find("zzz", &error), nullptr);
  EXPECT_NE(error.find("no CDI device tgs.io/gpu=zzz"), std::string::npos) << error;
  EXPECT_NE(error.find("known: a, b, c"), std::string::npos) << error;
}

TEST(CdiRegistry, MalformedSpecsOfItsKindAreReported) {
  CdiRegistry registry("tgs.io/gpu");
  registry.AddSpec({{"kind", "tgs.io/gpu"}, {"devices", {{{"name", "a"}}}}}, "/etc/cdi/nover.json", 0);
  registry.AddSpec({{"cdiVersion", "0.3.0"}, {"kind", "tgs.io/gpu"}, {"devices", json::array()}}, "/etc/cdi/none.json",
                   0);
  registry.AddSpec({{"cdiVersion", "0.3.0"}, {"kind", "tgs.io/gpu"}, {"devices", {{{"nom", "a"}}}}},
                   "/etc/cdi/noname.json", 0);
  EXPECT_EQ(registry.size(), 0u);
  ASSERT_EQ(registry.problems().size(), 3u);
  EXPECT_EQ(registry.problems()[0], "/etc/cdi/nover.json: no cdiVersion");
  std::string error;
  EXPECT_EQ(registry.Find("a", &error), nullptr);
  EXPECT_NE(error.find("unreadable spec: /etc/cdi/noname.json: a device without a name"), std::string::npos) << error;
}

TEST(CdiRegistry, ReadsJsonAndYamlFromDirectories) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("tgs-cdi-registry-test-" + std::to_string(getpid()));
  fs::create_directories(dir / "etc");
  fs::create_directories(dir / "run");
  std::ofstream(dir / "etc" / "tgs.json") << Spec("FROM=json", {"a", "b"}).dump();
  std::ofstream(dir / "run" / "tgs.yaml") << "cdiVersion: 0.3.0\nkind: tgs.io/gpu\ndevices:\n"
                                             "  - name: b\n    containerEdits: {env: [FROM=yaml]}\n";
  std::ofstream(dir / "run" / "broken.yaml") << "kind: [\n";
  std::ofstream(dir / "run" / "notes.txt") << "not a spec";
  CdiRegistry registry("tgs.io/gpu");
  registry.LoadDirectories({(dir / "etc").string(), (dir / "missing").string(), (dir / "run").string()});
  std::string error;
  ASSERT_NE(registry.Find("a", &error), nullptr) << error;
  ASSERT_NE(registry.Find("b", &error), nullptr) << error;
  EXPECT_EQ(registry.Find("b", &error)->edits["env"][0], "FROM=yaml");
  ASSERT_EQ(registry.problems().size(), 1u);
  EXPECT_NE(registry.problems()[0].find("broken.yaml"), std::string::npos);
  fs::remove_all(dir);
}

StatDeviceNode NoNodes() {
  return [](const std::string& p, std::string* error) -> std::optional<DeviceNodeInfo> {
    *error = p + ": no such node";
    return std::nullopt;
  };
}

TEST(InjectRequestedDevices, InjectsOnceAndRecordsWhat) {
  CdiRegistry registry("tgs.io/gpu");
  registry.AddSpec(Spec("TGS_CLASS=opportunistic", {"opportunistic-0"}), "/etc/cdi/tgs.json", 0);
  json config = WithEnv({"TGS_DEVICES=opportunistic-0"});
  InjectionResult r = InjectRequestedDevices(config, registry, NoNodes());
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(config["process"]["env"], json::parse(R"(["TGS_DEVICES=opportunistic-0", "TGS_CLASS=opportunistic"])"));
  EXPECT_EQ(config["annotations"][kInjectedAnnotation], "tgs.io/gpu=opportunistic-0");
  json again = config;
  r = InjectRequestedDevices(again, registry, NoNodes());
  EXPECT_FALSE(r.changed) << "a second create on the same bundle";
  EXPECT_EQ(again, config);
}

TEST(InjectRequestedDevices, UnknownDeviceOrNoRequestLeavesTheConfigAlone) {
  CdiRegistry registry("tgs.io/gpu");
  registry.AddSpec(Spec("TGS_CLASS=opportunistic", {"opportunistic-0"}), "/etc/cdi/tgs.json", 0);
  json config = WithEnv({"TGS_DEVICES=opportunistic-7"});
  json before = config;
  InjectionResult r = InjectRequestedDevices(config, registry, NoNodes());
  EXPECT_NE(r.error.find("no CDI device tgs.io/gpu=opportunistic-7"), std::string::npos) << r.error;
  EXPECT_EQ(config, before);
  config = WithEnv({"PATH=/bin"});
  before = config;
  r = InjectRequestedDevices(config, registry, NoNodes());
  EXPECT_EQ(r.error, "");
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(config, before);
}

TEST(Invocation, DockerStyleCreateFindsTheBundleAndKeepsEverythingElse) {
  std::vector<std::string> args = {"--tgs-runtime=/usr/sbin/runc",
                                   "--root",
                                   "/run/docker/runtime-runc/moby",
                                   "--log",
                                   "/run/x/log.json",
                                   "--log-format",
                                   "json",
                                   "--systemd-cgroup",
                                   "create",
                                   "--bundle",
                                   "/run/x/bundle",
                                   "--pid-file",
                                   "/run/x/pid",
                                   "abc123"};
  Invocation inv = ParseInvocation(args);
  EXPECT_EQ(inv.error, "");
  EXPECT_EQ(inv.real_runtime, "/usr/sbin/runc");
  EXPECT_EQ(inv.command, "create");
  EXPECT_EQ(inv.bundle, "/run/x/bundle");
  EXPECT_EQ(inv.log_file, "/run/x/log.json");
  EXPECT_EQ(inv.log_format, "json");
  EXPECT_TRUE(CreatesContainer(inv));
  EXPECT_EQ(inv.runtime_args, std::vector<std::string>(args.begin() + 1, args.end()));
}

TEST(Invocation, BundleSpellingsAndOtherCommands) {
  EXPECT_EQ(ParseInvocation({"run", "-b", "/b", "id"}).bundle, "/b");
  EXPECT_EQ(ParseInvocation({"run", "--bundle=/b", "id"}).bundle, "/b");
  EXPECT_EQ(ParseInvocation({"-root=/r", "create", "-d", "--console-socket", "/s", "-bundle", "/b", "id"}).bundle,
            "/b");
  EXPECT_EQ(ParseInvocation({"run", "id", "--bundle", "/not-an-option"}).bundle, "") << "after the id: arguments";
  Invocation inv = ParseInvocation({"--tgs-cdi-spec-dirs", "/a:/b", "--root", "/r", "state", "id"});
  EXPECT_EQ(inv.command, "state");
  EXPECT_FALSE(CreatesContainer(inv));
  EXPECT_EQ(inv.spec_dirs, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(inv.runtime_args, (std::vector<std::string>{"--root", "/r", "state", "id"}));
  EXPECT_EQ(ParseInvocation({"--version"}).command, "");
  EXPECT_EQ(ParseInvocation({"--version"}).runtime_args, std::vector<std::string>{"--version"});
  EXPECT_NE(ParseInvocation({"--tgs-runtime"}).error, "");
  EXPECT_NE(ParseInvocation({"--tgs-runtime=", "run", "id"}).error, "");
}

}  // namespace
}  // namespace tgs::oci
