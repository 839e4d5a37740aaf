// Simulated module images. There is no instruction set to run, so a module
// declares its kernels and how long one thread block of each takes:
//
//   simgpu-module 1
//   kernel <name> <ns_per_block>
//   ...
//
// A kernel's device time is ceil(blocks / SMs) * ns_per_block.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "tools/simgpu/cuda_api.h"

struct CUmod_st {};
struct CUfunc_st {};

namespace simgpu {

struct Module;

struct Function : CUfunc_st {
  std::string name;
  int64_t ns_per_block = 0;
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
