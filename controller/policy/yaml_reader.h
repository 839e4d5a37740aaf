// Typed, error-collecting access to a yaml-cpp tree, shared by the loader's
// section parsers. Internal to tgs_policy.
//
// Each reader either returns a value or records one error at the offending
// node and returns nullopt, so a parser can keep going and report every
// problem in one pass. Nodes are only ever iterated, never subscripted:
// operator[] on a non-const YAML::Node inserts, and on a scalar it throws.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/policy/loader.h"

namespace tgs::policy::internal {

// Collects errors and warnings with 1-based positions.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void Error(const YAML::Mark& mark, std::string message);
  void Warning(const YAML::Mark& mark, std::string message);
  bool HasErrors() const { return !errors_.empty(); }

  // Sorted by position; errors capped at kMaxReportedErrors plus one line
  // saying how many were left out.
  std::vector<PolicyError> TakeErrors();
  std::vector<PolicyError> TakeWarnings();
  const std::string& file() const { return file_; }

 private:
  PolicyError Make(const YAML::Mark& mark, std::string message) const;

  std::string file_;
  std::vector<PolicyError> errors_;
  std::vector<PolicyError> warnings_;
};

// One key/value pair of a map, with the dotted path used in messages
// ("control.interval_ms", "containers[2].match.labels").
struct Entry {
  std::string key;
  std::string path;
  YAML::Node key_node;
  YAML::Node value;

  // Where to point for a problem with the value: the value itself, except
  // that an absent value ("key:" alone) has no useful mark of its own — it
  // points at whatever follows — so use the key's.
  YAML::Mark ValueMark() const;
};

// "a map", "a list", "nothing", "'text'": for "expected X, got Y".
std::string Describe(const YAML::Node& node);

std::string JoinPath(std::string_view parent, std::string_view key);

// Closest of `candidates` to `word` if it is a plausible typo, else "".
std::string Suggest(std::string_view word, const std::vector<std::string>& candidates);

// Walks a map: rejects non-string keys, duplicate keys and keys not in
// `allowed` (naming the allowed ones), and calls `visit` for the rest in file
// order. An empty `allowed` list accepts any key (label maps). Returns false,
// with an error recorded, if `node` is not a map at all.
bool ForEachEntry(const YAML::Node& node, const YAML::Mark& where, std::string_view path,
                  const std::vector<std::string_view>& allowed, Diagnostics& diag,
                  const std::function<void(const Entry&)>& visit);
inline bool ForEachEntry(const YAML::Node& node, const YAML::Mark& where, std::string_view path,
                         std::initializer_list<std::string_view> allowed, Diagnostics& diag,
                         const std::function<void(const Entry&)>& visit) {
  return ForEachEntry(node, where, path, std::vector<std::string_view>(allowed), diag, visit);
}

std::optional<int64_t> ReadInt(const Entry& e, int64_t min, int64_t max, Diagnostics& diag);
std::optional<double> ReadNumber(const Entry& e, double min, double max, Diagnostics& diag);
std::optional<bool> ReadBool(const Entry& e, Diagnostics& diag);
// Any scalar's text (numbers and booleans included, as written).
std::optional<std::string> ReadString(const Entry& e, bool allow_empty, Diagnostics& diag);
// "20GiB", "512MiB", "1.5GB" or plain bytes; 0 is allowed (means no limit).
std::optional<uint64_t> ReadByteSize(const Entry& e, Diagnostics& diag);

}  // namespace tgs::policy::internal
