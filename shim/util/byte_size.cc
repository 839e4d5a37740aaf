#include "shim/util/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tgs {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<double> UnitMultiplier(std::string_view unit) {
  struct Unit {
    std::string_view name;
    double factor;
  };
  static constexpr Unit kUnits[] = {
      {"", 1.0},          {"b", 1.0},
      {"k", 1024.0},      {"kib", 1024.0},      {"kb", 1e3},
      {"m", 1048576.0},   {"mib", 1048576.0},   {"mb", 1e6},
      {"g", 1073741824.0}, {"gib", 1073741824.0}, {"gb", 1e9},
      {"t", 1099511627776.0}, {"tib", 1099511627776.0}, {"tb", 1e12},
  };
  for (const Unit& u : kUnits) {
    if (EqualsIgnoreCase(unit, u.name)) return u.factor;
  }
  return std::nullopt;
}

std::optional<uint64_t> Fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> ParseByteSize(std::string_view text, std::string* error) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  std::string_view s = text.substr(begin, end - begin);
  if (s.empty()) return Fail(error, "empty size");

  size_t i = 0;
  double integer_part = 0;
  bool any_digit = false;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    integer_part = integer_part * 10 + (s[i] - '0');
    any_digit = true;
    ++i;
  }
  double fraction = 0, scale = 0.1;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      fraction += (s[i] - '0') * scale;
      scale /= 10;
      any_digit = true;
      ++i;
    }
  }
  if (!any_digit) {
    return Fail(error, "'" + std::string(s) + "' does not start with a number (expected e.g. 512MiB, 2GiB or bytes)");
  }
  std::string_view unit = s.substr(i);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.remove_prefix(1);
  auto factor = UnitMultiplier(unit);
  if (!factor) {
    return Fail(error, "unknown unit '" + std::string(unit) + "' in '" + std::string(s) +
                           "' (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)");
  }
  double bytes = (integer_part + fraction) * *factor;
  if (!(bytes < static_cast<double>(std::numeric_limits<uint64_t>::max()))) {
    return Fail(error, "'" + std::string(s) + "' is too large");
  }
  double rounded = std::floor(bytes);
  if (rounded != bytes && unit.empty()) {
    return Fail(error, "'" + std::string(s) + "' is a fractional number of bytes");
  }
  return static_cast<uint64_t>(rounded);
}

std::string FormatByteSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", value, kUnits[unit]);
  }
  return buf;
}

}  // namespace tgs
