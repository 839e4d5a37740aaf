// One-line diagnostics to stderr, prefixed "tgs[<pid>]" (or another
// component tag). Never used on the kernel-launch path: only at start-up,
// on errors and on allocation failures, where a syscall is acceptable.
//
// The level comes from TGS_LOG (error, warn, info, debug; default warn) and is
// read once. An unknown value logs at warn; each component's configuration
// reports it (TgsLogError) with its other variables. Messages are formatted into a stack buffer and written with one
// write(2) so that lines from concurrent threads and processes do not interleave.
#pragma once

#include <cstdarg>
#include <string>

namespace tgs {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Sets the tag that prefixes every line ("tgs", "tgs-simgpu", ...).
void SetLogTag(const char* tag);
// "TGS_LOG='verbose': not a log level (error, warn, info, debug)", or empty
// when TGS_LOG is unset or valid.
std::string TgsLogError();
LogLevel CurrentLogLevel();
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace tgs

#define TGS_LOG_ERROR(...) ::tgs::Log(::tgs::LogLevel::kError, __VA_ARGS__)
#define TGS_LOG_WARN(...) ::tgs::Log(::tgs::LogLevel::kWarn, __VA_ARGS__)
#define TGS_LOG_INFO(...)                                                          \
  do {                                                                             \
    if (::tgs::LogEnabled(::tgs::LogLevel::kInfo)) ::tgs::Log(::tgs::LogLevel::kInfo, __VA_ARGS__); \
  } while (0)
#define TGS_LOG_DEBUG(...)                                                          \
  do {                                                                              \
    if (::tgs::LogEnabled(::tgs::LogLevel::kDebug)) ::tgs::Log(::tgs::LogLevel::kDebug, __VA_ARGS__); \
  } while (0)
