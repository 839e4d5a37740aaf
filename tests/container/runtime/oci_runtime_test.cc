// tgs-oci-runtime as a program, in front of a fake runtime that records how
// it was called: what reaches the real runtime, what happens to config.json,
// and that a bad request starts nothing (no root needed).
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "tests/container/runtime/runtime_test_env.h"
#include "tests/integration/process_runner.h"

namespace tgs::rt {
namespace {

using nlohmann::json;

constexpr const char* kSpec = R"({
  "cdiVersion": "0.3.0",
  "kind": "tgs.io/gpu",
  "containerEdits": {
    "mounts": [{"hostPath": "/opt/shim", "containerPath": "/usr/lib/tgs", "options": ["ro", "bind"]}]
  },
  "devices": [
    {"name": "opportunistic-0", "containerEdits": {
      "env": ["TGS_CLASS=opportunistic"],
      "mounts": [{"hostPath": "/grants/class/opportunistic", "containerPath": "/run/tgs", "options": ["ro", "bind"]}],
      "deviceNodes": [{"path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0}]}}
  ]
})";

class OciRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    WriteText(dir_ / "fake-runc",
              "#!/bin/sh\n"
              "# Records its arguments, one per line, and that it ran.\n"
              "printf '%s\\n' \"$@\" > \"$FAKE_OUT/args\"\n");
    chmod((dir_ / "fake-runc").c_str(), 0755);
    WriteText(dir_ / "cdi/tgs.json", kSpec);
  }

  // A bundle whose process has `env`; config.json mode 0600.
  void WriteBundle(const std::vector<std::string>& env) {
    json config = {{"ociVersion", "1.0.2"},
                   {"process", {{"args", {"/bin/true"}}, {"env", env}, {"cwd", "/"}}},
                   {"root", {{"path", "rootfs"}}},
                   {"mounts", json::array()}};
    WriteText(dir_ / "bundle/config.json", config.dump(2));
    chmod((dir_ / "bundle/config.json").c_str(), 0600);
  }

  it::RunResult Run(const std::vector<std::string>& args, it::Env extra = {}) {
    it::Env env = {{"PATH", "/usr/bin:/bin"},
                   {"TGS_OCI_RUNTIME", dir_ / "fake-runc"},
                   {"TGS_CDI_SPEC_DIRS", (dir_ / "nonexistent") + ":" + (dir_ / "cdi")},
                   {"FAKE_OUT", dir_.path()}};
    for (const auto& [k, v] : extra) env[k] = v;
    std::vector<std::string> argv = {Built::OciRuntime()};
    argv.insert(argv.end(), args.begin(), args.end());
    return it::RunProcess(argv, env, std::chrono::seconds(30));
  }

  // What the fake runtime was called with; empty when it did not run.
  std::vector<std::string> RuntimeArgs() {
    std::vector<std::string> args;
    std::istringstream in(ReadText(dir_ / "args"));
    for (std::string line; std::getline(in, line);) args.push_back(line);
    return args;
  }

  TempDir dir_{"tgs-rt-oci"};
};

TEST_F(OciRuntimeTest, CreateGetsTheDevicesEditsAndTheRuntimeItsArgumentsUnchanged) {
  WriteBundle({"PATH=/bin", "TGS_DEVICES=tgs.io/gpu=opportunistic-0"});
  std::vector<std::string> args = {"--root",        dir_ / "root", "--log",      dir_ / "log.json",
                                   "--log-format",  "json",        "create",     "--bundle",
                                   dir_ / "bundle", "--pid-file",  dir_ / "pid", "ctr-1"};
  it::RunResult r = Run(args);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(RuntimeArgs(), args);
  json config = json::parse(ReadText(dir_ / "bundle/config.json"));
  EXPECT_EQ(config["process"]["env"],
            json::parse(R"(["PATH=/bin", "TGS_DEVICES=tgs.io/gpu=opportunistic-0", "TGS_CLASS=opportunistic"])"));
  EXPECT_EQ(config["mounts"], json::parse(R"([
      {"destination": "/run/tgs", "source": "/grants/class/opportunistic", "options": ["ro", "bind"]},
      {"destination": "/usr/lib/tgs", "source": "/opt/shim", "options": ["ro", "bind"]}])"));
  EXPECT_EQ(config["linux"]["devices"],
            json::parse(R"([{"path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0}])"));
  EXPECT_EQ(config["linux"]["resources"]["devices"],
            json::parse(R"([{"allow": true, "type": "c", "major": 195, "minor": 0, "access": "rwm"}])"));
  EXPECT_EQ(config["annotations"]["tgs.io/cdi-injected"], "tgs.io/gpu=opportunistic-0");
  struct stat st;
  ASSERT_EQ(stat((dir_ / "bundle/config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "config.json keeps its mode";
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ / "bundle"), {}), 1) << "no temporary left";
}

TEST_F(OciRuntimeTest, RunWithoutBundleFlagEditsTheCurrentDirectorysConfig) {
  WriteBundle({"TGS_DEVICES=opportunistic-0"});
  it::RunResult r =
      it::RunProcess({"/bin/sh", "-c", "cd \"$1\" && exec \"$2\" --tgs-runtime \"$3\" run ctr-2", "sh", dir_ / "bundle",
                      Built::OciRuntime(), dir_ / "fake-runc"},
                     {{"PATH", "/usr/bin:/bin"}, {"TGS_CDI_SPEC_DIRS", dir_ / "cdi"}, {"FAKE_OUT", dir_.path()}},
                     std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(RuntimeArgs(), (std::vector<std::string>{"run", "ctr-2"})) << "--tgs-runtime is the wrapper's own";
  json config = json::parse(ReadText(dir_ / "bundle/config.json"));
  EXPECT_EQ(config["process"]["env"][1], "TGS_CLASS=opportunistic");
}

TEST_F(OciRuntimeTest, AnUnknownDeviceStartsNothingAndSaysWhy) {
  WriteBundle({"TGS_DEVICES=opportunistic-9"});
  std::string before = ReadText(dir_ / "bundle/config.json");
  it::RunResult r = Run({"--log", dir_ / "log.json", "--log-format", "json", "create", "-b", dir_ / "bundle", "c"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_NE(r.err.find("no CDI device tgs.io/gpu=opportunistic-9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("known: opportunistic-0"), std::string::npos) << r.err;
  EXPECT_TRUE(RuntimeArgs().empty()) << "the real runtime must not run";
  EXPECT_EQ(ReadText(dir_ / "bundle/config.json"), before);
  // Engines show the runtime's log to the user.
  json line = json::parse(ReadText(dir_ / "log.json"));
  EXPECT_EQ(line["level"], "error");
  EXPECT_NE(line["msg"].get<std::string>().find("opportunistic-9"), std::string::npos) << line.dump();
}

TEST_F(OciRuntimeTest, WithoutTgsDevicesTheConfigIsNotRewritten) {
  WriteBundle({"PATH=/bin"});
  std::string before = ReadText(dir_ / "bundle/config.json");
  it::RunResult r = Run({"create", "--bundle", dir_ / "bundle", "c"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(ReadText(dir_ / "bundle/config.json"), before);
  EXPECT_EQ(RuntimeArgs(), (std::vector<std::string>{"create", "--bundle", dir_ / "bundle", "c"}));
}

TEST_F(OciRuntimeTest, OtherCommandsPassThroughWithoutReadingTheBundle) {
  WriteText(dir_ / "bundle/config.json", "{ not json");
  it::RunResult r = Run({"--root", dir_ / "root", "delete", "--force", "c"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(RuntimeArgs(), (std::vector<std::string>{"--root", dir_ / "root", "delete", "--force", "c"}));
  r = Run({"create", "--bundle", dir_ / "bundle", "c"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_NE(r.err.find("config.json is not valid JSON"), std::string::npos) << r.err;
}

TEST_F(OciRuntimeTest, AMissingRealRuntimeIsNamed) {
  it::RunResult r = Run({"state", "c"}, {{"TGS_OCI_RUNTIME", dir_ / "no-runc"}});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_NE(r.err.find("the real runtime " + (dir_ / "no-runc")), std::string::npos) << r.err;
  r = Run({"state", "c"}, {{"TGS_OCI_RUNTIME", "no-such-runc"}});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_NE(r.err.find("no 'no-such-runc' in PATH"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tgs::rt
