#include "controller/metrics/exporter.h"

#include <exception>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include "controller/metrics/metric_families.h"

namespace tgs::controller {

class MetricsExporter::Collectable : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::shared_ptr<const NodeStatus> status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      status = status_;
    }
    return status ? ToMetricFamilies(*status) : std::vector<prometheus::MetricFamily>{};
  }
  void Publish(std::shared_ptr<const NodeStatus> status) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(status);
  }

 private:
  mutable std::mutex mu_;  // guards status_ (swapped by the daemon, read by scrapes)
  std::shared_ptr<const NodeStatus> status_;
};

MetricsExporter::MetricsExporter() : collectable_(std::make_shared<Collectable>()) {}
MetricsExporter::~MetricsExporter() = default;

bool MetricsExporter::Start(const std::string& listen, std::string* error) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    *error = "cannot serve metrics on " + listen + ": " + e.what();
    return false;
  }
  exposer_->RegisterCollectable(collectable_);
  return true;
}

int MetricsExporter::port() const {
  if (!exposer_) return -1;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? -1 : ports.front();
}

void MetricsExporter::Publish(std::shared_ptr<const NodeStatus> status) { collectable_->Publish(std::move(status)); }

}  // namespace tgs::controller
