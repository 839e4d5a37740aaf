// tgs-bench-sharing: production and opportunistic training jobs sharing one
// simulated GPU, measured side by side in one run:
//   production alone (R0), opportunistic alone, both without TGS (no shim),
//   both under tgs-controller, and under tgs-controller with its rate limit
//   alone (control.yield_to_production: false), the published TGS mechanism.
// It prints the ratios the controller issue asks for: production's
// throughput against R0, and the opportunistic job's against the throughput
// it would get from the device time production leaves idle. A benchmark,
// not a test: it asserts nothing (exit status 0 unless a run failed).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/bench_process.h"

extern char** environ;

using tgs::bench::Reap;

namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& log) {
  return tgs::bench::Spawn("tgs-bench-sharing", argv, env, log);
}

struct Job {
  int kernels;
  double kernel_us;
  double gap_us;
  int blocks;
};

struct Settings {
  std::string bin = TGS_BENCH_BINDIR;
  std::string lib = TGS_BENCH_LIBDIR;
  std::string sim = TGS_BENCH_SIMDIR;
  double duration = 10;  // seconds per scenario
  double warmup = 2;     // seconds excluded from the steady state
  Job production{6, 2000, 8000, 264};
  Job opportunistic{8, 1000, 0, 264};
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Mean of the per-interval "iters/s=X" lines after the warm-up.
std::optional<double> SteadyRate(const std::string& log, double report_s, double warmup_s) {
  std::istringstream in(log);
  std::string line;
  double sum = 0, t = 0;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.rfind("iters/s=", 0) != 0) continue;
    t += report_s;
    if (t <= warmup_s + 1e-9) continue;
    sum += std::strtod(line.c_str() + 8, nullptr);
    ++n;
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

enum class Mode { kNoShim, kTgs, kTgsRateOnly };

struct Outcome {
  std::optional<double> production, opportunistic;
  bool ok = true;
};

class Bench {
 public:
  explicit Bench(Settings s) : s_(std::move(s)) {
    char tmpl[] = "/tmp/tgs-bench-sharing.XXXXXX";
    dir_ = mkdtemp(tmpl) ? tmpl : "/tmp";
  }
  ~Bench() {
    if (keep_) return;
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "tgs-bench-sharing: could not remove %s\n", dir_.c_str());
  }

