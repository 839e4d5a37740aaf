// tgs-bench-sharing: production and opportunistic jobs sharing one simulated
// GPU, every scenario measured side by side in one run:
//   training — production alone (R0), opportunistic alone, both without TGS
//     (uncontrolled), both with a static 50/50 split of the SMs (MPS's
//     active-thread percentage under a simulated MPS daemon), both under
//     tgs-controller, and under tgs-controller with its rate limit alone
//     (control.yield_to_production: false, the published TGS mechanism);
//   inference — production as an open-loop inference service (p50/p99
//     latency) alone, beside opportunistic training uncontrolled, split
//     50/50 and under TGS, and under TGS for a sweep of opportunistic kernel
//     lengths (what the remaining interference depends on);
//   convergence — under TGS, production arrives beside a running
//     opportunistic job and leaves again: how long until each is back where
//     it should be.
// It prints the ratios the issues set targets for, and optionally writes the
// throughput timelines as CSV (--csv), a plot of them (--plot, with gnuplot)
// and the README's performance tables (--markdown; tools/bench/update-readme.sh).
// A benchmark, not a test: it asserts nothing (exit status 0 unless a run failed).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/bench_process.h"

namespace {

constexpr const char* kProgram = "tgs-bench-sharing";
constexpr double kReportS = 0.1;  // progress-line period of every job

struct TrainShape {
  int kernels;
  double kernel_us;
  double gap_us;
  int blocks;
};

struct InferShape {
  double rate;  // requests per second
  int kernels;
  double kernel_us;
};

struct Settings {
  std::string bin = TGS_BENCH_BINDIR;
  std::string lib = TGS_BENCH_LIBDIR;
  std::string sim = TGS_BENCH_SIMDIR;
  double duration = 10;  // seconds per scenario
  double warmup = 2;     // seconds excluded from the steady state
  bool sweep = true;
  TrainShape production{6, 2000, 8000, 264};
  TrainShape opportunistic{8, 1000, 0, 264};
  InferShape service{50, 4, 1000};
  double service_opportunistic_kernel_us = 500;  // the inference scenarios' training job
  std::vector<double> sweep_kernel_us{250, 500, 1000, 2000};
  std::string csv, plot, markdown;
};

enum class Mode { kNoShim, kStatic, kTgs, kTgsRateOnly };

// One progress line of a job: CLOCK_MONOTONIC seconds and its value.
struct Point {
  double t;
  double value;
};

struct JobResult {
  std::vector<Point> rate;  // iterations/s per interval (training)
  std::vector<Point> p99;   // ms per interval (inference)
  std::optional<double> steady;           // mean iterations/s after the warm-up
  std::optional<double> p50_ms, p99_ms;   // whole run (inference)
  double started = 0;                     // CLOCK_MONOTONIC seconds at spawn
  bool ok = true;
};

double NowS() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<double> Field(const std::string& line, const std::string& key) {
  size_t at = line.find(key + "=");
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(line.c_str() + at + key.size() + 1, nullptr);
}

// Fills the timelines and summaries from a job's log.
void Parse(const std::string& log, double warmup, JobResult* r) {
  std::istringstream in(log);
  double sum = 0;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    auto t = Field(line, " t");
    if (line.rfind("iters/s=", 0) == 0 && t) {
      double v = std::strtod(line.c_str() + 8, nullptr);
      r->rate.push_back({*t, v});
      if (*t - r->started > warmup) sum += v, ++n;
    } else if (line.rfind("requests=", 0) == 0 && t) {
      if (auto p = Field(line, "p99_ms")) r->p99.push_back({*t, *p});
    } else if (line.rfind("infer-sim: ", 0) == 0) {
      r->p50_ms = Field(line, "p50_ms");
      r->p99_ms = Field(line, "p99_ms");
    }
  }
  if (n > 0) r->steady = sum / n;
}

