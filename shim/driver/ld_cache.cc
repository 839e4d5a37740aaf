#include "shim/driver/ld_cache.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tgs {
namespace {

// glibc's cache formats (elf/cache.h): an optional old "ld.so-1.7.0" table,
// then the "glibc-ld.so.cache1.1" table whose string offsets are relative to
// its own header.
constexpr char kOldMagic[] = "ld.so-1.7.0";
constexpr char kNewMagic[] = "glibc-ld.so.cache";
constexpr char kNewVersion[] = "1.1";

struct NewHeader {
  char magic[sizeof(kNewMagic) - 1];
  char version[sizeof(kNewVersion) - 1];
  uint32_t nlibs;
  uint32_t len_strings;
  uint8_t flags;
  uint8_t padding[3];
  uint32_t extension_offset;
  uint32_t unused[3];
};
struct NewEntry {
  int32_t flags;
  uint32_t key;
  uint32_t value;
  uint32_t osversion;
  uint64_t hwcap;
};
struct OldEntry {
  int32_t flags;
  uint32_t key;
  uint32_t value;
};
static_assert(sizeof(NewHeader) == 48 && sizeof(NewEntry) == 24 && sizeof(OldEntry) == 12);

constexpr int32_t kElfLibc6 = 0x0003;
#if defined(__x86_64__)
constexpr int32_t kArchFlag = 0x0300;  // FLAG_X8664_LIB64
#elif defined(__aarch64__)
constexpr int32_t kArchFlag = 0x0a00;  // FLAG_AARCH64_LIB64
#else
constexpr int32_t kArchFlag = -1;  // unknown architecture: accept any
#endif

std::string_view StringAt(std::string_view data, size_t base, uint32_t offset) {
  size_t start = base + offset;
  if (start >= data.size()) return {};
  size_t end = data.find('\0', start);
  if (end == std::string_view::npos) return {};
  return data.substr(start, end - start);
}

}  // namespace

std::vector<std::string> LdCacheLookupInBuffer(std::string_view data, std::string_view soname) {
  std::vector<std::string> paths;
  size_t base = 0;
  if (data.size() >= sizeof(kOldMagic) - 1 && data.compare(0, sizeof(kOldMagic) - 1, kOldMagic) == 0) {
    size_t header = sizeof(kOldMagic) - 1 + sizeof(uint32_t);
    if (data.size() < header) return paths;
    uint32_t nlibs;
    std::memcpy(&nlibs, data.data() + sizeof(kOldMagic) - 1, sizeof nlibs);
    base = header + static_cast<size_t>(nlibs) * sizeof(OldEntry);
    base = (base + alignof(NewHeader) - 1) & ~(alignof(NewHeader) - 1);
  }
  if (data.size() < base + sizeof(NewHeader)) return paths;
  NewHeader header;
  std::memcpy(&header, data.data() + base, sizeof header);
  if (std::memcmp(header.magic, kNewMagic, sizeof header.magic) != 0 ||
      std::memcmp(header.version, kNewVersion, sizeof header.version) != 0) {
    return paths;
  }
  size_t entries = base + sizeof(NewHeader);
  if (header.nlibs > (data.size() - entries) / sizeof(NewEntry)) return paths;
  for (uint32_t i = 0; i < header.nlibs; ++i) {
    NewEntry entry;
    std::memcpy(&entry, data.data() + entries + i * sizeof(NewEntry), sizeof entry);
    if ((entry.flags & 0xff) != kElfLibc6) continue;
    if (kArchFlag != -1 && (entry.flags & 0xff00) != kArchFlag) continue;
    if (StringAt(data, base, entry.key) != soname) continue;
    std::string_view path = StringAt(data, base, entry.value);
    if (!path.empty()) paths.emplace_back(path);
  }
  return paths;
}

std::vector<std::string> LdCacheLookup(const std::string& cache_path, std::string_view soname) {
  std::ifstream in(cache_path, std::ios::binary);
  if (!in) return {};
  std::stringstream buffer;
  buffer << in.rdbuf();
  return LdCacheLookupInBuffer(buffer.str(), soname);
}

}  // namespace tgs
