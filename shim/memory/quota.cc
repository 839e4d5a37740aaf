#include "shim/memory/quota.h"

#include <atomic>

#include "shim/core/runtime.h"
#include "shim/util/byte_size.h"
#include "shim/util/log.h"

namespace tgs::quota {
namespace {

void ReportRefusal(int gpu, uint64_t bytes, const char* api) {
  // The first refusal in a process is a warning an operator should see; later
  // ones (frameworks retry after emptying caches) only at info level.
  static std::atomic<bool> warned{false};
  Runtime& rt = Runtime::Get();
  state::StateFile* file = rt.state_file();
  std::string used = FormatByteSize(file->UsedBytes(gpu));
  std::string limit = FormatByteSize(file->LimitBytes(gpu));
  std::string asked = FormatByteSize(bytes);
  LogLevel level = warned.exchange(true) ? LogLevel::kInfo : LogLevel::kWarn;
  Log(level, "%s of %s refused with CUDA_ERROR_OUT_OF_MEMORY: container '%s' uses %s of its %s limit on this GPU",
      api, asked.c_str(), rt.config().container_id.c_str(), used.c_str(), limit.c_str());
}

}  // namespace

bool Reserve(int gpu, uint64_t bytes, const char* api) {
  if (gpu < 0) return true;
  Runtime& rt = Runtime::Get();
  state::ProcessSlot* slot = rt.process_slot();
  if (slot == nullptr) return true;
  if (rt.state_file()->Reserve(slot, gpu, bytes)) return true;
  ReportRefusal(gpu, bytes, api);
  return false;
}

void Release(int gpu, uint64_t bytes) {
  if (gpu < 0 || bytes == 0) return;
  Runtime& rt = Runtime::Get();
  state::ProcessSlot* slot = rt.process_slot();
  if (slot != nullptr) rt.state_file()->Release(slot, gpu, bytes);
}

}  // namespace tgs::quota
