// A grant: a policy the controller hands to whatever connects through one
// particular socket (container/INTERFACES.md). The socket, not anything the
// container says, decides what it gets: the kubelet or a container engine
// mounts only that socket's directory into the container.
//
//   class:<class>   every policy class has one; plain runtimes (CDI) mount it.
//   alloc:<id>      one per Kubernetes allocation, asked for by
//                   tgs-device-plugin: class, memory limit, GPUs and the
//                   pod's names; its containers are keyed by the grant.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/policy/policy.h"

namespace tgs::controller {

inline constexpr char kClassGrantPrefix[] = "class:";
inline constexpr char kAllocGrantPrefix[] = "alloc:";

// An allocation made by the device plugin (or any admin client).
struct Allocation {
  std::string id;  // 32 lowercase hex digits, chosen by the controller
  std::string class_name;
  uint64_t memory_limit_bytes = 0;  // 0: the class's limit
  std::vector<std::string> gpus;    // "GPU-…" UUIDs; empty: any GPU
  // Opaque to the controller: how the requester finds its grants again.
  std::vector<std::string> devices;
  std::string resource;
  std::string owner;
  std::map<std::string, std::string> labels;  // namespace, pod, container, …
  double created_unix = 0;

  std::string GrantName() const { return kAllocGrantPrefix + id; }
};

// A fresh random allocation id.
std::string NewAllocationId();
bool IsAllocationId(const std::string& text);

// An allocation from an admin `grant` request, validated against `policy`
// (the class must exist; sizes, UUIDs and strings are checked). nullopt with
// `*error` naming the field otherwise. The id and creation time are filled in.
std::optional<Allocation> AllocationFromRequest(const nlohmann::json& request, const policy::Policy& policy,
                                                std::string* error);

// New labels from an admin `label` request; nullopt with `*error`.
std::optional<std::map<std::string, std::string>> LabelsFromRequest(const nlohmann::json& request,
                                                                     std::string* error);

nlohmann::json AllocationToJson(const Allocation& a);
// From the persisted form; nullopt with `*error` naming the field.
std::optional<Allocation> AllocationFromJson(const nlohmann::json& j, std::string* error);

// The policy a grant gives: the class's kind, weight, oversubscription and
// limit, with the allocation's limit on top. A class missing from `policy`
// (removed by a reload) resolves as opportunistic, the kind that cannot hurt
// production, and says so in `*warning`.
policy::ContainerPolicy GrantPolicy(const policy::Policy& policy, const std::string& class_name,
                                    uint64_t memory_limit_bytes, std::string* warning);

// The labels a Kubernetes allocation's containers carry, under the CRI's
// names (io.kubernetes.pod.namespace, …), as the metrics and rules expect.
std::map<std::string, std::string> IdentityLabels(const Allocation& a);

}  // namespace tgs::controller