class Bench {
 public:
  explicit Bench(Settings s) : s_(std::move(s)) {
    char tmpl[] = "/tmp/tgs-bench-sharing.XXXXXX";
    dir_ = mkdtemp(tmpl) ? tmpl : "/tmp";
  }
  ~Bench() {
    if (keep_) return;
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "%s: could not remove %s\n", kProgram, dir_.c_str());
  }

  struct Job {
    std::string id;  // container id; "production" is the production container
    std::vector<std::string> argv;
    double start_after = 0;  // seconds after the scenario starts
  };

  std::vector<std::string> Train(const TrainShape& j, double duration) const {
    return {s_.bin + "/tgs-train-sim", "--duration", Num(duration), "--kernels", std::to_string(j.kernels),
            "--kernel-us", Num(j.kernel_us), "--cpu-gap-us", Num(j.gap_us), "--blocks", std::to_string(j.blocks),
            "--mem", "64MiB", "--report-interval", Num(kReportS)};
  }
  std::vector<std::string> Infer(const InferShape& j, double duration) const {
    return {s_.bin + "/tgs-infer-sim", "--duration", Num(duration), "--rate", Num(j.rate), "--kernels",
            std::to_string(j.kernels), "--kernel-us", Num(j.kernel_us), "--mem", "64MiB", "--report-interval",
            Num(kReportS * 5), "--warmup", Num(s_.warmup)};
  }

  // Runs the jobs of one scenario (the first is production) in `mode`.
  std::vector<JobResult> Run(const std::string& name, Mode mode, const std::vector<Job>& jobs) {
    std::string d = dir_ + "/" + name;
    mkdir(d.c_str(), 0755);
    std::string shm = "tgs-bench-" + std::to_string(getpid()) + "-" + name;
    pid_t controller = -1;
    bool tgs = mode == Mode::kTgs || mode == Mode::kTgsRateOnly;
    if (tgs) {
      std::ofstream(d + "/config.yaml") << "version: 1\n"
                                        << (mode == Mode::kTgsRateOnly ? "control: { yield_to_production: false }\n"
                                                                       : "")
                                        << "defaults: { class: opportunistic }\n"
                                           "containers:\n"
                                           "  - match: { id: production }\n"
                                           "    class: production\n";
      controller = tgs::bench::Spawn(kProgram,
                                     {s_.bin + "/tgs-controller", "--config", d + "/config.yaml", "--socket",
                                      d + "/tgs.sock", "--state-dir", d + "/state", "--trust-claimed-ids",
                                      "--report-interval", "1", "--metrics-listen=", "--node-watch", "off"},
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
      if (mode == Mode::kStatic) {
        e["TGS_SIM_MPS"] = "1";
        e["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = "50";
      }
      return e;
    };
    std::vector<JobResult> results(jobs.size());
    std::vector<pid_t> pids(jobs.size(), 0);
    double t0 = NowS();
    std::vector<size_t> order(jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return jobs[a].start_after < jobs[b].start_after; });
    for (size_t i : order) {
      double wait = t0 + jobs[i].start_after - NowS();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      results[i].started = NowS();
      pids[i] = tgs::bench::Spawn(kProgram, jobs[i].argv, env(jobs[i].id), d + "/" + jobs[i].id + ".log");
    }
    bool ok = true;
    for (size_t i = 0; i < jobs.size(); ++i) {
      results[i].ok = pids[i] > 0 && tgs::bench::Reap(pids[i]);
      ok = ok && results[i].ok;
      Parse(Slurp(d + "/" + jobs[i].id + ".log"), s_.warmup, &results[i]);
    }
    if (controller > 0) {
      kill(controller, SIGTERM);
      tgs::bench::Reap(controller);
    }
    if (!ok) {
      keep_ = true;
      std::fprintf(stderr, "%s: scenario '%s' failed; logs kept in %s\n", kProgram, name.c_str(), d.c_str());
    }
    unlink(("/dev/shm/" + shm).c_str());
    timelines_[name] = results;
    starts_[name] = t0;
    return results;
  }

  // CSV of every training job's throughput and every service's p99 over time.
  void WriteCsv(const std::string& path) const {
    std::ofstream out(path);
    out << "scenario,job,seconds,iterations_per_second,p99_ms\n";
    for (const auto& [name, jobs] : timelines_) {
      for (size_t i = 0; i < jobs.size(); ++i) {
        const char* job = i == 0 ? "production" : "opportunistic";
        for (const Point& p : jobs[i].rate) out << name << "," << job << "," << p.t - starts_.at(name) << "," << p.value << ",\n";
        for (const Point& p : jobs[i].p99) out << name << "," << job << "," << p.t - starts_.at(name) << ",," << p.value << "\n";
      }
    }
  }

  static std::string Num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

 private:
  Settings s_;
  std::string dir_;
  bool keep_ = false;
  std::map<std::string, std::vector<JobResult>> timelines_;
  std::map<std::string, double> starts_;
};

