// tgs-bench-metrics: how long a Prometheus scrape of tgs-controller takes on
// a busy node — by default 64 containers (one process each) on 8 simulated
// GPUs, 8 of them production — against the same controller with one
// container, measured in one run. Real controller, real shimmed processes;
// scrapes are sequential HTTP GETs of /metrics on loopback. A benchmark, not
// a test: it asserts nothing (exit status 0 unless something failed).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/bench_process.h"
#include "tools/common/loopback_http.h"

namespace {

constexpr const char* kProgram = "tgs-bench-metrics";

struct Settings {
  int containers = 64;
  int gpus = 8;
  int scrapes = 200;
};

struct Latency {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
  size_t bytes = 0;
  size_t series = 0;
  bool ok = false;
};

size_t Count(const std::string& text, const std::string& prefix) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#' && line.rfind(prefix, 0) == 0) ++n;
  }
  return n;
}

Latency Scrape(int port, int scrapes) {
  Latency l;
  std::vector<double> ms;
  for (int i = 0; i < scrapes; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    tgs::testing::HttpResponse r = tgs::testing::HttpGet(port, "/metrics");
    auto t1 = std::chrono::steady_clock::now();
    if (r.status != 200) return l;
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    l.bytes = r.body.size();
    l.series = Count(r.body, "tgs_");
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))]; };
  l.p50 = at(0.5), l.p90 = at(0.9), l.p99 = at(0.99), l.max = ms.back();
  l.ok = true;
  return l;
}

void Print(const char* name, const Latency& l) {
  std::printf("%-28s %8zu %8zu %8.2f %8.2f %8.2f %8.2f\n", name, l.series, l.bytes, l.p50, l.p90, l.p99, l.max);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n", kProgram, a.c_str());
        std::exit(2);
      }
      int v = std::atoi(argv[++i]);
      if (v <= 0) {
        std::fprintf(stderr, "%s: %s needs a positive integer\n", kProgram, a.c_str());
        std::exit(2);
      }
      return v;
    };
    if (a == "--containers") {
      s.containers = value();
    } else if (a == "--gpus") {
      s.gpus = std::min(value(), 8);
    } else if (a == "--scrapes") {
      s.scrapes = value();
    } else if (a == "--quick") {
      s.containers = 8, s.gpus = 2, s.scrapes = 20;
    } else {
      std::printf("usage: %s [--containers N (64)] [--gpus N (8, at most 8)] [--scrapes N (200)] [--quick]\n",
                  kProgram);
      return a == "--help" ? 0 : 2;
    }
  }
  char tmpl[] = "/tmp/tgs-bench-metrics.XXXXXX";
  std::string dir = mkdtemp(tmpl) ? tmpl : "/tmp";
  std::string bin = TGS_BENCH_BINDIR;
  int port = tgs::testing::FreeLoopbackPort();
  std::string shm = "tgs-bench-metrics-" + std::to_string(getpid());
  // One production container per GPU (ids match exactly), the rest opportunistic.
  {
    std::ofstream cfg(dir + "/config.yaml");
    cfg << "version: 1\ndefaults: { class: opportunistic, memory_limit: 1GiB }\ncontainers:\n";
    for (int g = 0; g < s.gpus; ++g) cfg << "  - match: { id: prod-" << g << " }\n    class: production\n";
  }
  pid_t controller = tgs::bench::Spawn(
      kProgram,
      {bin + "/tgs-controller", "--config", dir + "/config.yaml", "--socket", dir + "/tgs.sock", "--state-dir",
       dir + "/state", "--trust-claimed-ids", "--metrics-listen", "127.0.0.1:" + std::to_string(port)},
      {{"TGS_LOG", "warn"}}, dir + "/controller.log");
  if (controller < 0) return 1;
  // Jobs that start before the socket exists would account locally.
  for (int i = 0; i < 500 && access((dir + "/tgs.sock").c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (access((dir + "/tgs.sock").c_str(), F_OK) != 0) {
    std::fprintf(stderr, "%s: tgs-controller did not start (log in %s)\n", kProgram, dir.c_str());
    return 1;
  }
  std::vector<pid_t> jobs;
  auto start_job = [&](int i) {
    bool production = i < s.gpus;
    std::string id = production ? "prod-" + std::to_string(i) : "batch-" + std::to_string(i);
    std::map<std::string, std::string> env{{"LD_LIBRARY_PATH", TGS_BENCH_SIMDIR},
                                           {"LD_PRELOAD", std::string(TGS_BENCH_LIBDIR) + "/libtgs.so"},
                                           {"TGS_SIM_SHM", shm},
                                           {"TGS_SIM_DEVICES", std::to_string(s.gpus)},
                                           {"TGS_CONTROLLER_SOCKET", dir + "/tgs.sock"},
                                           {"TGS_CONTAINER_ID", id},
                                           {"TGS_STATE_DIR", dir + "/local"},
                                           {"TGS_LOG", "error"}};
    // Light jobs: the node is busy with registrations, not with computing.
    jobs.push_back(tgs::bench::Spawn(kProgram,
                                     {bin + "/tgs-train-sim", "--device", std::to_string(i % s.gpus), "--kernels", "1",
                                      "--kernel-us", "200", "--cpu-gap-us", "50000", "--mem", "16MiB", "--duration",
                                      "600", "--report-interval", "100"},
                                     env, dir + "/job-" + std::to_string(i) + ".log"));
  };
  auto wait_for = [&](size_t containers) {
    for (int i = 0; i < 1200; ++i) {
      tgs::testing::HttpResponse r = tgs::testing::HttpGet(port, "/metrics");
      if (r.status == 200 && Count(r.body, "tgs_container_processes{") >= containers) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  int status = 0;
  start_job(0);
  Latency one, many;
  if (!wait_for(1)) {
    std::fprintf(stderr, "%s: the first container never showed in /metrics (logs in %s)\n", kProgram, dir.c_str());
    status = 1;
  } else {
    one = Scrape(port, s.scrapes);
    for (int i = 1; i < s.containers; ++i) start_job(i);
    if (!wait_for(static_cast<size_t>(s.containers))) {
      std::fprintf(stderr, "%s: not all %d containers showed in /metrics (logs in %s)\n", kProgram, s.containers,
                   dir.c_str());
      status = 1;
    } else {
      std::this_thread::sleep_for(std::chrono::seconds(1));  // the control loop has settled on every GPU
      many = Scrape(port, s.scrapes);
    }
  }
  for (pid_t p : jobs) {
    if (p > 0) kill(p, SIGTERM);
  }
  for (pid_t p : jobs) {
    if (p > 0) tgs::bench::Reap(p);
  }
  kill(controller, SIGTERM);
  tgs::bench::Reap(controller);
  if (status != 0) return status;
  std::printf("tgs-bench-metrics: %d scrapes of /metrics each, sequential, loopback\n", s.scrapes);
  std::printf("%-28s %8s %8s %8s %8s %8s %8s\n", "scenario", "series", "bytes", "p50 ms", "p90 ms", "p99 ms",
              "max ms");
  Print("1 container, 1 GPU", one);
  std::string name = std::to_string(s.containers) + " containers, " + std::to_string(s.gpus) + " GPUs";
  Print(name.c_str(), many);
  std::printf("ratio (p99, %s / 1 container): %.2f\n", name.c_str(), one.p99 > 0 ? many.p99 / one.p99 : 0.0);
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "%s: could not remove %s\n", kProgram, dir.c_str());
  return 0;
}
