#include "shim/util/env.h"

#include <cerrno>
#include <cstdlib>

#include "shim/util/byte_size.h"

namespace tgs {

std::optional<std::string> EnvString(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

EnvSize EnvByteSize(const char* name) {
  EnvSize result;
  auto text = EnvString(name);
  if (!text) return result;
  std::string why;
  result.value = ParseByteSize(*text, &why);
  if (!result.value) result.error = std::string(name) + "='" + *text + "': " + why;
  return result;
}

EnvInt EnvInteger(const char* name, int64_t min, int64_t max) {
  EnvInt result;
  auto text = EnvString(name);
  if (!text) return result;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text->c_str(), &end, 10);
  if (errno != 0 || end == text->c_str() || *end != '\0') {
    result.error = std::string(name) + "='" + *text + "': not an integer";
  } else if (v < min || v > max) {
    result.error = std::string(name) + "='" + *text + "': must be between " + std::to_string(min) + " and " +
                   std::to_string(max);
  } else {
    result.value = v;
  }
  return result;
}

}  // namespace tgs
