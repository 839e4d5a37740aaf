#include "shim/state/state_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <new>

#include "shim/util/log.h"

namespace tgs::state {

// Scoped holder of the state mutex that repairs the invariant when the
// previous holder died inside its critical section.
class StateFile::Lock {
 public:
  explicit Lock(StateFile& file) : file_(file) {
    int rc = pthread_mutex_lock(&file_.state_->header.mutex);
    if (rc == EOWNERDEAD) {
      TGS_LOG_WARN("a process died while updating %s; recomputing usage from process slots", file_.path_.c_str());
      file_.RepairAfterOwnerDeath();
      pthread_mutex_consistent(&file_.state_->header.mutex);
      rc = 0;
    }
    locked_ = rc == 0;
    if (!locked_) TGS_LOG_ERROR("cannot lock %s: %s", file_.path_.c_str(), std::strerror(rc));
  }
  ~Lock() {
    if (locked_) pthread_mutex_unlock(&file_.state_->header.mutex);
  }
  bool locked() const { return locked_; }

 private:
  StateFile& file_;
  bool locked_ = false;
};

namespace {

bool InitialiseMutex(pthread_mutex_t* mutex) {
  pthread_mutexattr_t attr;
  if (pthread_mutexattr_init(&attr) != 0) return false;
  bool ok = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0 &&
            pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 && pthread_mutex_init(mutex, &attr) == 0;
  pthread_mutexattr_destroy(&attr);
  return ok;
}

bool SameUuid(const uint8_t a[16], const uint8_t b[16]) { return std::memcmp(a, b, 16) == 0; }

}  // namespace

std::unique_ptr<StateFile> StateFile::Open(const std::string& dir, const std::string& container_id,
                                           std::string* error) {
  if (container_id.empty() || container_id.size() > static_cast<size_t>(kMaxContainerIdLength)) {
    *error = "container id '" + container_id + "' must be 1.." + std::to_string(kMaxContainerIdLength) + " bytes";
    return nullptr;
  }
  std::string path = dir + "/" + StateFileName(container_id);
  // Processes of one container may run as different users; the directory,
  // private to the container, is what keeps others out.
  mode_t old_umask = umask(0);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  umask(old_umask);
  if (fd < 0) {
    *error = "cannot open state file " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  // The file lock only serialises first-time initialisation (microseconds);
  // the kernel drops it if its holder dies, unlike a lock inside the file.
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      *error = "cannot lock state file " + path + ": " + std::strerror(errno);
      close(fd);
      return nullptr;
    }
  }
  auto fail = [&](std::string message) -> std::unique_ptr<StateFile> {
    *error = std::move(message);
    flock(fd, LOCK_UN);
    close(fd);
    return nullptr;
  };
  struct stat st;
  if (fstat(fd, &st) != 0) return fail("cannot stat " + path + ": " + std::strerror(errno));
  if (static_cast<size_t>(st.st_size) < sizeof(ContainerState) && ftruncate(fd, sizeof(ContainerState)) != 0) {
    return fail("cannot size " + path + ": " + std::strerror(errno));
  }
  void* mem = mmap(nullptr, sizeof(ContainerState), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) return fail("cannot map " + path + ": " + std::strerror(errno));
  auto* state = static_cast<ContainerState*>(mem);

  if (state->header.magic.load(std::memory_order_acquire) != kMagic) {
    // A fresh file is all zeroes, which is a valid empty state for every
    // atomic; only the header fields and the mutex need explicit set-up.
    state->header.layout_version = kLayoutVersion;
    state->header.file_size = sizeof(ContainerState);
    std::memset(state->header.container_id, 0, sizeof state->header.container_id);
    std::memcpy(state->header.container_id, container_id.data(), container_id.size());
    if (!InitialiseMutex(&state->header.mutex)) {
      munmap(mem, sizeof(ContainerState));
      return fail("cannot initialise the mutex in " + path);
    }
    state->header.magic.store(kMagic, std::memory_order_release);
  } else if (state->header.layout_version != kLayoutVersion || state->header.file_size != sizeof(ContainerState)) {
    std::string message = path + " has state layout version " + std::to_string(state->header.layout_version) +
                          " but this shim speaks version " + std::to_string(kLayoutVersion) +
                          " (mixed TGS versions in one container?)";
    munmap(mem, sizeof(ContainerState));
    return fail(message);
  } else if (container_id != state->header.container_id) {
    std::string message = path + " belongs to container '" + std::string(state->header.container_id) +
                          "', not '" + container_id + "'";
    munmap(mem, sizeof(ContainerState));
    return fail(message);
  }
  flock(fd, LOCK_UN);
  return std::unique_ptr<StateFile>(new StateFile(std::move(path), fd, state));
}

