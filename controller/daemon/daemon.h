// tgs-controller's event loop: one thread, one epoll set holding the
// listening socket, every client connection, a signalfd (SIGHUP reloads the
// policy, SIGTERM/SIGINT stop) and a timerfd (the control interval). Nothing
// in it blocks on a client: sockets are non-blocking, each readable event
// reads one packet, and a client that breaks the protocol loses only its own
// connection.
//
// Error tiers: start-up failures (socket, state directory) end Run() with 1;
// everything a client can cause is logged and costs that client its
// connection (or a Reject); nothing here throws or exits.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "controller/admin/admin_server.h"
#include "controller/admin/overrides.h"
#include "controller/daemon/control_loop.h"
#include "controller/grants/grant_sockets.h"
#include "controller/grants/grant_store.h"
#include "controller/metrics/exporter.h"
#include "controller/status/node_status.h"
#include "controller/watch/unshimmed_tracker.h"
#include "controller/daemon/registry.h"
#include "controller/policy/policy.h"
#include "shim/protocol/messages.h"
#include "shim/state/node_board.h"

namespace tgs::controller {

class NodeWatch;  // controller/watch/node_watch.h

struct DaemonSettings {
  std::string config_path;
  bool config_explicit = false;  // a missing file is an error (not built-in defaults)
  std::optional<std::string> socket_override;
  std::optional<std::string> state_dir_override;
  std::optional<std::string> admin_socket_override;
  std::optional<std::string> grant_dir_override;
  std::optional<std::string> metrics_listen_override;
  // The eBPF node watch: on when the privileges allow (default), or off.
  bool node_watch = true;
  std::vector<std::string> watch_devices;  // device path prefixes; empty: /dev/nvidia-uvm
  bool watch_no_devices = false;           // no device opens watched (no per-syscall program)
  std::vector<std::string> watch_drivers;  // driver libraries to probe; empty: the node's libcuda.so.1
  // Tests only: connections whose peer closes are kept, so that a process's
  // exit is seen by the node watch alone.
  bool test_ignore_connection_close = false;
  bool trust_claimed_ids = false;  // see Options::trust_claimed_ids
};

// The policy the settings name: the file, or built-in defaults when the
// default path is missing. nullopt after logging every error.
std::optional<policy::Policy> LoadConfiguredPolicy(const DaemonSettings& settings);

class Daemon {
 public:
  // More simultaneous client connections than this are refused at accept.
  static constexpr size_t kMaxConnections = 4096;
  // Occupied slots without a connection are checked for dead owners this often.
  static constexpr std::chrono::milliseconds kReclaimPeriod{2000};
  // A shim sends Hello right after connecting; a connection silent this long
  // is not a shim and must not hold a descriptor.
  static constexpr std::chrono::milliseconds kHelloDeadline{5000};

  Daemon(DaemonSettings settings, policy::Policy policy, std::unique_ptr<ControlLoop> control_loop);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Sets up, serves until SIGTERM/SIGINT, cleans up. The process exit status.
  int Run();

 private:
  bool SetUp();
  void TearDown();
  bool OpenStateDir();
  bool OpenListeningSocket();  // bound, not yet accepting
  bool StartListening();
  bool OpenSignalFd();
  bool OpenTimer();
  void ArmTimer();
  void RestoreContainers();

  void Accept(int listen_fd, const std::string& grant);
  void OnReadable(int fd);
  void CloseConnection(int fd, const char* why);
  void OnHello(int fd, const protocol::Hello& hello);
  void OnAttached(int fd, const protocol::Attached& attached);
  void SendReject(int fd, int32_t code, const std::string& reason);

  void OnSignal();
  void Reload();
  void OnTimer();
  void ReclaimOrphanSlots();

  Container* FindOrCreateContainer(const std::string& key, const std::string& grant, std::string* error);
  // Sets every claimed GPU of `c` to its policy's limit (the policy is authoritative).
  void ApplyLimits(Container& c);
  policy::Policy EffectivePolicy(policy::Policy p) const;  // with command-line overrides
  // Takes back what `conn` counted on the node board.
  void ForgetProductionProcess(const Connection& conn);
  // The container's policy: its grant's, else the policy file's resolution;
  // with tgsctl's changes on top.
  policy::ContainerPolicy PolicyFor(const Container& c) const;
  policy::ContainerIdentity IdentityFor(const std::string& key, const std::string& grant) const;

  // Grants (daemon_grants.cc): the sockets whose connections get a policy
  // from the socket itself (controller/grants/).
  void LoadGrants();
  bool OpenGrantSockets();
  void SyncClassGrants();  // one socket per class of the current policy
  // Whether `conn` may register as `key`: an allocation grant's GPUs, and
  // one grant per container. Empty when it may; why not otherwise.
  std::string CheckGrant(const Connection& conn, const std::string& key, const protocol::Hello& hello);
  void BindGrant(Container& c, const std::string& grant);
  // Saves which class socket a cgroup-keyed container came through, so a
  // restarted controller restores its class before its processes return.
  void RememberClassGrant(const Container& c);
  void SaveGrants();
  nlohmann::json GrantJson(const Allocation& a) const;
  nlohmann::json AdminGrant(const nlohmann::json& request);
  nlohmann::json AdminGrants() const;
  nlohmann::json AdminLabel(const nlohmann::json& request);
  nlohmann::json AdminRevoke(const nlohmann::json& request);

  // Reporting: the status of each interval goes to the exporter and tgsctl.
  static double UnixNow();  // wall-clock seconds, as reports carry them
  void CountStart();
  void PublishStatus(const RegistrySnapshot& snapshot);
  nlohmann::json OnAdmin(const nlohmann::json& request, const AdminPeer& peer);
  nlohmann::json AdminSet(const nlohmann::json& request);

  // The node watch (daemon_watch.cc).
  void StartNodeWatch();
  void OnWatchEvents();
  void JudgeUnshimmed(std::chrono::steady_clock::time_point now);
  void ReleaseExited(std::chrono::steady_clock::time_point now);
  void ReportWatch(NodeStatus* status) const;

  DaemonSettings settings_;
  policy::Policy policy_;
  std::unique_ptr<ControlLoop> control_loop_;
  IdentityRegistry identities_;
  Registry registry_;
  std::unique_ptr<state::BoardFile> board_;  // node board: production's state per GPU

  int epoll_fd_ = -1;
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  int timer_fd_ = -1;
  ino_t socket_inode_ = 0;  // of the socket file we bound, so we unlink only our own
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_reclaim_{};

  MetricsExporter metrics_;
  AdminServer admin_;
  GrantStore grants_;
  GrantSockets grant_sockets_;
  Overrides overrides_;  // tgsctl set
  std::shared_ptr<const NodeStatus> status_;  // of the last interval
  double start_time_ = 0;  // Unix seconds
  uint64_t restarts_ = 0;
  uint64_t reloads_ = 0;
  uint64_t failed_reloads_ = 0;

  std::unique_ptr<NodeWatch> watch_;
  std::string watch_state_;  // what it watches, or why it is off
  UnshimmedTracker unshimmed_;
  std::map<pid_t, UnshimmedProcess> unshimmed_now_;  // reported and still running
  uint64_t unshimmed_detected_ = 0;
  uint64_t exits_reclaimed_ = 0;
  // Registered processes the watch saw exit: (when, command), until judged.
  std::map<pid_t, std::pair<std::chrono::steady_clock::time_point, std::string>> exited_;
};

}  // namespace tgs::controller
