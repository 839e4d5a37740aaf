#include "controller/admin/status_json.h"

namespace tgs::controller {
namespace {

// Unlimited rates are null: JSON has no infinity.
nlohmann::json RateOrNull(double v) { return v == kNoLimit ? nlohmann::json(nullptr) : nlohmann::json(v); }

}  // namespace

nlohmann::json StatusToJson(const NodeStatus& s) {
  using nlohmann::json;
  json out;
  out["format"] = kStatusFormat;
  out["time"] = s.time_seconds;
  const ControllerReport& c = s.controller;
  out["controller"] = {{"version", c.version},
                       {"policy", c.policy_source},
                       {"start_time", c.start_time_seconds},
                       {"restarts", c.restarts},
                       {"reloads", c.reloads},
                       {"failed_reloads", c.failed_reloads},
                       {"connections", c.connections}};
  json containers = json::array();
  for (const ContainerReport& r : s.containers) {
    containers.push_back({{"container", r.container},
                          {"class", r.class_name},
                          {"kind", r.kind},
                          {"weight", r.weight},
                          {"oversubscribe", r.oversubscribe},
                          {"memory_limit_bytes", r.memory_limit_bytes},
                          {"resident_limit_bytes", r.resident_limit_bytes},
                          {"matched_by", r.matched_by},
                          {"processes", r.processes},
                          {"namespace", r.namespace_name},
                          {"pod", r.pod},
                          {"container_name", r.container_name}});
  }
  out["containers"] = containers;
  json gpus = json::array();
  for (size_t i = 0; i < s.gpus.size(); ++i) {
    const GpuReport& g = s.gpus[i];
    json on_gpu = json::array();
    for (const ContainerOnGpu& p : s.placements) {
      if (p.gpu != static_cast<int>(i)) continue;
      json memory = {{"used_bytes", p.used_bytes},
                     {"limit_bytes", p.limit_bytes},
                     {"peak_bytes", p.peak_bytes},
                     {"allocation_failures", p.oom_refusals}};
      if (p.oversubscribed) {
        memory["unified"] = {{"bytes", p.unified_bytes},
                             {"resident_bytes", p.resident_bytes},
                             {"host_bytes", p.unified_bytes - p.resident_bytes},
                             {"budget_bytes", p.has_resident_budget ? json(p.resident_budget_bytes) : json(nullptr)},
                             {"moved_to_host_bytes", p.moved_to_host_bytes},
                             {"moved_to_gpu_bytes", p.moved_to_gpu_bytes},
                             {"device_fallbacks", p.device_fallbacks},
                             {"thrashing", p.thrashing}};
      }
      on_gpu.push_back({{"container", p.container},
                        {"memory", memory},
                        {"kernels", p.kernels},
                        {"blocks", p.blocks},
                        {"launch_limit_blocks_per_second", RateOrNull(p.gate_blocks_per_second)},
                        {"gate_waits", p.gate_waits},
                        {"gate_wait_seconds", p.gate_wait_seconds},
                        {"yields", p.yields},
                        {"yield_wait_seconds", p.yield_wait_seconds}});
    }
    gpus.push_back({{"uuid", g.uuid},
                    {"memory_total_bytes", g.memory_total_bytes},
                    {"phase", g.phase},
                    {"production_processes", g.production_processes},
                    {"production_blocks_per_second", g.production_blocks_per_second},
                    {"production_reference_blocks_per_second", g.production_reference_blocks_per_second},
                    {"opportunistic_blocks_per_second", g.opportunistic_blocks_per_second},
                    {"opportunistic_limit_blocks_per_second", RateOrNull(g.opportunistic_limit_blocks_per_second)},
                    {"containers", on_gpu}});
  }
  out["gpus"] = gpus;
  json unshimmed = json::array();
  for (const UnshimmedProcess& u : s.watch.unshimmed) {
    unshimmed.push_back({{"pid", u.pid},
                         {"comm", u.comm},
                         {"cgroup", u.cgroup},
                         {"cgroup_id", u.cgroup_id},
                         {"what", u.what},
                         {"since", u.since_seconds},
                         {"killed", u.killed}});
  }
  out["node_watch"] = {{"enabled", s.watch.enabled},
                       {"detail", s.watch.detail},
                       {"unshimmed_detected", s.watch.unshimmed_detected},
                       {"exits_reclaimed", s.watch.exits_reclaimed},
                       {"unshimmed", unshimmed}};
  return out;
}

}  // namespace tgs::controller