  Outcome Run(const std::string& name, Mode mode, bool production, bool opportunistic) {
    std::string d = dir_ + "/" + name;
    mkdir(d.c_str(), 0755);
    std::string shm = "tgs-bench-" + std::to_string(getpid()) + "-" + name;
    pid_t controller = -1;
    bool tgs = mode != Mode::kNoShim;
    if (tgs) {
      std::ofstream(d + "/config.yaml") << "version: 1\n"
                                        << (mode == Mode::kTgsRateOnly ? "control: { yield_to_production: false }\n"
                                                                       : "")
                                        << "defaults: { class: opportunistic }\n"
                                           "containers:\n"
                                           "  - match: { id: production }\n"
                                           "    class: production\n";
      controller = Spawn({s_.bin + "/tgs-controller", "--config", d + "/config.yaml", "--socket", d + "/tgs.sock",
                          "--state-dir", d + "/state", "--trust-claimed-ids", "--report-interval", "1"},
                         {{"TGS_LOG", "info"}}, d + "/controller.log");
      for (int i = 0; i < 300 && access((d + "/tgs.sock").c_str(), F_OK) != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    auto env = [&](const std::string& id) {
      std::map<std::string, std::string> e{{"PATH", "/usr/bin:/bin"},
                                           {"LD_LIBRARY_PATH", s_.sim},
                                           {"TGS_SIM_SHM", shm},
                                           {"TGS_SIM_MEMORY", "16GiB"},
                                           {"TGS_CONTAINER_ID", id},
                                           {"TGS_STATE_DIR", d},
                                           {"TGS_CONTROLLER_SOCKET", d + "/tgs.sock"}};
      if (tgs) e["LD_PRELOAD"] = s_.lib + "/libtgs.so";
      return e;
    };
    auto job = [&](const Job& j) {
      return std::vector<std::string>{s_.bin + "/tgs-train-sim", "--duration", Num(s_.duration), "--kernels",
                                      std::to_string(j.kernels), "--kernel-us", Num(j.kernel_us), "--cpu-gap-us",
                                      Num(j.gap_us), "--blocks", std::to_string(j.blocks), "--mem", "64MiB",
                                      "--report-interval", Num(kReportS)};
    };
    pid_t p = production ? Spawn(job(s_.production), env("production"), d + "/production.log") : 0;
    pid_t o = opportunistic ? Spawn(job(s_.opportunistic), env("opportunistic"), d + "/opportunistic.log") : 0;
    Outcome out;
    if (p < 0 || o < 0) out.ok = false;
    if (p > 0 && !Reap(p)) out.ok = false;
    if (o > 0 && !Reap(o)) out.ok = false;
    if (controller > 0) {
      kill(controller, SIGTERM);
      Reap(controller);
    }
    if (production) out.production = SteadyRate(Slurp(d + "/production.log"), kReportS, s_.warmup);
    if (opportunistic) out.opportunistic = SteadyRate(Slurp(d + "/opportunistic.log"), kReportS, s_.warmup);
    if (!out.ok) {
      keep_ = true;
      std::fprintf(stderr, "tgs-bench-sharing: scenario '%s' failed; logs kept in %s\n", name.c_str(), d.c_str());
    }
    std::string shm_path = "/dev/shm/" + shm;
    unlink(shm_path.c_str());
    return out;
  }

 private:
  static constexpr double kReportS = 0.5;
  static std::string Num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  Settings s_;
  std::string dir_;
  bool keep_ = false;
};

std::string Cell(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", *v);
  return buf;
}

double Ratio(const std::optional<double>& a, const std::optional<double>& b) {
  return a && b && *b > 0 ? *a / *b : NAN;
}

[[noreturn]] void Usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "tgs-bench-sharing: %s\n", why);
  std::fprintf(why ? stderr : stdout,
               "usage: tgs-bench-sharing [--quick] [--duration S] [--warmup S]\n"
               "Production + opportunistic training jobs on one simulated GPU: alone, together\n"
               "without TGS, together under tgs-controller. Prints throughputs and ratios.\n"
               "  --quick       3 s per scenario (CI: checks the scenarios run; too short to judge)\n"
               "  --duration S  seconds per scenario (default 10)\n"
               "  --warmup S    seconds at the start of each scenario left out (default 2)\n");
  std::exit(why ? 64 : 0);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> double {
      if (i + 1 >= argc) Usage((a + " needs a value").c_str());
      char* end = nullptr;
      double v = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(v > 0 && v < 3600)) Usage(("invalid value for " + a).c_str());
      return v;
    };
    if (a == "--quick") {
      s.duration = 3;
      s.warmup = 1;
    } else if (a == "--duration") {
      s.duration = value();
    } else if (a == "--warmup") {
      s.warmup = value();
    } else if (a == "--help" || a == "-h") {
      Usage(nullptr);
    } else {
      Usage(("unknown option " + a).c_str());
    }
  }
  if (s.warmup >= s.duration) Usage("--warmup must be shorter than --duration");

  std::printf("TGS sharing benchmark on the simulated GPU, %.0f s per scenario (first %.0f s left out)\n", s.duration,
              s.warmup);
  std::printf("  production:    %d kernels x %.1f ms + %.1f ms on the host per iteration\n", s.production.kernels,
              s.production.kernel_us / 1000, s.production.gap_us / 1000);
  std::printf("  opportunistic: %d kernels x %.1f ms per iteration, no host gap\n\n", s.opportunistic.kernels,
              s.opportunistic.kernel_us / 1000);
  std::fflush(stdout);

  Bench bench(s);
  Outcome solo_p = bench.Run("production-alone", Mode::kNoShim, true, false);
  Outcome solo_o = bench.Run("opportunistic-alone", Mode::kNoShim, false, true);
  Outcome none = bench.Run("uncontrolled", Mode::kNoShim, true, true);
  Outcome tgs = bench.Run("tgs", Mode::kTgs, true, true);
  Outcome rate_only = bench.Run("tgs-rate-only", Mode::kTgsRateOnly, true, true);

  // Device time production leaves idle, and what the opportunistic job would
  // make of it.
  double busy = solo_p.production ? *solo_p.production * s.production.kernels * s.production.kernel_us / 1e6 : NAN;
  std::optional<double> idle_capacity;
  if (solo_o.opportunistic && !std::isnan(busy)) idle_capacity = *solo_o.opportunistic * std::max(0.0, 1 - busy);

  std::printf("%-32s %18s %20s\n", "scenario (iterations/s)", "production", "opportunistic");
  std::printf("%-32s %18s %20s\n", "production alone (R0)", Cell(solo_p.production).c_str(), "-");
  std::printf("%-32s %18s %20s\n", "opportunistic alone", "-", Cell(solo_o.opportunistic).c_str());
  std::printf("%-32s %18s %20s\n", "both, no TGS (uncontrolled)", Cell(none.production).c_str(),
              Cell(none.opportunistic).c_str());
  std::printf("%-32s %18s %20s\n", "both, TGS", Cell(tgs.production).c_str(), Cell(tgs.opportunistic).c_str());
  std::printf("%-32s %18s %20s\n", "both, TGS rate limit only", Cell(rate_only.production).c_str(),
              Cell(rate_only.opportunistic).c_str());
  std::printf("\nproduction busy fraction alone: %.2f; opportunistic throughput from the idle time: %s it/s\n", busy,
              Cell(idle_capacity).c_str());
  std::printf("\nratios\n");
  std::printf("  production, no TGS / R0                %.3f\n", Ratio(none.production, solo_p.production));
  std::printf("  production, TGS / R0                   %.3f   (target >= 0.97)\n",
              Ratio(tgs.production, solo_p.production));
  std::printf("  opportunistic, TGS / idle capacity     %.3f   (target >= 0.70)\n",
              Ratio(tgs.opportunistic, idle_capacity));
  std::printf("  opportunistic, no TGS / idle capacity  %.3f\n", Ratio(none.opportunistic, idle_capacity));
  std::printf("  rate limit only (yield_to_production: false, the published design's mechanism):\n");
  std::printf("    production / R0                      %.3f\n", Ratio(rate_only.production, solo_p.production));
  std::printf("    opportunistic / idle capacity        %.3f\n", Ratio(rate_only.opportunistic, idle_capacity));
  bool ok = solo_p.ok && solo_o.ok && none.ok && tgs.ok && rate_only.ok;
  return ok ? 0 : 1;
}
