// Reads the dynamic loader's cache (/etc/ld.so.cache) to find where a library
// lives, as the loader itself would, without running ldconfig. The shim
// cannot simply dlopen("libcuda.so.1"): that name resolves to the shim.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tgs {

// Paths recorded in the cache for `soname` for this process's architecture,
// in cache order. Empty if the cache is missing, unreadable or malformed.
std::vector<std::string> LdCacheLookup(const std::string& cache_path, std::string_view soname);

// Same, on the cache's bytes (for tests).
std::vector<std::string> LdCacheLookupInBuffer(std::string_view data, std::string_view soname);

}  // namespace tgs
