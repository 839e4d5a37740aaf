// The controller's bookkeeping: which containers it knows (each with its
// state file and resolved policy) and which client connections belong to
// which container and process slot. No sockets and no epoll here, so the
// rules are unit-tested on their own (tests/controller/daemon_registry_test.cc).
#pragma once

#include <chrono>

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/policy/policy.h"
#include "shim/state/state_file.h"

namespace tgs::controller {

// Extra facts about a container known by its cgroup: its TGS id and labels.
// Nothing fills it today (Kubernetes containers get their labels from their
// allocation, controller/grants/); it is the seam for an integration that
// names cgroup-keyed containers, so that rules on `id`/`labels` match them.
class IdentityRegistry {
 public:
  void Register(const std::string& cgroup, std::string id, std::map<std::string, std::string> labels);
  void Forget(const std::string& cgroup);
  // {registered id, cgroup, registered labels}; id and labels empty when unknown.
  policy::ContainerIdentity IdentityFor(const std::string& cgroup) const;

 private:
  struct Entry {
    std::string id;
    std::map<std::string, std::string> labels;
  };
  std::map<std::string, Entry> entries_;  // by cgroup path
};

struct Container {
  std::string key;  // "cgroup:<path>"; names the state file
  policy::ContainerIdentity identity;
  policy::ContainerPolicy policy;
  std::unique_ptr<state::StateFile> file;
  std::set<int> connections;  // ids of connections registered to it
  // The grant its processes came through ("class:<c>", "alloc:<id>"), or ""
  // for controller.socket (policy from the rules). One per container: a
  // process arriving through another is refused while this one is in use.
  std::string grant;
};

enum class Phase { kAwaitHello, kAwaitAttached, kAttached };

struct Connection {
  int id = -1;  // the socket fd
  pid_t pid = 0;  // peer, in the controller's PID namespace (after Hello)
  Phase phase = Phase::kAwaitHello;
  std::string grant;  // the grant socket it connected to; "" for controller.socket
  std::string container_key;  // after Hello
  int slot = -1;              // after Attached
  uint64_t start_time = 0;    // after Attached
  // Node-board entries this connection counts in as a production process
  // (shim/state/node_board.h); taken back when it closes.
  std::vector<int> production_board_gpus;
  std::chrono::steady_clock::time_point accepted = std::chrono::steady_clock::now();
};

// What must be released when an attached connection goes away.
struct SlotRelease {
  Container* container;
  pid_t pid;
  int slot;
  uint64_t start_time;
};

class Registry {
 public:
  Container* FindContainer(const std::string& key);
  const Container* FindContainer(const std::string& key) const;
  // Takes over `file`. The key must not be registered yet.
  Container& AddContainer(std::string key, policy::ContainerIdentity identity, policy::ContainerPolicy policy,
                          std::unique_ptr<state::StateFile> file);
  std::map<std::string, Container>& containers() { return containers_; }
  const std::map<std::string, Container>& containers() const { return containers_; }

  Connection& AddConnection(int id);
  Connection* FindConnection(int id);
  size_t connection_count() const { return connections_.size(); }
  // Connections that have not sent Hello since before `deadline`.
  std::vector<int> SilentSince(std::chrono::steady_clock::time_point deadline) const;
  std::vector<int> ConnectionIds() const;
  // Hello accepted: the connection now belongs to `key` (registered).
  void BindConnection(int id, pid_t pid, const std::string& key);
  // Attached received. false if the slot is already held by another
  // attached connection of that container (a client lying about its slot).
  bool AttachConnection(int id, int slot, uint64_t start_time);
  // Forgets the connection; the slot to release when it was attached.
  std::optional<SlotRelease> RemoveConnection(int id);

  // Slots of `container` held by attached connections (their liveness is
  // known from the open connection, so housekeeping leaves them alone).
  std::set<int> AttachedSlots(const Container& container) const;
  // Forgets containers that have no connection and no occupied slot (their
  // state files stay on disk for the next process). Returns their keys.
  std::vector<std::string> EvictIdle();

 private:
  std::map<std::string, Container> containers_;
  std::map<int, Connection> connections_;
};

// Occupied slots of a state file: {index, pid as the process sees itself, start time}.
struct OccupiedSlot {
  int index;
  pid_t pid;
  uint64_t start_time;
};
std::vector<OccupiedSlot> OccupiedSlots(state::StateFile& file);

}  // namespace tgs::controller
