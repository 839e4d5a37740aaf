// The text form of a GPU UUID as NVML and nvidia-smi print it,
// "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", whose bytes are CUDA's CUuuid in
// order. TGS keys every GPU by UUID, never by ordinal (CUDA_VISIBLE_DEVICES
// remaps ordinals), so the shim, the controller and the simulated driver all
// convert through here.
#pragma once

#include <cstdint>
#include <string>

namespace tgs {

std::string FormatGpuUuid(const uint8_t uuid[16]);
// Accepts the form above, with or without "GPU-" and dashes; false if it is
// not 16 hexadecimal bytes.
bool ParseGpuUuid(const char* text, uint8_t out[16]);

}  // namespace tgs
