#include "shim/driver/ld_cache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace tgs {
namespace {

// Builds a glibc "glibc-ld.so.cache1.1" image with the given entries.
std::string BuildCache(const std::vector<std::pair<std::string, std::string>>& entries, int32_t flags) {
  std::string header(48, '\0');
  std::memcpy(header.data(), "glibc-ld.so.cache1.1", 20);
  uint32_t n = entries.size();
  std::memcpy(header.data() + 20, &n, 4);
  std::string table, strings;
  size_t strings_base = 48 + 24 * entries.size();
  for (const auto& [key, value] : entries) {
    uint32_t k = strings_base + strings.size();
    strings += key + '\0';
    uint32_t v = strings_base + strings.size();
    strings += value + '\0';
    char entry[24] = {};
    std::memcpy(entry, &flags, 4);
    std::memcpy(entry + 4, &k, 4);
    std::memcpy(entry + 8, &v, 4);
    table.append(entry, 24);
  }
  return header + table + strings;
}

TEST(LdCache, FindsEveryEntryForTheSoname) {
  std::string cache = BuildCache({{"libfoo.so.1", "/usr/lib/libfoo.so.1"},
                                  {"libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"},
                                  {"libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1"}},
                                 0x0303);
  auto paths = LdCacheLookupInBuffer(cache, "libcuda.so.1");
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0], "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
  EXPECT_EQ(paths[1], "/usr/local/nvidia/lib64/libcuda.so.1");
}

TEST(LdCache, SkipsOtherArchitecturesAndSurvivesGarbage) {
  std::string cache = BuildCache({{"libcuda.so.1", "/usr/lib32/libcuda.so.1"}}, 0x0003);  // 32-bit entry
  EXPECT_TRUE(LdCacheLookupInBuffer(cache, "libcuda.so.1").empty());
  EXPECT_TRUE(LdCacheLookupInBuffer("not a cache", "libcuda.so.1").empty());
  std::string truncated = BuildCache({{"libcuda.so.1", "/x"}}, 0x0303).substr(0, 60);
  EXPECT_TRUE(LdCacheLookupInBuffer(truncated, "libcuda.so.1").empty());
}

TEST(LdCache, ReadsThisMachinesCache) {
  // libc is in every loader cache; this proves the parser against a real file.
  auto paths = LdCacheLookup("/etc/ld.so.cache", "libc.so.6");
  if (paths.empty()) GTEST_SKIP() << "/etc/ld.so.cache missing or lists no libc.so.6";
  EXPECT_NE(paths[0].find("libc.so.6"), std::string::npos);
}

}  // namespace
}  // namespace tgs