std::unique_ptr<StateFile> StateFile::Adopt(int fd, std::string* error) {
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < sizeof(ContainerState)) {
    *error = "the received state file is not a TGS container state (size " + std::to_string(st.st_size) + ")";
    close(fd);
    return nullptr;
  }
  void* mem = mmap(nullptr, sizeof(ContainerState), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    *error = std::string("cannot map the received state file: ") + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  auto* state = static_cast<ContainerState*>(mem);
  if (state->header.magic.load(std::memory_order_acquire) != kMagic ||
      state->header.layout_version != kLayoutVersion || state->header.file_size != sizeof(ContainerState)) {
    *error = "the received state file has layout version " + std::to_string(state->header.layout_version) +
             "; this shim speaks version " + std::to_string(kLayoutVersion);
    munmap(mem, sizeof(ContainerState));
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<StateFile>(
      new StateFile(std::string("(from tgs-controller) ") + state->header.container_id, fd, state));
}

StateFile::StateFile(std::string path, int fd, ContainerState* state)
    : path_(std::move(path)), fd_(fd), state_(state) {}

StateFile::~StateFile() {
  munmap(state_, sizeof(ContainerState));
  close(fd_);
}

int StateFile::FindGpu(const uint8_t uuid[16]) const {
  for (int g = 0; g < kMaxGpus; ++g) {
    const GpuEntry& e = state_->gpus[g];
    if (e.claimed.load(std::memory_order_acquire) && SameUuid(e.uuid, uuid)) return g;
  }
  return -1;
}

int StateFile::FindOrClaimGpu(const uint8_t uuid[16], uint64_t limit_bytes) {
  Lock lock(*this);
  if (!lock.locked()) return -1;
  int index = FindGpu(uuid);
  if (index < 0) {
    for (int g = 0; g < kMaxGpus && index < 0; ++g) {
      GpuEntry& e = state_->gpus[g];
      if (!e.claimed.load(std::memory_order_relaxed)) {
        std::memcpy(e.uuid, uuid, 16);
        e.limit_bytes.store(limit_bytes, std::memory_order_relaxed);
        e.resident_budget_bytes.store(kNoResidentBudget, std::memory_order_relaxed);
        e.claimed.store(1, std::memory_order_release);
        index = g;
      }
    }
    return index;
  }
  GpuEntry& e = state_->gpus[index];
  uint64_t current = e.limit_bytes.load(std::memory_order_relaxed);
  if (limit_bytes != 0 && (current == 0 || limit_bytes < current)) {
    if (current != 0) {
      TGS_LOG_WARN("memory limit of this container lowered from %llu to %llu bytes by this process's TGS_MEMORY_LIMIT",
                   static_cast<unsigned long long>(current), static_cast<unsigned long long>(limit_bytes));
    }
    e.limit_bytes.store(limit_bytes, std::memory_order_relaxed);
  } else if (limit_bytes != 0 && limit_bytes != current) {
    TGS_LOG_WARN("TGS_MEMORY_LIMIT=%llu ignored: the container already has the stricter limit %llu",
                 static_cast<unsigned long long>(limit_bytes), static_cast<unsigned long long>(current));
  }
  return index;
}

void StateFile::SetGpuLimit(int gpu, uint64_t limit_bytes) {
  Lock lock(*this);
  if (lock.locked()) state_->gpus[gpu].limit_bytes.store(limit_bytes, std::memory_order_relaxed);
}

bool StateFile::ReleaseProcessSlotIfOwned(int index, uint64_t start_time) {
  if (index < 0 || index >= kMaxProcesses) return false;
  Lock lock(*this);
  if (!lock.locked()) return false;
  ProcessSlot& slot = state_->processes[index];
  if (slot.pid.load(std::memory_order_relaxed) == 0 || slot.start_time != start_time) return false;
  ReleaseSlotLocked(&slot);
  state_->header.reclaimed_processes.fetch_add(1, std::memory_order_relaxed);
  return true;
}

ProcessSlot* StateFile::ClaimProcessSlot(pid_t pid, uint64_t start_time) {
  Lock lock(*this);
  if (!lock.locked()) return nullptr;
  ReclaimDeadLocked();
  for (ProcessSlot& slot : state_->processes) {
    if (slot.pid.load(std::memory_order_relaxed) == 0) {
      for (ProcessGpuCounters& c : slot.gpu) {
        c.kernels.store(0, std::memory_order_relaxed);
        c.blocks.store(0, std::memory_order_relaxed);
        c.used_bytes = 0;
        c.managed_bytes.store(0, std::memory_order_relaxed);
        c.placed_resident_bytes.store(0, std::memory_order_relaxed);
      }
      slot.start_time = start_time;
      slot.pid.store(pid, std::memory_order_release);
      return &slot;
    }
  }
  return nullptr;
}

void StateFile::ReleaseProcessSlot(ProcessSlot* slot) {
  Lock lock(*this);
  if (lock.locked()) ReleaseSlotLocked(slot);
}

void StateFile::ReleaseSlotLocked(ProcessSlot* slot) {
  for (int g = 0; g < kMaxGpus; ++g) {
    ProcessGpuCounters& c = slot->gpu[g];
    GpuEntry& e = state_->gpus[g];
    if (c.used_bytes != 0) {
      e.used_bytes.fetch_sub(c.used_bytes, std::memory_order_relaxed);
      c.used_bytes = 0;
    }
    c.managed_bytes.store(0, std::memory_order_relaxed);
    c.placed_resident_bytes.store(0, std::memory_order_relaxed);
    e.retired_kernels.fetch_add(c.kernels.exchange(0, std::memory_order_relaxed), std::memory_order_relaxed);
    e.retired_blocks.fetch_add(c.blocks.exchange(0, std::memory_order_relaxed), std::memory_order_relaxed);
  }
  slot->pid.store(0, std::memory_order_release);
}

int StateFile::ReclaimDeadLocked() {
  int reclaimed = 0;
  for (ProcessSlot& slot : state_->processes) {
    pid_t pid = slot.pid.load(std::memory_order_acquire);
    if (pid == 0) continue;
    if (ProcessStartTime(pid) == slot.start_time) continue;
    ReleaseSlotLocked(&slot);
    ++reclaimed;
  }
  if (reclaimed) {
    state_->header.reclaimed_processes.fetch_add(reclaimed, std::memory_order_relaxed);
    TGS_LOG_INFO("returned the memory of %d exited process(es) of this container", reclaimed);
  }
  return reclaimed;
}

int StateFile::ReclaimDeadProcesses() {
  Lock lock(*this);
  return lock.locked() ? ReclaimDeadLocked() : 0;
}

bool StateFile::TryReserveLocked(ProcessSlot* slot, int gpu, uint64_t bytes) {
  GpuEntry& e = state_->gpus[gpu];
  uint64_t used = e.used_bytes.load(std::memory_order_relaxed);
  uint64_t limit = e.limit_bytes.load(std::memory_order_relaxed);
  // Written as a subtraction guarded by a comparison so that neither side can
  // wrap (the "17 TB free" underflow seen in the field).
  if (limit != 0 && (used > limit || bytes > limit - used)) return false;
  slot->gpu[gpu].used_bytes += bytes;
  uint64_t now = used + bytes;
  e.used_bytes.store(now, std::memory_order_relaxed);
  if (now > e.peak_bytes.load(std::memory_order_relaxed)) e.peak_bytes.store(now, std::memory_order_relaxed);
  return true;
}

bool StateFile::Reserve(ProcessSlot* slot, int gpu, uint64_t bytes) {
  Lock lock(*this);
  if (!lock.locked()) return false;
  if (TryReserveLocked(slot, gpu, bytes)) return true;
  // Before refusing, make sure no dead process is still holding budget.
  if (ReclaimDeadLocked() > 0 && TryReserveLocked(slot, gpu, bytes)) return true;
  state_->gpus[gpu].oom_refusals.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void StateFile::Release(ProcessSlot* slot, int gpu, uint64_t bytes) {
  Lock lock(*this);
  if (!lock.locked()) return;
  ProcessGpuCounters& c = slot->gpu[gpu];
  // Never return more than this process holds: a double free reported by the
  // driver as success must not create budget out of thin air.
  if (bytes > c.used_bytes) bytes = c.used_bytes;
  c.used_bytes -= bytes;
  state_->gpus[gpu].used_bytes.fetch_sub(bytes, std::memory_order_relaxed);
}

void StateFile::RepairAfterOwnerDeath() {
  for (int g = 0; g < kMaxGpus; ++g) {
    uint64_t sum = 0;
    for (const ProcessSlot& slot : state_->processes) {
      if (slot.pid.load(std::memory_order_relaxed) != 0) sum += slot.gpu[g].used_bytes;
    }
    state_->gpus[g].used_bytes.store(sum, std::memory_order_relaxed);
  }
}

}  // namespace tgs::state
