#include "controller/policy/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "shim/util/byte_size.h"

namespace tgs::policy::internal {
namespace {

// Quoted scalars carry the non-specific tag "!"; plain ones "?". A quoted
// "100" is a string in YAML, and accepting it as a number would make
// `interval_ms: "100"` and `id: 100` mean different things by accident.
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

std::string Truncate(std::string_view text) {
  constexpr size_t kMax = 60;
  if (text.size() <= kMax) return std::string(text);
  return std::string(text.substr(0, kMax)) + "...";
}

std::string FormatRange(double min, double max) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g..%g", min, max);
  return buf;
}

std::string FormatNumber(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

// Optimal string alignment distance: a transposition ("kidn") counts as one edit.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The scalar text to parse as a number, or nullopt with the error recorded.
std::optional<std::string> NumericText(const Entry& e, std::string_view expected, Diagnostics& diag) {
  if (!e.value.IsScalar() || IsQuoted(e.value)) {
    std::string hint = e.value.IsScalar() ? "; write numbers without quotes" : "";
    diag.Error(e.ValueMark(), e.path + ": expected " + std::string(expected) + ", got " + Describe(e.value) + hint);
    return std::nullopt;
  }
  return e.value.Scalar();
}

}  // namespace

void Diagnostics::Error(const YAML::Mark& mark, std::string message) {
  errors_.push_back(Make(mark, std::move(message)));
}

void Diagnostics::Warning(const YAML::Mark& mark, std::string message) {
  warnings_.push_back(Make(mark, std::move(message)));
}

PolicyError Diagnostics::Make(const YAML::Mark& mark, std::string message) const {
  PolicyError e;
  e.file = file_;
  if (!mark.is_null()) {
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  e.message = std::move(message);
  return e;
}

namespace {
void SortByPosition(std::vector<PolicyError>& v) {
  std::stable_sort(v.begin(), v.end(), [](const PolicyError& a, const PolicyError& b) {
    // Errors without a position (line 0) describe the whole file: first.
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
}
}  // namespace

std::vector<PolicyError> Diagnostics::TakeErrors() {
  std::vector<PolicyError> out = std::move(errors_);
  errors_.clear();
  SortByPosition(out);
  if (out.size() > kMaxReportedErrors) {
    size_t left_out = out.size() - kMaxReportedErrors;
    out.resize(kMaxReportedErrors);
    PolicyError more;
    more.file = file_;
    more.message = std::to_string(left_out) + " more error" + (left_out == 1 ? "" : "s") + " not shown";
    out.push_back(std::move(more));
  }
  return out;
}

std::vector<PolicyError> Diagnostics::TakeWarnings() {
  std::vector<PolicyError> out = std::move(warnings_);
  warnings_.clear();
  SortByPosition(out);
  return out;
}

YAML::Mark Entry::ValueMark() const {
  if (!value.IsDefined() || value.IsNull() || value.Mark().is_null()) return key_node.Mark();
  return value.Mark();
}

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  std::string text = "'" + Truncate(node.Scalar()) + "'";
  return IsQuoted(node) ? "the quoted string " + text : text;
}

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

std::string Suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;  // more than two edits is a different word, not a typo
  for (const std::string& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance && d < c.size()) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

bool ForEachEntry(const YAML::Node& node, const YAML::Mark& where, std::string_view path,
                  const std::vector<std::string_view>& allowed, Diagnostics& diag,
                  const std::function<void(const Entry&)>& visit) {
  // "section:" with nothing after it is an empty section, not a type error.
  if (!node.IsDefined() || node.IsNull()) return true;
  std::string where_text = path.empty() ? "at the top level" : "in " + std::string(path);
  if (!node.IsMap()) {
    diag.Error(
        node.Mark().is_null() ? where : node.Mark(),
        (path.empty() ? std::string("the policy") : std::string(path)) + ": expected a map, got " + Describe(node));
    return false;
  }
  std::vector<std::string> allowed_names(allowed.begin(), allowed.end());
  std::map<std::string, int> first_line;
  // Copy the pair: yaml-cpp's iterator hands out a temporary proxy, so a
  // reference to `it->first` dangles at the end of the statement.
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      diag.Error(key.Mark(), "keys " + where_text + " must be plain strings, got " + Describe(key));
      continue;
    }
    const std::string name = key.Scalar();
    auto [seen, inserted] = first_line.emplace(name, key.Mark().line + 1);
    if (!inserted) {
      diag.Error(key.Mark(), "duplicate key '" + Truncate(name) + "' " + where_text + " (first at line " +
                                 std::to_string(seen->second) + ")");
      continue;
    }
    if (!allowed_names.empty() && std::find(allowed_names.begin(), allowed_names.end(), name) == allowed_names.end()) {
      std::string message = "unknown key '" + Truncate(name) + "' " + where_text;
      if (std::string guess = Suggest(name, allowed_names); !guess.empty()) {
        message += "; did you mean '" + guess + "'?";
      }
      message += " (allowed:";
      for (size_t i = 0; i < allowed_names.size(); ++i) message += (i ? ", " : " ") + allowed_names[i];
      message += ")";
      diag.Error(key.Mark(), std::move(message));
      continue;
    }
    visit(Entry{name, JoinPath(path, name), key, value});
  }
  return true;
}

std::optional<int64_t> ReadInt(const Entry& e, int64_t min, int64_t max, Diagnostics& diag) {
  std::string expected = "a whole number in " + FormatRange(static_cast<double>(min), static_cast<double>(max));
  auto text = NumericText(e, expected, diag);
  if (!text) return std::nullopt;
  int64_t value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec == std::errc::result_out_of_range) {
    diag.Error(e.ValueMark(), e.path + ": " + Truncate(*text) + " is out of range (" +
                                  FormatRange(static_cast<double>(min), static_cast<double>(max)) + ")");
    return std::nullopt;
  }
  if (ec != std::errc() || ptr != end) {
    diag.Error(e.ValueMark(), e.path + ": expected " + expected + ", got " + Describe(e.value));
    return std::nullopt;
  }
  if (value < min || value > max) {
    diag.Error(e.ValueMark(), e.path + ": " + std::to_string(value) + " is out of range (" +
                                  FormatRange(static_cast<double>(min), static_cast<double>(max)) + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<double> ReadNumber(const Entry& e, double min, double max, Diagnostics& diag) {
  std::string expected = "a number in " + FormatRange(min, max);
  auto text = NumericText(e, expected, diag);
  if (!text) return std::nullopt;
  double value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  // from_chars accepts "inf" and "nan", which YAML spells differently and
  // which no parameter means; treat them as malformed.
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) {
    diag.Error(e.ValueMark(), e.path + ": expected " + expected + ", got " + Describe(e.value));
    return std::nullopt;
  }
  if (value < min || value > max) {
    diag.Error(e.ValueMark(), e.path + ": " + FormatNumber(value) + " is out of range (" + FormatRange(min, max) + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> ReadBool(const Entry& e, Diagnostics& diag) {
  // YAML 1.2's core schema: only these spellings. yes/no/on/off were
  // booleans in YAML 1.1 and are exactly the ambiguity to refuse.
  if (e.value.IsScalar() && !IsQuoted(e.value)) {
    const std::string& s = e.value.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  diag.Error(e.ValueMark(), e.path + ": expected true or false, got " + Describe(e.value));
  return std::nullopt;
}

std::optional<std::string> ReadString(const Entry& e, bool allow_empty, Diagnostics& diag) {
  if (!e.value.IsScalar()) {
    diag.Error(e.ValueMark(), e.path + ": expected a string, got " + Describe(e.value));
    return std::nullopt;
  }
  if (!allow_empty && e.value.Scalar().empty()) {
    diag.Error(e.ValueMark(), e.path + ": must not be empty");
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<uint64_t> ReadByteSize(const Entry& e, Diagnostics& diag) {
  if (!e.value.IsScalar()) {
    diag.Error(e.ValueMark(),
               e.path + ": expected a size such as 512MiB, 20GiB or a number of bytes, got " + Describe(e.value));
    return std::nullopt;
  }
  std::string_view text = e.value.Scalar();
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  if (!text.empty() && text.front() == '-') {
    diag.Error(e.ValueMark(), e.path + ": negative size '" + Truncate(text) + "'; use 0 for no limit");
    return std::nullopt;
  }
  std::string why;
  std::optional<uint64_t> bytes = ParseByteSize(text, &why);
  if (!bytes) {
    diag.Error(e.ValueMark(), e.path + ": " + why);
    return std::nullopt;
  }
  return bytes;
}

}  // namespace tgs::policy::internal
