// Issue 5, acceptance 1: a real Prometheus server (Debian's package) on
// loopback scrapes tgs-controller every second while a production and an
// opportunistic training job share a simulated GPU. The test asks Prometheus
// (its HTTP API) for the memory each container holds, the opportunistic
// limit and production's throughput, checks values and labels against what
// the jobs did, and runs every panel query of the Grafana dashboard
// (container/grafana/tgs-dashboard.json), each of which must return data.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tools/common/loopback_http.h"
#include "tests/integration/controlled_jobs.h"

namespace tgs::it {
namespace {

using nlohmann::json;
using std::chrono::seconds;

const std::vector<std::string> kProductionShape = {"--kernels", "6", "--kernel-us", "2000", "--cpu-gap-us", "8000"};
const std::vector<std::string> kOpportunisticShape = {"--kernels", "8", "--kernel-us", "1000"};

std::string PrometheusBinary() {
  for (const char* p : {"/usr/bin/prometheus", "/usr/local/bin/prometheus"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

class PrometheusTest : public ControlledJobsTest {
 protected:
  void SetUp() override {
    ControlledJobsTest::SetUp();
    WriteConfigForRateControl("");
    metrics_port_ = testing::FreeLoopbackPort();
    controller_args_ = {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_)};
  }

  void StartPrometheus() {
    std::string binary = PrometheusBinary();
    if (binary.empty()) {
      GTEST_FAIL() << "no prometheus binary: tools/setup/install-deps.sh installs Debian's prometheus package";
    }
    prom_port_ = testing::FreeLoopbackPort();
    std::string config = dir_ + "/prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                             "scrape_configs:\n  - job_name: tgs\n    static_configs:\n"
                             "      - targets: ['127.0.0.1:"
                          << metrics_port_ << "']\n";
    std::string error;
    ASSERT_TRUE(prometheus_.Start({binary, "--config.file=" + config, "--storage.tsdb.path=" + dir_ + "/tsdb",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(prom_port_),
                                   "--log.level=warn"},
                                  {{"PATH", "/usr/bin:/bin"}, {"HOME", dir_}}, &error))
        << error;
    for (int i = 0; i < 300; ++i) {
      if (testing::HttpGet(prom_port_, "/-/ready", 500).status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "Prometheus did not get ready\n" << prometheus_.Wait(seconds(2)).Describe();
  }

  // An instant query; the "result" array (empty on any failure, with the reason added to the test).
  json Query(const std::string& promql) {
    testing::HttpResponse r = testing::HttpGet(prom_port_, "/api/v1/query?query=" + testing::UrlEncode(promql));
    json body = json::parse(r.body, nullptr, false);
    if (r.status != 200 || body.is_discarded() || body.value("status", "") != "success") {
      ADD_FAILURE() << promql << ": HTTP " << r.status << " " << r.body;
      return json::array();
    }
    return body["data"]["result"];
  }

  static double Value(const json& sample) { return std::stod(sample["value"][1].get<std::string>()); }

  int metrics_port_ = -1;
  int prom_port_ = -1;
  Process prometheus_;
};

TEST_F(PrometheusTest, ScrapedMetricsAndEveryDashboardPanelHaveData) {
  StartController();
  StartPrometheus();
  Process prod, opp;
  StartJob(&prod, "prod", kProductionShape, 12);
  StartJob(&opp, "opp1", kOpportunisticShape, 12);
  std::this_thread::sleep_for(seconds(7));  // profiling, slow start, a few scrapes

  // Memory per container: both jobs allocated 64 MiB (--mem), with their labels.
  json used = Query("tgs_container_memory_used_bytes");
  std::map<std::string, json> by_container;
  for (const json& s : used) by_container[s["metric"].value("container", "")] = s;
  ASSERT_TRUE(by_container.count("id:prod") && by_container.count("id:opp1")) << used.dump(2);
  EXPECT_EQ(Value(by_container["id:prod"]), 64.0 * (1 << 20));
  EXPECT_EQ(Value(by_container["id:opp1"]), 64.0 * (1 << 20));
  EXPECT_EQ(by_container["id:prod"]["metric"]["class"], "production");
  EXPECT_EQ(by_container["id:opp1"]["metric"]["class"], "light");
  EXPECT_TRUE(std::regex_match(by_container["id:prod"]["metric"].value("gpu", ""),
                               std::regex("GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")))
      << used.dump(2);
  EXPECT_EQ(by_container["id:prod"]["metric"]["job"], "tgs");

  // Production's throughput: its blocks per second, as the job itself counts them.
  json throughput = Query("tgs_gpu_production_throughput_blocks_per_second");
  json reference = Query("tgs_gpu_production_reference_blocks_per_second");
  json limit = Query("tgs_gpu_opportunistic_limit_blocks_per_second");
  json gate = Query("tgs_container_launch_limit_blocks_per_second{container=\"id:opp1\"}");
  std::this_thread::sleep_for(seconds(1));
  RunResult p = prod.Wait(seconds(30));
  RunResult o = opp.Wait(seconds(30));
  ASSERT_EQ(p.exit_code, 0) << p.Describe();
  ASSERT_EQ(o.exit_code, 0) << o.Describe();
  auto pp = ParseProgress(p.out);
  ASSERT_FALSE(pp.empty());
  double job_blocks_per_s = RateBetween(pp, pp.front().t + 3, pp.back().t) * 6 * 264;
  ASSERT_EQ(throughput.size(), 1u) << throughput.dump(2);
  ASSERT_EQ(reference.size(), 1u) << reference.dump(2);
  EXPECT_NEAR(Value(throughput[0]), job_blocks_per_s, 0.15 * job_blocks_per_s) << throughput.dump(2);
  EXPECT_GE(Value(throughput[0]) / Value(reference[0]), 0.9);
  // The opportunistic job is limited while production is there, and its gate carries the limit.
  ASSERT_EQ(limit.size(), 1u) << limit.dump(2);
  ASSERT_EQ(gate.size(), 1u) << gate.dump(2);
  EXPECT_GT(Value(limit[0]), 0);
  EXPECT_NEAR(Value(gate[0]), Value(limit[0]), 0.01 * Value(limit[0]) + 1);

  // Every query of every dashboard panel returns data over the run.
  std::ifstream in(std::string(TGS_IT_SOURCE_DIR) + "/container/grafana/tgs-dashboard.json");
  json dashboard = json::parse(in, nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded()) << "the dashboard is not valid JSON";
  int queries = 0;
  for (const json& panel : dashboard["panels"]) {
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << panel["title"];
    for (const json& target : panel["targets"]) {
      std::string expr = target["expr"];
      expr = std::regex_replace(expr, std::regex("\\$gpu"), ".*");
      expr = std::regex_replace(expr, std::regex("\\$__rate_interval"), "5s");
      // Over the last 10 s: what the panel would have drawn while the jobs ran.
      json result = Query("last_over_time((" + expr + ")[10s:1s])");
      EXPECT_FALSE(result.empty()) << panel["title"] << ": " << target["expr"] << " returned no data";
      ++queries;
    }
  }
  EXPECT_GE(queries, 15);
  if (HasFailure()) ADD_FAILURE() << ControllerLog();
}

}  // namespace
}  // namespace tgs::it
