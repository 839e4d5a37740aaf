#include "controller/metrics/metric_families.h"

#include <map>
#include <string>

namespace tgs::controller {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Families in a fixed order, created on first use so that a family with no
// series (no GPU yet) is not exported empty.
class Families {
 public:
  void Add(const char* name, MetricType type, const char* help, std::vector<ClientMetric::Label> labels,
           double value) {
    auto [it, inserted] = index_.try_emplace(name, families_.size());
    if (inserted) families_.push_back(MetricFamily{name, help, type, {}});
    ClientMetric m;
    m.label = std::move(labels);
    if (type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    families_[it->second].metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> Take() { return std::move(families_); }

 private:
  std::vector<MetricFamily> families_;
  std::map<std::string, size_t> index_;
};

constexpr MetricType kGauge = MetricType::Gauge;
constexpr MetricType kCounter = MetricType::Counter;

constexpr const char* kPhases[] = {"open", "profiling", "slow-start", "avoidance", "production-idle"};

}  // namespace

std::vector<MetricFamily> ToMetricFamilies(const NodeStatus& s) {
  Families f;
  const ControllerReport& c = s.controller;
  f.Add("tgs_build_info", kGauge, "Version of the running tgs-controller (always 1).", {{"version", c.version}}, 1);
  f.Add("tgs_controller_start_time_seconds", kGauge, "When this tgs-controller started, in Unix time.", {},
        c.start_time_seconds);
  f.Add("tgs_controller_restarts_total", kCounter,
        "Times a tgs-controller had started on this state directory before this one.", {},
        static_cast<double>(c.restarts));
  f.Add("tgs_controller_reloads_total", kCounter, "Policy reloads (SIGHUP), by result.", {{"result", "success"}},
        static_cast<double>(c.reloads));
  f.Add("tgs_controller_reloads_total", kCounter, "", {{"result", "failure"}}, static_cast<double>(c.failed_reloads));
  f.Add("tgs_controller_connections", kGauge, "Shimmed processes connected to the controller.", {},
        static_cast<double>(c.connections));

  f.Add("tgs_node_watch_enabled", kGauge, "1 when the eBPF node watch runs (it needs CAP_BPF and CAP_PERFMON).", {},
        s.watch.enabled ? 1 : 0);
  f.Add("tgs_node_watch_unshimmed_detected_total", kCounter,
        "Processes seen using a GPU without the TGS shim since the controller started.", {},
        static_cast<double>(s.watch.unshimmed_detected));
  f.Add("tgs_node_watch_exits_reclaimed_total", kCounter,
        "Registered processes released on their exit event because their socket close was not seen.", {},
        static_cast<double>(s.watch.exits_reclaimed));
  for (const UnshimmedProcess& u : s.watch.unshimmed) {
    f.Add("tgs_unshimmed_process", kGauge, "A running process that uses a GPU without the TGS shim (always 1).",
          {{"pid", std::to_string(u.pid)}, {"comm", u.comm}, {"cgroup", u.cgroup}, {"what", u.what}}, 1);
  }

  for (const GpuReport& g : s.gpus) {
    std::vector<ClientMetric::Label> gpu{{"gpu", g.uuid}};
    if (g.memory_total_bytes != 0) {
      f.Add("tgs_gpu_memory_total_bytes", kGauge, "Memory of the GPU as its driver reports it.", gpu,
            static_cast<double>(g.memory_total_bytes));
    }
    f.Add("tgs_gpu_production_processes", kGauge, "Production processes registered on the GPU.", gpu,
          g.production_processes);
    for (const char* phase : kPhases) {
      f.Add("tgs_gpu_control_phase", kGauge, "Phase of the GPU's rate-control loop (1 for the current one).",
            {{"gpu", g.uuid}, {"phase", phase}}, g.phase == phase ? 1 : 0);
    }
    f.Add("tgs_gpu_production_throughput_blocks_per_second", kGauge,
          "Production's launched CUDA blocks per second, as the control loop judges it.", gpu,
          g.production_blocks_per_second);
    if (g.production_reference_blocks_per_second > 0) {
      f.Add("tgs_gpu_production_reference_blocks_per_second", kGauge,
            "Production's solo rate R, measured with opportunistic launches held back.", gpu,
            g.production_reference_blocks_per_second);
    }
    f.Add("tgs_gpu_opportunistic_throughput_blocks_per_second", kGauge,
          "Opportunistic containers' launched CUDA blocks per second.", gpu, g.opportunistic_blocks_per_second);
    if (g.opportunistic_limit_blocks_per_second != kNoLimit) {
      f.Add("tgs_gpu_opportunistic_limit_blocks_per_second", kGauge,
            "Limit L on opportunistic launches (absent while unlimited).", gpu,
            g.opportunistic_limit_blocks_per_second);
    }
  }

  std::map<std::string, const ContainerReport*> containers;
  for (const ContainerReport& r : s.containers) {
    containers[r.container] = &r;
    f.Add("tgs_container_processes", kGauge, "Processes of the container connected to the controller.",
          {{"container", r.container},
           {"class", r.class_name},
           {"namespace", r.namespace_name},
           {"pod", r.pod},
           {"container_name", r.container_name}},
          r.processes);
  }
  for (const ContainerOnGpu& p : s.placements) {
    auto it = containers.find(p.container);
    if (it == containers.end() || p.gpu < 0 || static_cast<size_t>(p.gpu) >= s.gpus.size()) continue;
    const ContainerReport& r = *it->second;
    std::vector<ClientMetric::Label> l{{"gpu", s.gpus[static_cast<size_t>(p.gpu)].uuid},
                                       {"container", r.container},
                                       {"class", r.class_name},
                                       {"namespace", r.namespace_name},
                                       {"pod", r.pod},
                                       {"container_name", r.container_name}};
    auto d = [](uint64_t v) { return static_cast<double>(v); };
    f.Add("tgs_container_memory_used_bytes", kGauge, "GPU memory the container holds (all its processes).", l,
          d(p.used_bytes));
    if (p.limit_bytes != 0) {
      f.Add("tgs_container_memory_limit_bytes", kGauge, "The container's memory limit on the GPU (absent: none).",
            l, d(p.limit_bytes));
    }
    f.Add("tgs_container_memory_peak_bytes", kGauge, "Most GPU memory the container has held.", l, d(p.peak_bytes));
    f.Add("tgs_container_allocation_failures_total", kCounter,
          "Allocations refused with CUDA_ERROR_OUT_OF_MEMORY at the container's limit.", l, d(p.oom_refusals));
    f.Add("tgs_container_kernel_launches_total", kCounter, "Kernels the container launched.", l, d(p.kernels));
    f.Add("tgs_container_kernel_blocks_total", kCounter, "CUDA thread blocks of the kernels the container launched.",
          l, d(p.blocks));
    f.Add("tgs_container_launch_gate_waits_total", kCounter, "Launches held by the container's launch-rate gate.", l,
          d(p.gate_waits));
    f.Add("tgs_container_launch_gate_wait_seconds_total", kCounter, "Time launches waited at the launch-rate gate.",
          l, p.gate_wait_seconds);
    f.Add("tgs_container_yields_total", kCounter, "Launches that waited for production's work to finish.", l,
          d(p.yields));
    f.Add("tgs_container_yield_wait_seconds_total", kCounter, "Time launches waited for production's work.", l,
          p.yield_wait_seconds);
    if (p.gate_blocks_per_second != kNoLimit) {
      f.Add("tgs_container_launch_limit_blocks_per_second", kGauge,
            "The container's opportunistic launch limit (absent while its gate is open).", l,
            p.gate_blocks_per_second);
    }
    if (p.oversubscribed) {
      f.Add("tgs_container_unified_memory_bytes", kGauge, "Of memory_used, unified memory (oversubscribing containers).",
            l, d(p.unified_bytes));
      f.Add("tgs_container_unified_memory_resident_bytes", kGauge, "Unified memory placed on the GPU.", l,
            d(p.resident_bytes));
      f.Add("tgs_container_unified_memory_host_bytes", kGauge, "Unified memory placed on the host (read over the bus).",
            l, d(p.unified_bytes - p.resident_bytes));
      if (p.has_resident_budget) {
        f.Add("tgs_container_unified_memory_budget_bytes", kGauge,
              "How much unified memory the controller lets the container keep on the GPU.", l,
              d(p.resident_budget_bytes));
      }
      auto moved = l;
      moved.push_back({"direction", "to_host"});
      f.Add("tgs_container_unified_memory_moved_bytes_total", kCounter,
            "Unified memory moved between GPU and host by placement, by direction.", moved, d(p.moved_to_host_bytes));
      moved.back().value = "to_gpu";
      f.Add("tgs_container_unified_memory_moved_bytes_total", kCounter, "", moved, d(p.moved_to_gpu_bytes));
      f.Add("tgs_container_unified_memory_thrashing", kGauge,
            "1 while the container's unified memory keeps moving back and forth.", l, p.thrashing ? 1 : 0);
      f.Add("tgs_container_device_memory_fallbacks_total", kCounter,
            "Allocations of an oversubscribing container kept as device memory (pools, VMM, arrays, pitched).", l,
            d(p.device_fallbacks));
    }
  }
  return f.Take();
}

}  // namespace tgs::controller
