// Shared plumbing for the simulated workloads: option parsing with errors
// that name the option, CUDA error reporting, and device setup. Everything
// here uses only the public driver API; the module image text is the single
// simgpu-specific input.
#pragma once

#include <cuda.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <time.h>

#include "shim/util/byte_size.h"
#include "tools/simgpu/simgpu_module.h"

namespace workload {

inline double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] inline void Fail(const char* program, const char* call, CUresult rc) {
  const char* name = nullptr;
  if (cuGetErrorName(rc, &name) != CUDA_SUCCESS || name == nullptr) name = "unknown CUDA error";
  std::fprintf(stderr, "%s: %s failed: %s (%d)\n", program, call, name, static_cast<int>(rc));
  std::exit(1);
}

#define WORKLOAD_CHECK(program, call)                              \
  do {                                                             \
    CUresult workload_rc_ = (call);                                \
    if (workload_rc_ != CUDA_SUCCESS) ::workload::Fail(program, #call, workload_rc_); \
  } while (0)

// A tiny --name value parser: each option has a setter that returns an error
// message (empty on success).
class Options {
 public:
  using Setter = std::function<std::string(const std::string&)>;
  Options(const char* program, const char* usage) : program_(program), usage_(usage) {}

  void Add(const std::string& name, Setter setter) { setters_[name] = std::move(setter); }

  void Parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        std::fputs(usage_, stdout);
        std::exit(0);
      }
      std::string value;
      auto eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
      auto it = setters_.find(arg);
      if (it == setters_.end()) Usage("unknown option '" + arg + "'");
      if (eq == std::string::npos) {
        if (i + 1 >= argc) Usage("option " + arg + " needs a value");
        value = argv[++i];
      }
      std::string error = it->second(value);
      if (!error.empty()) Usage("invalid value '" + value + "' for " + arg + ": " + error);
    }
  }

  [[noreturn]] void Usage(const std::string& message) const {
    std::fprintf(stderr, "%s: %s (see --help)\n", program_, message.c_str());
    std::exit(64);
  }

 private:
  const char* program_;
  const char* usage_;
  std::map<std::string, Setter> setters_;
};

inline Options::Setter Integer(int64_t* out, int64_t min, int64_t max) {
  return [=](const std::string& v) -> std::string {
    char* end = nullptr;
    errno = 0;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || errno != 0 || *end != '\0') return "not an integer";
    if (x < min || x > max) return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    *out = x;
    return "";
  };
}

inline Options::Setter Number(double* out, double min, double max) {
  return [=](const std::string& v) -> std::string {
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') return "not a number";
    if (!(x >= min && x <= max)) return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    *out = x;
    return "";
  };
}

inline Options::Setter Bytes(uint64_t* out) {
  return [=](const std::string& v) -> std::string {
    std::string why;
    auto x = tgs::ParseByteSize(v, &why);
    if (!x) return why;
    *out = *x;
    return "";
  };
}

struct Device {
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  CUfunction kernel = nullptr;
  CUfunction kernel_on = nullptr;  // the same, with one buffer argument
  CUstream stream = nullptr;
  CUdeviceptr memory = 0;
};

// `bytes` of device memory; exit 2 with a message when they do not fit.
inline CUdeviceptr Allocate(const char* program, uint64_t bytes) {
  CUdeviceptr p = 0;
  CUresult rc = cuMemAlloc(&p, bytes);
  if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
    std::fprintf(stderr, "%s: out of memory: cannot allocate %s of device memory\n", program,
                 tgs::FormatByteSize(bytes).c_str());
    std::exit(2);
  }
  if (rc != CUDA_SUCCESS) Fail(program, "cuMemAlloc", rc);
  return p;
}

// Context on CUDA device `ordinal`, a stream, `mem` bytes of device memory
// (exit 2 when they do not fit), and a kernel whose `blocks`-block launch
// takes `kernel_us`.
inline Device SetUp(const char* program, uint64_t mem, int64_t blocks, double kernel_us, int ordinal = 0) {
  Device d;
  WORKLOAD_CHECK(program, cuInit(0));
  int count = 0;
  WORKLOAD_CHECK(program, cuDeviceGetCount(&count));
  if (ordinal >= count) {
    std::fprintf(stderr, "%s: --device %d: this process sees %d CUDA device(s)\n", program, ordinal, count);
    std::exit(64);
  }
  WORKLOAD_CHECK(program, cuDeviceGet(&d.device, ordinal));
  WORKLOAD_CHECK(program, cuDevicePrimaryCtxRetain(&d.context, d.device));
  WORKLOAD_CHECK(program, cuCtxSetCurrent(d.context));
  int sms = 0;
  WORKLOAD_CHECK(program, cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d.device));
  simgpu::ModuleImage image;
  uint64_t ns_per_block = simgpu::NsPerBlockFor(static_cast<uint64_t>(kernel_us * 1000.0), blocks, sms);
  image.AddKernel("step", ns_per_block);
  // The same kernel reading one buffer: the driver sees which memory it
  // touches (unified memory migrates on access).
  image.AddKernel("step_on", ns_per_block, {"ptr"});
  WORKLOAD_CHECK(program, cuModuleLoadData(&d.module, image.Text()));
  WORKLOAD_CHECK(program, cuModuleGetFunction(&d.kernel, d.module, "step"));
  WORKLOAD_CHECK(program, cuModuleGetFunction(&d.kernel_on, d.module, "step_on"));
  if (mem > 0) d.memory = Allocate(program, mem);
  WORKLOAD_CHECK(program, cuStreamCreate(&d.stream, CU_STREAM_NON_BLOCKING));
  return d;
}

}  // namespace workload