// Mean of `points` within [from, to), NaN when none.
double MeanBetween(const std::vector<Point>& points, double from, double to) {
  double sum = 0;
  int n = 0;
  for (const Point& p : points) {
    if (p.t >= from && p.t < to) sum += p.value, ++n;
  }
  return n > 0 ? sum / n : NAN;
}

// Seconds after `from` until `points` averaged over every later 0.5 s window
// (up to `until`) stay at or above `floor`; NaN if they never do.
double SettleTime(const std::vector<Point>& points, double from, double until, double floor) {
  for (double t = from; t + 0.5 <= until; t += kReportS) {
    bool holds = true;
    for (double w = t; w + 0.5 <= until && holds; w += kReportS) {
      double m = MeanBetween(points, w, w + 0.5);
      holds = !std::isnan(m) && m >= floor;
    }
    if (holds) return t - from;
  }
  return NAN;
}

double Ratio(const std::optional<double>& a, const std::optional<double>& b) {
  return a && b && *b > 0 ? *a / *b : NAN;
}

std::string Cell(const std::optional<double>& v, const char* format = "%.1f") {
  if (!v || std::isnan(*v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}
std::string Cell(double v, const char* format = "%.3f") { return Cell(std::optional<double>(v), format); }

std::string Overhead(const std::optional<double>& shared, const std::optional<double>& alone) {
  double r = Ratio(shared, alone);
  return std::isnan(r) ? "-" : Cell((r - 1) * 100, "%+.1f%%");
}

[[noreturn]] void Usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "%s: %s\n", kProgram, why);
  std::fprintf(why ? stderr : stdout,
               "usage: %s [--quick] [--duration S] [--warmup S] [--no-sweep]\n"
               "          [--csv FILE] [--plot FILE.png] [--markdown FILE]\n"
               "Production and opportunistic jobs on one simulated GPU: alone, uncontrolled, a static\n"
               "50/50 split (MPS active-thread percentage), under TGS; training and inference; how fast\n"
               "TGS converges when production arrives and leaves. Prints throughputs, latencies and ratios.\n"
               "  --quick        3 s per scenario, no sweep (CI: checks the scenarios run; too short to judge)\n"
               "  --duration S   seconds per scenario (default 10)\n"
               "  --warmup S     seconds at the start of each scenario left out (default 2)\n"
               "  --no-sweep     skip the opportunistic kernel-length sweep of the inference scenario\n"
               "  --csv FILE     throughput (and p99) timelines of every job\n"
               "  --plot FILE    a PNG of the timelines (needs gnuplot)\n"
               "  --markdown F   the README's tables (tools/bench/update-readme.sh)\n",
               kProgram);
  std::exit(why ? 64 : 0);
}

