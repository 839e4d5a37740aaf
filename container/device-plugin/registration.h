// Registering with the kubelet, and staying registered: the kubelet wipes
// the device-plugins directory when it restarts and re-creates kubelet.sock,
// forgetting every plugin. So the directory is watched: when kubelet.sock is
// a new socket, or a plugin's own socket has gone, that plugin's server is
// restarted and registered again.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "container/device-plugin/plugin_server.h"

namespace tgs::device_plugin {

inline constexpr const char* kDevicePluginApiVersion = "v1beta1";

// One Register call: version v1beta1, the socket's file name as endpoint,
// the resource and the options GetDevicePluginOptions also returns. False
// with *error (the kubelet's refusal or why it could not be reached).
bool RegisterWithKubelet(const std::string& kubelet_socket, const std::string& endpoint,
                         const std::string& resource_name, std::chrono::milliseconds timeout, std::string* error);

class PluginLifecycle {
 public:
  // Makes a fresh (not started) server for a class.
  using ServerFactory = std::function<std::unique_ptr<PluginServer>(const ClassOption&)>;
  PluginLifecycle(std::string kubelet_socket, std::vector<ClassOption> classes, ServerFactory factory)
      : kubelet_socket_(std::move(kubelet_socket)), factory_(std::move(factory)) {
    for (ClassOption& c : classes) {
      Plugin p;
      p.cls = std::move(c);
      plugins_.push_back(std::move(p));
    }
  }
  ~PluginLifecycle() { StopAll(); }

  // Checks the directory once and acts: starts missing servers, restarts
  // those whose socket went or whose kubelet is new, registers what is not
  // registered with the current kubelet. Called every few hundred ms.
  void Tick();
  // Stops every server and removes its socket.
  void StopAll();

  // How many plugins are registered with the kubelet now (for tests of the
  // loop itself and for logs).
  int Registered() const;

 private:
  // A re-created socket may get the old inode number back; its change time
  // still tells it apart.
  struct SocketIdentity {
    dev_t dev = 0;
    ino_t ino = 0;
    long ctime_sec = 0;
    long ctime_nsec = 0;
    bool operator==(const SocketIdentity&) const = default;
  };
  struct Plugin {
    ClassOption cls;
    std::unique_ptr<PluginServer> server;
    std::optional<SocketIdentity> registered_with;  // the kubelet.sock it registered on
    std::chrono::steady_clock::time_point next_attempt{};
    std::chrono::milliseconds backoff{0};
    std::string last_error;  // logged once until it changes
  };
  std::optional<SocketIdentity> KubeletSocket() const;
  void Restart(Plugin& p, const char* why);
  void Failed(Plugin& p, const std::string& error);

  std::string kubelet_socket_;
  ServerFactory factory_;
  std::vector<Plugin> plugins_;
  bool kubelet_seen_ = true;  // logs "waiting for the kubelet" once
};

}  // namespace tgs::device_plugin
