// libFuzzer target: any byte string handed to the protocol decoder is either
// rejected with a reason or decodes to a message whose strings are terminated
// and whose counts are in range. Run by tools/setup/test.sh for a bounded time.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "shim/protocol/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string error;
  auto m = tgs::protocol::Decode(std::span<const uint8_t>(data, size), &error);
  if (!m) {
    if (error.empty()) std::abort();  // every rejection must say why
    return 0;
  }
  if (auto* hello = std::get_if<tgs::protocol::Hello>(&*m)) {
    if (hello->gpu_count > tgs::protocol::kMaxGpus) std::abort();
    if (std::strlen(hello->claimed_container_id) >= tgs::protocol::kIdLength) std::abort();
  }
  return 0;
}
