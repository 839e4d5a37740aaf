// The Prometheus view of a NodeStatus: every metric tgs-controller exports,
// built fresh from one status snapshot on each scrape. Series exist only for
// the GPUs and containers in that snapshot, so a container that goes away
// disappears from the next scrape and cardinality follows what runs now.
//
// Names follow Prometheus conventions: the `tgs_` prefix, base units as
// suffixes, counters ending in `_total`. Labels: `gpu` (UUID), `container`
// (the controller's key), `class`, and `namespace` / `pod` when the
// integration knows them (empty otherwise). The reference table is in
// controller/README.md (Metrics); keep both in step.
#pragma once

#include <vector>

#include <prometheus/metric_family.h>

#include "controller/status/node_status.h"

namespace tgs::controller {

std::vector<prometheus::MetricFamily> ToMetricFamilies(const NodeStatus& status);

}  // namespace tgs::controller
