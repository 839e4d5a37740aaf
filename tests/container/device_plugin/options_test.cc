// tgs-device-plugin's command line: defaults, every flag, and an error that
// names the flag for each bad value.
#include <gtest/gtest.h>

#include "container/device-plugin/options.h"

namespace tgs::device_plugin {
namespace {

ParseResult Parse(std::vector<std::string> args, bool with_shim_dir = true) {
  if (with_shim_dir) args.insert(args.begin(), {"--shim-dir", "/var/lib/tgs/0.1.0"});
  return ParseArgs(args);
}

// The error of a bad command line; fails the test if it parsed.
std::string ErrorOf(std::vector<std::string> args, bool with_shim_dir = true) {
  ParseResult r = Parse(std::move(args), with_shim_dir);
  EXPECT_FALSE(r.error.empty()) << "accepted";
  return r.error;
}

TEST(DevicePluginOptions, Defaults) {
  ParseResult r = Parse({});
  ASSERT_EQ(r.error, "");
  const Options& o = r.options;
  EXPECT_EQ(o.kubelet_dir, "/var/lib/kubelet/device-plugins");
  EXPECT_EQ(o.KubeletSocket(), "/var/lib/kubelet/device-plugins/kubelet.sock");
  EXPECT_EQ(o.pod_resources_socket, "/var/lib/kubelet/pod-resources/kubelet.sock");
  EXPECT_EQ(o.admin_socket, "/run/tgs-admin/admin.sock");
  EXPECT_EQ(o.shim_dir, "/var/lib/tgs/0.1.0");
  EXPECT_FALSE(o.driver_libs_given);
  EXPECT_EQ(o.dev_root, "/dev");
  EXPECT_EQ(o.nvml_library, "libnvidia-ml.so.1");
  EXPECT_EQ(o.health_interval_ms, 5000);
  EXPECT_EQ(o.label_interval_ms, 2000);
  EXPECT_EQ(o.grant_grace_ms, 60000);
  ASSERT_EQ(o.classes.size(), 2u);
  EXPECT_EQ(o.classes[0].name, "production");
  EXPECT_EQ(o.classes[0].overcommit, 1.0);
  EXPECT_EQ(o.classes[0].ResourceName(), "tgs.io/production-gib");
  EXPECT_EQ(o.classes[0].SocketName(), "tgs-production.sock");
  EXPECT_EQ(o.classes[1].name, "opportunistic");
  EXPECT_EQ(o.classes[1].ResourceName(), "tgs.io/opportunistic-gib");
}

TEST(DevicePluginOptions, EveryFlag) {
  ParseResult r = Parse({"--kubelet-dir", "/k/", "--pod-resources-socket=", "--admin-socket", "/a/admin.sock",
                         "--class", "batch=2.5", "--class=production", "--driver-lib", "/d/libcuda.so.1",
                         "--driver-lib", "/d/libnvidia-ml.so.1", "--dev-root", "/host/dev", "--nvml", "/x/libnvml.so",
                         "--health-interval", "100", "--label-interval=250", "--grant-grace", "3000"});
  ASSERT_EQ(r.error, "");
  const Options& o = r.options;
  EXPECT_EQ(o.kubelet_dir, "/k");
  EXPECT_EQ(o.pod_resources_socket, "");
  EXPECT_EQ(o.admin_socket, "/a/admin.sock");
  ASSERT_EQ(o.classes.size(), 2u);
  EXPECT_EQ(o.classes[0].name, "batch");
  EXPECT_DOUBLE_EQ(o.classes[0].overcommit, 2.5);
  EXPECT_EQ(o.classes[1].name, "production");
  EXPECT_TRUE(o.driver_libs_given);
  EXPECT_EQ(o.driver_libs, (std::vector<std::string>{"/d/libcuda.so.1", "/d/libnvidia-ml.so.1"}));
  EXPECT_EQ(o.dev_root, "/host/dev");
  EXPECT_EQ(o.nvml_library, "/x/libnvml.so");
  EXPECT_EQ(o.health_interval_ms, 100);
  EXPECT_EQ(o.label_interval_ms, 250);
  EXPECT_EQ(o.grant_grace_ms, 3000);
}

TEST(DevicePluginOptions, DriverLibNoneMeansNone) {
  ParseResult r = Parse({"--driver-lib", "none"});
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.options.driver_libs_given);
  EXPECT_TRUE(r.options.driver_libs.empty());
}

TEST(DevicePluginOptions, HelpNeedsNothingElse) {
  ParseResult r = Parse({"--help"}, false);
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.help);
  EXPECT_NE(std::string(Usage()).find("--grant-grace"), std::string::npos);
}

TEST(DevicePluginOptions, BadValuesNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;  // part of the error
  };
  const std::vector<Case> cases = {
      {{"--bogus", "1"}, "unknown flag '--bogus'"},
      {{"stray"}, "unexpected argument 'stray'"},
      {{"--kubelet-dir"}, "--kubelet-dir needs a value"},
      {{"--kubelet-dir", "relative"}, "--kubelet-dir 'relative': needs an absolute path"},
      {{"--kubelet-dir", "/" + std::string(100, 'k')}, "is longer than 107 bytes"},
      {{"--admin-socket", "admin.sock"}, "--admin-socket"},
      {{"--pod-resources-socket", "x.sock"}, "--pod-resources-socket 'x.sock'"},
      {{"--dev-root", "dev"}, "--dev-root"},
      {{"--nvml", ""}, "--nvml"},
      {{"--health-interval", "soon"}, "--health-interval 'soon'"},
      {{"--health-interval", "99"}, "from 100 to"},
      {{"--label-interval", "-5"}, "--label-interval '-5'"},
      {{"--grant-grace", "1e3"}, "--grant-grace '1e3'"},
      {{"--grant-grace", "99999999999"}, "--grant-grace"},
      {{"--class", "Prod"}, "--class 'Prod': the class name may hold only lowercase"},
      {{"--class", "-x"}, "must start and end"},
      {{"--class", ""}, "the class name is empty"},
      {{"--class", std::string(60, 'a')}, "longer than 59"},
      {{"--class", "batch=0.5"}, "overcommit '0.5' is not a number from 1 to 64"},
      {{"--class", "batch=lots"}, "overcommit 'lots'"},
      {{"--class", "batch=65"}, "overcommit '65'"},
      {{"--class", "production=2"}, "production never overcommits"},
      {{"--class", "batch", "--class", "batch=2"}, "--class 'batch' is given twice"},
      {{"--driver-lib", "libcuda.so.1"}, "--driver-lib 'libcuda.so.1': needs the absolute path"},
      {{"--driver-lib", "/a/libcuda.so.1", "--driver-lib", "/b/libcuda.so.1"}, "also named libcuda.so.1"},
      {{"--driver-lib", "none", "--driver-lib", "/a/libcuda.so.1"}, "--driver-lib none cannot be combined"},
      {{"--help=yes"}, "--help takes no value"},
  };
  for (const Case& c : cases) {
    std::string error = ErrorOf(c.args);
    EXPECT_NE(error.find(c.expected), std::string::npos) << "args: " << testing::PrintToString(c.args)
                                                         << "\nerror: " << error;
  }
  EXPECT_NE(ErrorOf({}, false).find("--shim-dir is required"), std::string::npos);
  EXPECT_NE(ErrorOf({"--shim-dir", "lib/tgs"}, false).find("--shim-dir 'lib/tgs'"), std::string::npos);
}

}  // namespace
}  // namespace tgs::device_plugin
