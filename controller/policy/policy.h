// The controller's policy: which class each container belongs to, what memory
// limit and share it gets, and the constants of the launch-rate control loop.
//
// These are plain values. A Policy comes from LoadPolicyFile/LoadPolicyText
// (loader.h), which fills in every default and validates every field, so code
// that holds a Policy never re-checks ranges. config/README.md is the schema
// reference for operators; the defaults below must match it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tgs::policy {

inline constexpr int kSupportedVersion = 1;

// The two behaviours the shim and the control loop know. Every class maps to
// one; extra classes exist only to give groups of containers their own
// weight, memory limit or oversubscription setting.
enum class Kind {
  kProduction,     // never throttled; its launch rate is the feedback signal
  kOpportunistic,  // throttled so production keeps production_target
};
std::string_view KindName(Kind kind);

inline constexpr std::string_view kProductionClass = "production";
inline constexpr std::string_view kOpportunisticClass = "opportunistic";

struct ControllerSettings {
  std::string socket = "/run/tgs/tgs.sock";          // shims connect here
  // tgsctl; root-only. Not in `socket`'s directory: that one is mounted into
  // containers, and a container's root would reach anything beside it.
  std::string admin_socket = "/run/tgs-admin/admin.sock";
  std::string metrics_listen = "127.0.0.1:9400";     // "" disables the exporter
  // Every container's accounting. Not in `socket`'s directory either: a
  // container given that directory could rewrite every state file.
  std::string state_dir = "/run/tgs-state";
  // Grant sockets (controller/grants/): class/<class>/tgs.sock and
  // alloc/<id>/tgs.sock; integrations mount one grant's directory into a
  // container. Root-only, and not in `socket`'s directory.
  std::string grant_dir = "/run/tgs-grants";
  // A process the node watch sees using a GPU without the shim is reported
  // (log, metric, tgsctl); with `unshimmed: kill` it is also killed.
  bool kill_unshimmed = false;
};

// Constants of the feedback loop. The loop limits opportunistic launches to L
// CUDA blocks per interval; the ratios below that scale L are fractions of R,
// production's solo rate (blocks per interval with opportunistic paused), so
// one set of defaults fits small and large GPUs and kernels alike — the
// published prototype's absolute block counts were tuned to one workload.
// Defaults live here; keys, ranges and meanings in schema.cc.
struct ControlParams {
  int interval_ms = 100;                      // sample period
  double production_target = 0.97;            // congestion below target * R
  double restart_below = 0.91;                // below this * R: back to slow start
  double decrease_factor = 0.92;              // L *= factor on congestion
  double additive_increase = 0.01;            // L += this * R per calm interval
  double slow_start_initial = 0.05;           // L = this * R when slow start begins
  double slow_start_growth = 2.0;             // L *= growth per calm interval in slow start
  double opportunistic_floor = 0.01;          // L never below this * R (no starvation)
  int idle_release_ms = 300;                  // production idle this long: L unlimited
  int profile_ms = 500;                       // opportunistic paused to measure R
  int reprofile_after = 20;                   // consecutive congested intervals, then re-measure R
  double fallback_opportunistic_share = 0.1;  // shim-side share with no controller
  bool yield_to_production = true;            // opportunistic waits while production has work in flight
  // Fraction of a GPU's memory kept free of opportunistic unified memory, so
  // production can grow without waiting for evictions (controller/memory/).
  double production_memory_headroom = 0.05;
};

// A class as declared under `classes:` (or built in). Optional fields that are
// absent fall through to `defaults:` when a container is resolved.
struct ClassSpec {
  Kind kind = Kind::kOpportunistic;
  int weight = 1;                              // share among opportunistic containers
  std::optional<uint64_t> memory_limit_bytes;  // 0 = no limit; absent = defaults
  // Opportunistic memory may spill to host (unified memory); absent = the
  // kind's default: on for opportunistic, never for production.
  std::optional<bool> oversubscribe;
  // Device-resident cap of an oversubscribing container, per GPU, below what
  // the controller would otherwise allow it; 0 / absent = no cap of its own.
  std::optional<uint64_t> resident_limit_bytes;
  bool builtin = false;
  int line = 0;  // 1-based; 0 = built in, not in the file
};

