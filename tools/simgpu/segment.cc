#include "tools/simgpu/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "shim/util/env.h"
#include "shim/util/log.h"
#include "tools/simgpu/clock.h"

namespace simgpu {
namespace {

std::mutex g_attach_mu;  // guards g_segment creation within this process
std::atomic<Segment*> g_segment{nullptr};
std::atomic<int> g_own_slot{-1};
std::atomic<pid_t> g_own_pid{0};

uint64_t Fnv1a(const std::string& text, uint64_t seed) {
  uint64_t h = 1469598103934665603ULL ^ seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

void InitialiseLocked(Segment* seg, const SimConfig& config, const std::string& name) {
  std::memset(static_cast<void*>(seg), 0, sizeof(Segment));
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&seg->lock, &attr);
  pthread_mutexattr_destroy(&attr);
  seg->layout_version = kLayoutVersion;
  seg->layout_size = sizeof(Segment);
  seg->device_count = config.device_count;
  seg->sm_count = config.sm_count;
  seg->memory_per_device = config.memory_per_device;
  seg->migration_bandwidth = config.migration_bandwidth;
  seg->mps = config.mps ? 1 : 0;
  std::snprintf(seg->name, sizeof seg->name, "%s", config.name.c_str());
  seg->created_ns = NowNs();
  for (int i = 0; i < kMaxDevices; ++i) {
    DeviceState& d = seg->devices[i];
    // Deterministic per (segment, index) so tests and restarts see stable UUIDs.
    uint64_t a = Fnv1a(name + "#" + std::to_string(i), 0x51);
    uint64_t b = Fnv1a(name + "#" + std::to_string(i), 0xa7);
    std::memcpy(d.uuid, &a, 8);
    std::memcpy(d.uuid + 8, &b, 8);
    d.uuid[6] = static_cast<uint8_t>((d.uuid[6] & 0x0f) | 0x40);  // RFC 4122 version 4 shape
    d.uuid[8] = static_cast<uint8_t>((d.uuid[8] & 0x3f) | 0x80);
    d.pci_bus = 0x41 + i;
    std::snprintf(d.pci_bus_id, sizeof d.pci_bus_id, "0000:%02x:00.0", d.pci_bus);
  }
  seg->magic.store(kMagic, std::memory_order_release);
}

Segment* MapSegment(const std::string& name, const SimConfig& config) {
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT, 0666);
  if (fd < 0) {
    TGS_LOG_ERROR("cannot open shared memory '%s': %s", name.c_str(), std::strerror(errno));
    return nullptr;
  }
  // Every opener initialises under flock if nobody has yet: the kernel drops a
  // flock with its holder, so a creator killed mid-initialisation leaves the
  // segment to the next opener instead of wedging it.
  while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  fchmod(fd, 0666);
  struct stat st;
  bool fresh = fstat(fd, &st) == 0 && st.st_size < static_cast<off_t>(sizeof(Segment));
  if (fresh && ftruncate(fd, sizeof(Segment)) != 0) {
    TGS_LOG_ERROR("cannot size shared memory '%s': %s", name.c_str(), std::strerror(errno));
    close(fd);
    return nullptr;
  }
  void* p = mmap(nullptr, sizeof(Segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    TGS_LOG_ERROR("cannot map shared memory '%s': %s", name.c_str(), std::strerror(errno));
    close(fd);
    return nullptr;
  }
  auto* seg = static_cast<Segment*>(p);
  if (seg->magic.load(std::memory_order_acquire) != kMagic) {
    InitialiseLocked(seg, config, name);
    TGS_LOG_INFO("created device model '%s': %d device(s), %llu bytes each, %d SMs", name.c_str(),
                 config.device_count, static_cast<unsigned long long>(config.memory_per_device), config.sm_count);
  } else if (seg->layout_version != kLayoutVersion || seg->layout_size != sizeof(Segment)) {
    TGS_LOG_ERROR("shared memory '%s' has layout %u/%u, this driver expects %u/%zu; remove it or set TGS_SIM_SHM",
                  name.c_str(), seg->layout_version, seg->layout_size, kLayoutVersion, sizeof(Segment));
    munmap(p, sizeof(Segment));
    close(fd);
    return nullptr;
  }
  flock(fd, LOCK_UN);
  close(fd);
  return seg;
}

}  // namespace

bool ReadConfig(SimConfig* config) {
  bool ok = true;
  auto devices = tgs::EnvInteger("TGS_SIM_DEVICES", 1, kMaxDevices);
  auto sms = tgs::EnvInteger("TGS_SIM_SMS", 1, 100000);
  auto memory = tgs::EnvByteSize("TGS_SIM_MEMORY");
  auto bandwidth = tgs::EnvByteSize("TGS_SIM_MIGRATION_BANDWIDTH");
  auto mps = tgs::EnvInteger("TGS_SIM_MPS", 0, 1);
  std::string log_error = tgs::TgsLogError();
  for (const std::string* error :
       {&devices.error, &sms.error, &memory.error, &bandwidth.error, &mps.error, &log_error}) {
    if (!error->empty()) {
      TGS_LOG_ERROR("%s", error->c_str());
      ok = false;
    }
  }
  auto require_positive = [&ok](const char* name, const tgs::EnvSize& size) {
    if (size.value && *size.value == 0) {
      TGS_LOG_ERROR("%s='%s': must be greater than zero", name, tgs::EnvString(name)->c_str());
      ok = false;
    }
  };
  require_positive("TGS_SIM_MEMORY", memory);
  require_positive("TGS_SIM_MIGRATION_BANDWIDTH", bandwidth);
  if (devices.value) config->device_count = static_cast<int>(*devices.value);
  if (sms.value) config->sm_count = static_cast<int>(*sms.value);
  if (memory.value) config->memory_per_device = *memory.value;
  if (bandwidth.value) config->migration_bandwidth = *bandwidth.value;
  if (mps.value) config->mps = *mps.value == 1;
  if (auto name = tgs::EnvString("TGS_SIM_NAME")) {
    if (name->size() >= 95) {
      TGS_LOG_ERROR("TGS_SIM_NAME='%s': longer than 94 characters", name->c_str());
      ok = false;
    }
    config->name = *name;
  }
  return ok;
}

std::string SegmentName() {
  std::string name = tgs::EnvString("TGS_SIM_SHM").value_or("tgs-simgpu");
  if (name[0] != '/') name.insert(0, "/");
  return name;
}

Segment* CurrentSegment() { return g_segment.load(std::memory_order_acquire); }

Segment* AttachSegment() {
  if (Segment* seg = CurrentSegment()) return seg;
  std::lock_guard<std::mutex> guard(g_attach_mu);
  if (Segment* seg = CurrentSegment()) return seg;
  tgs::SetLogTag("tgs-simgpu");
  SimConfig config;
  if (!ReadConfig(&config)) return nullptr;
  Segment* seg = MapSegment(SegmentName(), config);
  if (seg == nullptr) return nullptr;
  ReclaimDead(seg);
  g_segment.store(seg, std::memory_order_release);
  return seg;
}

SegmentLock::SegmentLock(Segment* seg) : seg_(seg) {
  int rc = pthread_mutex_lock(&seg_->lock);
  if (rc == EOWNERDEAD) {
    // The holder died mid-update: the per-process table is authoritative.
    RecomputeUsedLocked(seg_);
    pthread_mutex_consistent(&seg_->lock);
  }
}

SegmentLock::~SegmentLock() { pthread_mutex_unlock(&seg_->lock); }

void RecomputeUsedLocked(Segment* seg) {
  for (auto& slot : seg->processes) {
    for (int d = 0; d < kMaxDevices; ++d) {
      slot.used[d].store(slot.plain[d].load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
  }
  uint64_t resident[kMaxDevices] = {};
  for (auto& r : seg->managed) {
    if (r.owner == 0) continue;
    bool sane = r.owner > 0 && r.owner <= kMaxProcesses && r.device >= 0 && r.device < kMaxDevices;
    ProcessSlot* owner = sane ? &seg->processes[r.owner - 1] : nullptr;
    if (owner == nullptr || owner->pid.load(std::memory_order_relaxed) == 0) {
      r.owner = 0;  // its process is gone (ranges are dropped with their slot)
      continue;
    }
    if (r.resident > r.size) r.resident = r.size;
    owner->used[r.device].fetch_add(r.resident, std::memory_order_relaxed);
    resident[r.device] += r.resident;
  }
  for (int d = 0; d < kMaxDevices; ++d) {
    uint64_t sum = 0;
    for (auto& slot : seg->processes) {
      if (slot.pid.load(std::memory_order_relaxed) != 0) sum += slot.used[d].load(std::memory_order_relaxed);
    }
    seg->devices[d].used_bytes.store(sum, std::memory_order_relaxed);
    seg->devices[d].managed_resident.store(resident[d], std::memory_order_relaxed);
  }
}

void ClearSlotLocked(Segment* seg, int index) {
  ProcessSlot& slot = seg->processes[index];
  for (int d = 0; d < kMaxDevices; ++d) {
    slot.used[d].store(0, std::memory_order_relaxed);
    slot.plain[d].store(0, std::memory_order_relaxed);
    slot.migrated_bytes[d].store(0, std::memory_order_relaxed);
    slot.evicted_bytes[d].store(0, std::memory_order_relaxed);
    slot.remote_bytes[d].store(0, std::memory_order_relaxed);
  }
  slot.context_mask.store(0, std::memory_order_relaxed);
  for (auto& r : seg->managed) {
    if (r.owner == index + 1) r.owner = 0;
  }
}

void ReclaimDeadLocked(Segment* seg) {
  bool changed = false;
  for (int i = 0; i < kMaxProcesses; ++i) {
    ProcessSlot& slot = seg->processes[i];
    pid_t pid = slot.pid.load(std::memory_order_relaxed);
    if (pid == 0) continue;
    if (ProcessStartTime(pid) == slot.start_time) continue;
    ClearSlotLocked(seg, i);
    slot.pid.store(0, std::memory_order_release);
    changed = true;
  }
  if (changed) RecomputeUsedLocked(seg);
}

void ReclaimDead(Segment* seg) {
  SegmentLock lock(seg);
  ReclaimDeadLocked(seg);
}

int OwnSlotIndex(Segment* seg) {
  ProcessSlot* slot = OwnSlot(seg);
  return slot == nullptr ? -1 : static_cast<int>(slot - seg->processes);
}

ProcessSlot* OwnSlot(Segment* seg) {
  pid_t self = getpid();
  int index = g_own_slot.load(std::memory_order_acquire);
  if (index >= 0 && g_own_pid.load(std::memory_order_relaxed) == self) return &seg->processes[index];
  SegmentLock lock(seg);
  index = g_own_slot.load(std::memory_order_acquire);
  if (index >= 0 && g_own_pid.load(std::memory_order_relaxed) == self) return &seg->processes[index];
  uint64_t start = ProcessStartTime(self);
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < kMaxProcesses; ++i) {
      ProcessSlot& slot = seg->processes[i];
      if (slot.pid.load(std::memory_order_relaxed) != 0) continue;
      slot.start_time = start;
      // A slot is cleared when freed; clearing again costs one scan per
      // process and guarantees no predecessor's ranges are inherited.
      ClearSlotLocked(seg, i);
      slot.pid.store(self, std::memory_order_release);
      g_own_pid.store(self, std::memory_order_relaxed);
      g_own_slot.store(i, std::memory_order_release);
      return &slot;
    }
    ReclaimDeadLocked(seg);
  }
  TGS_LOG_ERROR("process table full (%d processes)", kMaxProcesses);
  return nullptr;
}

}  // namespace simgpu
