// Simulated module images. There is no instruction set to run, so a module
// declares its kernels, how long one thread block of each takes and,
// optionally, the kernel's parameter list:
//
//   simgpu-module 1
//   kernel <name> <ns_per_block> [params <type>...]
//   ...
//
// <type> is one of ptr i32 u32 i64 u64 f32 f64 (ptr: a CUdeviceptr, 8 bytes;
// every type is naturally aligned). Parameters are what lets a launch say
// which managed allocations the kernel touches: every `ptr` argument that
// points into one.
//
// A kernel's device time is ceil(blocks / SMs) * ns_per_block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tools/simgpu/cuda_api.h"

struct CUmod_st {};
struct CUfunc_st {};

namespace simgpu {

struct Module;

enum class ParamType : uint8_t { kPtr, kI32, kU32, kI64, kU64, kF32, kF64 };

// Size in bytes, which is also the alignment, of a parameter of type `t`.
size_t ParamSize(ParamType t);

struct Function : CUfunc_st {
  std::string name;
  int64_t ns_per_block = 0;
  std::vector<ParamType> params;
  bool has_ptr_params = false;  // launches of other kernels never look at their arguments
  Module* module = nullptr;
};

struct Module : CUmod_st {
  std::map<std::string, std::unique_ptr<Function>> functions;
};

// Parses `image`; on error returns CUDA_ERROR_INVALID_IMAGE and logs the line.
CUresult LoadModule(const char* image, CUmodule* out);
CUresult UnloadModule(CUmodule module);
std::shared_ptr<Module> FindModule(CUmodule module);
// Valid while its module is loaded.
Function* FindFunction(CUfunction f);

int64_t KernelDurationNs(const Function& f, uint64_t blocks);

}  // namespace simgpu
