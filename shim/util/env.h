// Reading TGS_* environment variables with errors that name the variable and
// the offending value. Read once at start-up, never on a hot path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tgs {

// nullopt when the variable is unset or empty.
std::optional<std::string> EnvString(const char* name);

// A size such as "512MiB". Unset -> `fallback` (which may be nullopt);
// malformed -> nullopt with `*error` = "TGS_X='12XB': unknown unit ...".
struct EnvSize {
  std::optional<uint64_t> value;
  std::string error;  // empty when the variable was absent or valid
};
EnvSize EnvByteSize(const char* name);

// A non-negative integer in [min, max].
struct EnvInt {
  std::optional<int64_t> value;
  std::string error;
};
EnvInt EnvInteger(const char* name, int64_t min, int64_t max);

}  // namespace tgs
