// The controller's Prometheus endpoint (prometheus-cpp's pull exposer, its own
// HTTP threads). The daemon publishes one immutable NodeStatus per control
// interval; a scrape turns the latest into metrics (metric_families.h), so the
// exporter never reads live state and never blocks the event loop.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "controller/status/node_status.h"

namespace prometheus {
class Exposer;
}

namespace tgs::controller {

class MetricsExporter {
 public:
  MetricsExporter();
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  // Serves /metrics on `listen` ("host:port", "[v6]:port"; port 0 picks one).
  // False with `*error` naming the address when it cannot bind.
  bool Start(const std::string& listen, std::string* error);
  // The bound port (after Start).
  int port() const;

  void Publish(std::shared_ptr<const NodeStatus> status);

 private:
  class Collectable;
  std::shared_ptr<Collectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace tgs::controller
