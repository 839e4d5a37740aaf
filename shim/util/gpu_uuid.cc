#include "shim/util/gpu_uuid.h"

#include <cstring>

namespace tgs {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string FormatGpuUuid(const uint8_t uuid[16]) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "GPU-";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[uuid[i] >> 4];
    s += kHex[uuid[i] & 15];
  }
  return s;
}

bool ParseGpuUuid(const char* text, uint8_t out[16]) {
  const char* p = std::strncmp(text, "GPU-", 4) == 0 ? text + 4 : text;
  int n = 0;
  while (*p != '\0' && n < 16) {
    if (*p == '-') {
      ++p;
      continue;
    }
    int hi = HexDigit(p[0]), lo = hi < 0 ? -1 : HexDigit(p[1]);
    if (lo < 0) return false;
    out[n++] = static_cast<uint8_t>(hi << 4 | lo);
    p += 2;
  }
  return n == 16 && *p == '\0';
}

}  // namespace tgs
