#include "shim/util/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tgs {
namespace {

std::atomic<const char*> g_tag{"tgs"};
// -1 means "not read yet"; reading TGS_LOG lazily keeps constructors free of getenv ordering issues.
std::atomic<int> g_level{-1};

// -1 for an unknown name.
int ParseLevel(const char* v) {
  if (v == nullptr || *v == '\0') return static_cast<int>(LogLevel::kWarn);
  if (!std::strcmp(v, "error")) return static_cast<int>(LogLevel::kError);
  if (!std::strcmp(v, "warn") || !std::strcmp(v, "warning")) return static_cast<int>(LogLevel::kWarn);
  if (!std::strcmp(v, "info")) return static_cast<int>(LogLevel::kInfo);
  if (!std::strcmp(v, "debug")) return static_cast<int>(LogLevel::kDebug);
  return -1;
}

int ReadLevel() {
  int level = ParseLevel(std::getenv("TGS_LOG"));
  return level < 0 ? static_cast<int>(LogLevel::kWarn) : level;
}

}  // namespace

void SetLogTag(const char* tag) { g_tag.store(tag); }

std::string TgsLogError() {
  const char* v = std::getenv("TGS_LOG");
  if (ParseLevel(v) >= 0) return "";
  return std::string("TGS_LOG='") + v + "': not a log level (error, warn, info, debug)";
}

LogLevel CurrentLogLevel() {
  int level = g_level.load(std::memory_order_relaxed);
  if (level < 0) {
    level = ReadLevel();
    g_level.store(level, std::memory_order_relaxed);
  }
  return static_cast<LogLevel>(level);
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(CurrentLogLevel()); }

void Log(LogLevel level, const char* format, ...) {
  if (!LogEnabled(level)) return;
  static constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
  char line[1024];
  int n = std::snprintf(line, sizeof line, "%s[%d]: %s: ", g_tag.load(), static_cast<int>(getpid()),
                        kNames[static_cast<int>(level)]);
  if (n < 0) return;
  va_list args;
  va_start(args, format);
  int m = std::vsnprintf(line + n, sizeof line - n - 1, format, args);
  va_end(args);
  if (m < 0) return;
  size_t len = static_cast<size_t>(n) + static_cast<size_t>(m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  (void)!write(STDERR_FILENO, line, len);
}

}  // namespace tgs