void Plot(const std::string& csv, const std::string& png, double r0, double o0) {
  std::string script = png + ".gp";
  std::ofstream gp(script);
  gp << "set datafile separator ','\n"
        "set terminal pngcairo size 1200,700 font ',10' noenhanced\n"
        "set output '"
     << png
     << "'\n"
        "set multiplot layout 2,1 title 'tgs-bench-sharing: throughput over time (1.0 = alone)'\n"
        "set ylabel 'throughput / solo'\nset yrange [0:1.3]\nset key outside right\nset grid\n"
        "set title 'production and opportunistic training, shared for the whole run'\n"
        "plot '"
     << csv << "' using (strcol(1) eq 'uncontrolled' && strcol(2) eq 'production' ? $3 : 1/0):($4/" << r0
     << ") with lines title 'production, no TGS', '" << csv
     << "' using (strcol(1) eq 'static-50-50' && strcol(2) eq 'production' ? $3 : 1/0):($4/" << r0
     << ") with lines title 'production, static 50/50', '" << csv
     << "' using (strcol(1) eq 'tgs' && strcol(2) eq 'production' ? $3 : 1/0):($4/" << r0
     << ") with lines lw 2 title 'production, TGS', '" << csv
     << "' using (strcol(1) eq 'tgs' && strcol(2) eq 'opportunistic' ? $3 : 1/0):($4/" << o0
     << ") with lines title 'opportunistic, TGS'\n"
        "set title 'under TGS: production arrives at 2 s and leaves'\nset xlabel 'seconds'\n"
        "plot '"
     << csv << "' using (strcol(1) eq 'convergence' && strcol(2) eq 'production' ? $3 : 1/0):($4/" << r0
     << ") with lines lw 2 title 'production', '" << csv
     << "' using (strcol(1) eq 'convergence' && strcol(2) eq 'opportunistic' ? $3 : 1/0):($4/" << o0
     << ") with lines title 'opportunistic'\n"
        "unset multiplot\n";
  gp.close();
  std::string cmd = "gnuplot '" + script + "' 2>&1";
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::printf("no PNG: gnuplot is not installed (tools/setup/install-deps.sh installs gnuplot-nox)\n");
  } else if (std::system(cmd.c_str()) != 0) {
    std::printf("gnuplot failed on %s\n", script.c_str());
  } else {
    std::printf("plot: %s\n", png.c_str());
  }
  unlink(script.c_str());
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
    auto text = [&]() -> std::string {
      if (i + 1 >= argc) Usage((a + " needs a file").c_str());
      return argv[++i];
    };
    if (a == "--quick") {
      s.duration = 3, s.warmup = 1, s.sweep = false;
    } else if (a == "--duration") {
      s.duration = value();
    } else if (a == "--warmup") {
      s.warmup = value();
    } else if (a == "--no-sweep") {
      s.sweep = false;
    } else if (a == "--csv") {
      s.csv = text();
    } else if (a == "--plot") {
      s.plot = text();
    } else if (a == "--markdown") {
      s.markdown = text();
    } else if (a == "--help" || a == "-h") {
      Usage(nullptr);
    } else {
      Usage(("unknown option " + a).c_str());
    }
  }
  if (s.warmup >= s.duration) Usage("--warmup must be shorter than --duration");
  if (!s.plot.empty() && s.csv.empty()) s.csv = s.plot + ".csv";

  std::printf("TGS sharing benchmark on the simulated GPU, %.0f s per scenario (first %.0f s left out)\n", s.duration,
              s.warmup);
  std::printf("  production training:    %d kernels x %.1f ms + %.1f ms on the host per iteration\n",
              s.production.kernels, s.production.kernel_us / 1000, s.production.gap_us / 1000);
  std::printf("  opportunistic training: %d kernels x %.1f ms per iteration, no host gap\n", s.opportunistic.kernels,
              s.opportunistic.kernel_us / 1000);
  std::printf("  production inference:   %.0f requests/s (open loop), %d kernels x %.1f ms each; beside it\n"
              "                          opportunistic training with %.2f ms kernels\n\n",
              s.service.rate, s.service.kernels, s.service.kernel_us / 1000,
              s.service_opportunistic_kernel_us / 1000);
  std::fflush(stdout);

  Bench bench(s);
  using Job = Bench::Job;
  const double d = s.duration;
  auto train_p = [&] { return Job{"production", bench.Train(s.production, d)}; };
  // The opportunistic job's shape with kernels of `kernel_us` (0: as set),
  // the same device time per iteration.
  auto opp_shape = [&](double kernel_us) {
    TrainShape o = s.opportunistic;
    if (kernel_us > 0) {
      o.kernels = static_cast<int>(std::lround(o.kernels * o.kernel_us / kernel_us));
      o.kernel_us = kernel_us;
    }
    return o;
  };
  auto train_o = [&](double kernel_us = 0, double duration = 0) {
    return Job{"opportunistic", bench.Train(opp_shape(kernel_us), duration > 0 ? duration : d)};
  };
  // Inference runs twice as long: a p99 needs enough requests (~900 per run)
  // to be more than its few worst.
  auto serve = [&] { return Job{"production", bench.Infer(s.service, 2 * d)}; };
  auto serve_o = [&](double kernel_us) { return train_o(kernel_us, 2 * d); };

  bool ok = true;
  auto run = [&](const std::string& name, Mode mode, std::vector<Job> jobs) {
    auto r = bench.Run(name, mode, jobs);
    for (const JobResult& j : r) ok = ok && j.ok;
    return r;
  };
  // Training.
  auto solo_p = run("production-alone", Mode::kNoShim, {train_p()});
  auto solo_o = run("opportunistic-alone", Mode::kNoShim, {train_o()});
  auto none = run("uncontrolled", Mode::kNoShim, {train_p(), train_o()});
  auto split = run("static-50-50", Mode::kStatic, {train_p(), train_o()});
  auto tgs = run("tgs", Mode::kTgs, {train_p(), train_o()});
  auto rate_only = run("tgs-rate-only", Mode::kTgsRateOnly, {train_p(), train_o()});
  // Inference.
  auto serve_solo = run("inference-alone", Mode::kNoShim, {serve()});
  const double k = s.service_opportunistic_kernel_us;
  auto serve_o_solo = run("inference-opportunistic-alone", Mode::kNoShim, {serve_o(k)});
  auto serve_none = run("inference-uncontrolled", Mode::kNoShim, {serve(), serve_o(k)});
  auto serve_split = run("inference-static-50-50", Mode::kStatic, {serve(), serve_o(k)});
  auto serve_tgs = run("inference-tgs", Mode::kTgs, {serve(), serve_o(k)});
  std::vector<std::pair<double, std::vector<JobResult>>> sweep;
  if (s.sweep) {
    for (double us : s.sweep_kernel_us) {
      sweep.emplace_back(us, run("inference-tgs-kernel-" + Bench::Num(us) + "us", Mode::kTgs, {serve(), serve_o(us)}));
    }
  }
  // Convergence: production arrives at 2 s beside a running opportunistic job
  // and leaves after half the scenario.
  double arrive = 2, stay = std::max(3.0, d / 2);
  Job late_p{"production", bench.Train(s.production, stay), arrive};
  Job long_o{"opportunistic", bench.Train(s.opportunistic, arrive + stay + 3)};
  auto conv = run("convergence", Mode::kTgs, {late_p, long_o});

  // Device time production leaves idle, and what the opportunistic job would make of it.
  auto busy_of = [](const std::optional<double>& rate, int kernels, double kernel_us) {
    return rate ? *rate * kernels * kernel_us / 1e6 : NAN;
  };
  double busy = busy_of(solo_p[0].steady, s.production.kernels, s.production.kernel_us);
  std::optional<double> idle;
  if (solo_o[0].steady && !std::isnan(busy)) idle = *solo_o[0].steady * std::max(0.0, 1 - busy);
  double serve_busy = s.service.rate * s.service.kernels * s.service.kernel_us / 1e6;
  std::optional<double> serve_idle;
  if (serve_o_solo[0].steady) serve_idle = *serve_o_solo[0].steady * std::max(0.0, 1 - serve_busy);

  // Convergence: production from its first progress line, opportunistic from production's last.
  double conv_arrival = NAN, conv_departure = NAN;
  if (!conv[0].rate.empty() && solo_p[0].steady && solo_o[0].steady) {
    double first = conv[0].rate.front().t, last = conv[0].rate.back().t;
    conv_arrival = SettleTime(conv[0].rate, first, last, 0.95 * *solo_p[0].steady);
    double end = conv[1].rate.empty() ? last : conv[1].rate.back().t;
    conv_departure = SettleTime(conv[1].rate, last, end, 0.90 * *solo_o[0].steady);
  }

  std::ostringstream md;
  md << "Training (iterations/s; R0 = production alone; idle capacity = what the opportunistic job makes of the "
        "device time production leaves idle):\n\n"
     << "| Scenario | Production | Production / R0 | Opportunistic | Opportunistic / idle capacity |\n"
     << "|---|---:|---:|---:|---:|\n";
  auto train_row = [&](const char* name, const std::vector<JobResult>& r) {
    md << "| " << name << " | " << Cell(r[0].steady) << " | " << Cell(Ratio(r[0].steady, solo_p[0].steady)) << " | "
       << Cell(r.size() > 1 ? r[1].steady : std::nullopt) << " | "
       << Cell(r.size() > 1 ? Ratio(r[1].steady, idle) : NAN) << " |\n";
  };
  md << "| production alone | " << Cell(solo_p[0].steady) << " | 1.000 | - | - |\n";
  md << "| opportunistic alone | - | - | " << Cell(solo_o[0].steady) << " | - |\n";
  train_row("both, no TGS (uncontrolled)", none);
  train_row("both, static 50/50 (MPS active-thread percentage)", split);
  train_row("**both, TGS**", tgs);
  train_row("both, TGS rate limit only (the published mechanism)", rate_only);
  md << "\nProduction as an inference service (latency from scheduled arrival to completion):\n\n"
     << "| Scenario | p50 ms | p99 ms | p99 overhead | Opportunistic it/s | Opportunistic / idle capacity |\n"
     << "|---|---:|---:|---:|---:|---:|\n";
  auto serve_row = [&](const std::string& name, const std::vector<JobResult>& r, const std::optional<double>& cap) {
    md << "| " << name << " | " << Cell(r[0].p50_ms, "%.2f") << " | " << Cell(r[0].p99_ms, "%.2f") << " | "
       << Overhead(r[0].p99_ms, serve_solo[0].p99_ms) << " | " << Cell(r.size() > 1 ? r[1].steady : std::nullopt)
       << " | " << Cell(r.size() > 1 ? Ratio(r[1].steady, cap) : NAN) << " |\n";
  };
  serve_row("inference alone", serve_solo, serve_idle);
  serve_row("with training, no TGS", serve_none, serve_idle);
  serve_row("with training, static 50/50", serve_split, serve_idle);
  serve_row("**with training, TGS**", serve_tgs, serve_idle);
  if (!sweep.empty()) {
    md << "\nUnder TGS, by the opportunistic job's kernel length (the interference left is about one "
          "opportunistic kernel per request; same work per iteration):\n\n"
       << "| Opportunistic kernel | p99 ms | p99 overhead | Opportunistic it/s |\n|---:|---:|---:|---:|\n";
    for (const auto& [us, r] : sweep) {
      md << "| " << Cell(us / 1000, "%.2f") << " ms | " << Cell(r[0].p99_ms, "%.2f") << " | "
         << Overhead(r[0].p99_ms, serve_solo[0].p99_ms) << " | " << Cell(r[1].steady) << " |\n";
    }
  }
  md << "\nConvergence under TGS: production reaches and keeps >= 0.95 R0 (every 0.5 s window) "
     << Cell(conv_arrival, "%.1f") << " s after it starts; after it leaves, the opportunistic job is back at >= 0.9 "
     << "of its solo rate " << Cell(conv_departure, "%.1f") << " s later.\n";

  std::printf("%s", md.str().c_str());
  std::printf("\nproduction busy fraction alone: %.2f; inference service busy fraction: %.2f\n", busy, serve_busy);
  std::printf("\ntargets\n");
  std::printf("  production training, TGS / R0            %.3f   (target >= 0.97)\n",
              Ratio(tgs[0].steady, solo_p[0].steady));
  std::printf("  opportunistic, TGS / idle capacity       %.3f   (target >= 0.70)\n", Ratio(tgs[1].steady, idle));
  std::printf("  inference p99 overhead, TGS              %s   (target <= +20%%; TGS as published: +188.9%%)\n",
              Overhead(serve_tgs[0].p99_ms, serve_solo[0].p99_ms).c_str());
  std::printf("  convergence after arrival / departure    %s s / %s s   (target <= 1 s)\n",
              Cell(conv_arrival, "%.1f").c_str(), Cell(conv_departure, "%.1f").c_str());
  if (!s.csv.empty()) {
    bench.WriteCsv(s.csv);
    std::printf("csv: %s\n", s.csv.c_str());
  }
  if (!s.plot.empty() && solo_p[0].steady && solo_o[0].steady) Plot(s.csv, s.plot, *solo_p[0].steady, *solo_o[0].steady);
  if (!s.markdown.empty()) {
    std::ofstream(s.markdown) << md.str();
    std::printf("markdown: %s\n", s.markdown.c_str());
  }
  return ok ? 0 : 1;
}