// All present conditions must hold. The loader rejects a Match with none.
struct Match {
  std::optional<std::string> id;              // exact TGS container id
  std::optional<std::string> cgroup_glob;     // fnmatch(3) without FNM_PATHNAME: '*' spans '/'
  std::map<std::string, std::string> labels;  // each must be present with this exact value

  bool Empty() const { return !id && !cgroup_glob && labels.empty(); }
};

struct Rule {
  Match match;
  std::string class_name;                      // defaults.class when the rule names none
  std::optional<uint64_t> memory_limit_bytes;  // overrides the class's; 0 = no limit
  std::optional<int> weight;                   // overrides the class's
  int line = 0;                                // 1-based position of the rule, for logs
};

struct Defaults {
  std::string class_name{kOpportunisticClass};
  uint64_t memory_limit_bytes = 0;  // 0 = no limit
};

struct Policy {
  int version = kSupportedVersion;
  std::string source;  // file name (or the name given to LoadPolicyText)
  ControllerSettings controller;
  ControlParams control;
  Defaults defaults;
  std::map<std::string, ClassSpec, std::less<>> classes;  // always holds the built-ins
  std::vector<Rule> rules;                                // in file order; first match wins
};

// A policy with only the built-in classes and every default, which is what an
// empty (but versioned) file yields.
Policy DefaultPolicy();

// What the integration layer knows about a container when it asks for its
// policy. Empty fields never match a condition on them.
struct ContainerIdentity {
  std::string id;
  std::string cgroup;  // cgroup v2 path, e.g. /kubepods.slice/.../cri-containerd-<id>.scope
  std::map<std::string, std::string> labels;
};

struct ContainerPolicy {
  std::string class_name;
  Kind kind = Kind::kOpportunistic;
  uint64_t memory_limit_bytes = 0;  // 0 = no limit
  int weight = 1;                   // > 0
  bool oversubscribe = false;        // allocations become unified memory (shim/memory/)
  uint64_t resident_limit_bytes = 0;  // oversubscribing only: device-resident cap; 0 = none
  int rule_index = -1;  // 0-based index into Policy::rules; -1 = defaults
  int rule_line = 0;    // the rule's line in the file; 0 for defaults
  // The grant (controller/grants/grant.h) that decided this policy instead of
  // the rules, e.g. "alloc:<id>" or "class:batch"; empty when rules did.
  std::string granted_by;

  // "rule 2 (line 14)" or "default", for log lines.
  std::string MatchedBy() const;
};

// First rule whose match holds wins; otherwise `defaults`. Never fails: a
// class name missing from a hand-built Policy resolves as opportunistic, the
// kind that cannot hurt a production job.
ContainerPolicy Resolve(const Policy& policy, const ContainerIdentity& container);

// What a container matched by rule `rule_index` gets (-1: one no rule
// matches), with class and defaults filled in. Resolve is this applied to
// the first matching rule; --check-config prints it for every rule.
ContainerPolicy PolicyForRule(const Policy& policy, int rule_index);

// Gives `out` class `class_name`'s kind, weight, oversubscription and (when
// the class sets one) memory limit; used by resolution and by runtime class
// changes (tgsctl set). An unknown class changes only the name.
void ApplyClass(const Policy& policy, const std::string& class_name, ContainerPolicy* out);

// "host:port" or "[v6addr]:port", port 0..65535 (0: any free port).
bool ValidListenAddress(std::string_view text);

// Whether one rule's conditions hold for `container` (exposed for tgsctl's
// "which rules match" view and for tests).
bool Matches(const Match& match, const ContainerIdentity& container);

}  // namespace tgs::policy
