// Builds simulated module images for cuModuleLoadData on the simulated GPU.
// Header-only and independent of the simulator: workloads include it to
// describe their kernels, and the text is all they share with it.
//
//   simgpu::ModuleImage image;
//   image.AddKernel("step", 15000);           // 15 us per wave of blocks
//   image.AddKernel("axpy", 15000, {"ptr", "ptr", "f32"});
//   cuModuleLoadData(&module, image.Text());
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace simgpu {

class ModuleImage {
 public:
  ModuleImage() : text_("simgpu-module 1\n") {}

  // One thread block of `name` keeps an SM busy for `ns_per_block` nanoseconds.
  ModuleImage& AddKernel(const std::string& name, uint64_t ns_per_block) {
    text_ += "kernel " + name + " " + std::to_string(ns_per_block) + "\n";
    return *this;
  }

  // The same, declaring the kernel's parameter types in order ("ptr", "i32",
  // "u32", "i64", "u64", "f32", "f64"): launches then say which managed
  // allocations the kernel touches through their "ptr" arguments.
  ModuleImage& AddKernel(const std::string& name, uint64_t ns_per_block, std::initializer_list<const char*> params) {
    text_ += "kernel " + name + " " + std::to_string(ns_per_block) + " params";
    for (const char* type : params) text_ += std::string(" ") + type;
    text_ += "\n";
    return *this;
  }

  const char* Text() const { return text_.c_str(); }

 private:
  std::string text_;
};

// ns_per_block that makes a kernel of `blocks` blocks take `kernel_ns` on a
// device with `sms` SMs (duration = ceil(blocks / sms) * ns_per_block).
inline uint64_t NsPerBlockFor(uint64_t kernel_ns, uint64_t blocks, uint64_t sms) {
  uint64_t waves = (blocks + sms - 1) / sms;
  return waves == 0 ? kernel_ns : kernel_ns / waves;
}

}  // namespace simgpu
