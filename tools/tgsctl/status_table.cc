#include "tools/tgsctl/status_table.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "shim/util/byte_size.h"

namespace tgs::tgsctl {
namespace {

using nlohmann::json;

std::string Bytes(const json& v) { return v.is_number() ? FormatByteSize(v.get<uint64_t>()) : "-"; }

std::string Rate(const json& v) {
  if (!v.is_number()) return "open";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f/s", v.get<double>());
  return buf;
}

std::string Duration(double seconds) {
  long s = static_cast<long>(seconds);
  char buf[48];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}

// Columns padded to the widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render(const std::string& indent) const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) {
        if (width.size() <= i) width.push_back(0);
        width[i] = std::max(width[i], row[i].size());
      }
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line = indent;
      for (size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
      }
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A Kubernetes allocation's container by its pod's names (tgsctl set takes
// that form too); any other by the controller's key.
std::string DisplayName(const std::string& key, const json& r) {
  std::string pod = r.value("pod", "");
  if (pod.empty()) return key;
  return r.value("namespace", "") + "/" + pod + "/" + r.value("container_name", "");
}

}  // namespace

std::string StatusTable(const json& s) {
  std::string out;
  const json& c = s.value("controller", json::object());
  char head[512];
  std::snprintf(head, sizeof head, "tgs-controller %s, up %s, policy %s, %llu process(es) connected\n",
                c.value("version", "?").c_str(), Duration(s.value("time", 0.0) - c.value("start_time", 0.0)).c_str(),
                c.value("policy", "?").c_str(), static_cast<unsigned long long>(c.value("connections", 0ull)));
  out += head;

  std::map<std::string, json> containers;
  for (const json& r : s.value("containers", json::array())) containers[r.value("container", "")] = r;
  std::map<std::string, bool> on_a_gpu;

  for (const json& g : s.value("gpus", json::array())) {
    char line[512];
    std::snprintf(line, sizeof line, "\n%s  %s  phase %s\n", g.value("uuid", "?").c_str(),
                  g.value("memory_total_bytes", 0ull) ? Bytes(g["memory_total_bytes"]).c_str() : "size unknown",
                  g.value("phase", "?").c_str());
    out += line;
    double reference = g.value("production_reference_blocks_per_second", 0.0);
    if (g.value("production_processes", 0) > 0 || reference > 0) {
      std::snprintf(line, sizeof line, "  production %.0f blocks/s", g.value("production_blocks_per_second", 0.0));
      out += line;
      if (reference > 0) {
        std::snprintf(line, sizeof line, " of its solo %.0f (%.1f%%)", reference,
                      100.0 * g.value("production_blocks_per_second", 0.0) / reference);
        out += line;
      }
      out += "; ";
    } else {
      out += "  no production; ";
    }
    std::snprintf(line, sizeof line, "opportunistic limit %s, using %.0f blocks/s\n",
                  Rate(g.value("opportunistic_limit_blocks_per_second", json())).c_str(),
                  g.value("opportunistic_blocks_per_second", 0.0));
    out += line;
    Table t({"CONTAINER", "CLASS", "PROCS", "MEMORY USED / LIMIT", "UNIFIED RESIDENT / HOST", "LAUNCH LIMIT",
             "GATE WAIT"});
    for (const json& p : g.value("containers", json::array())) {
      std::string key = p.value("container", "");
      on_a_gpu[key] = true;
      const json& r = containers.count(key) ? containers[key] : json::object();
      const json& m = p.value("memory", json::object());
      std::string limit = m.value("limit_bytes", 0ull) ? Bytes(m["limit_bytes"]) : "none";
      std::string unified = "-";
      if (m.contains("unified")) {
        const json& u = m["unified"];
        unified = Bytes(u["resident_bytes"]) + " / " + Bytes(u["host_bytes"]);
        if (u.value("thrashing", false)) unified += " THRASHING";
      }
      char wait[32];
      std::snprintf(wait, sizeof wait, "%.2f s", p.value("gate_wait_seconds", 0.0) + p.value("yield_wait_seconds", 0.0));
      bool production = r.value("kind", "") == "production";
      t.Add({DisplayName(key, r), r.value("class", "?"), std::to_string(r.value("processes", 0)),
             Bytes(m["used_bytes"]) + " / " + limit, unified,
             production ? "-" : Rate(p.value("launch_limit_blocks_per_second", json())), wait});
    }
    out += t.Render("  ");
  }
  Table idle({"CONTAINER", "CLASS", "PROCS", "MEMORY LIMIT"});
  bool any = false;
  for (const auto& [key, r] : containers) {
    if (on_a_gpu.count(key)) continue;
    any = true;
    idle.Add({DisplayName(key, r), r.value("class", "?"), std::to_string(r.value("processes", 0)),
              r.value("memory_limit_bytes", 0ull) ? Bytes(r["memory_limit_bytes"]) : "none"});
  }
  if (any) out += "\nnot on a GPU yet\n" + idle.Render("  ");
  if (s.value("gpus", json::array()).empty() && !any) out += "\nno containers registered\n";
  const json& w = s.value("node_watch", json::object());
  if (!w.empty()) {
    out += "\nnode watch " + w.value("detail", std::string("?")) + "\n";
    if (!w.value("unshimmed", json::array()).empty()) {
      Table t({"PID", "COMMAND", "CGROUP", "USED", "KILLED"});
      for (const json& u : w["unshimmed"]) {
        t.Add({std::to_string(u.value("pid", 0)), u.value("comm", ""), u.value("cgroup", ""), u.value("what", ""),
               u.value("killed", false) ? "yes" : "no"});
      }
      out += "GPU use WITHOUT the shim (not limited, not arbitrated):\n" + t.Render("  ");
    }
  }
  return out;
}

}  // namespace tgs::tgsctl
