// tgs-test-cudart-{shared,static}: the smallest CUDA runtime-API program.
//
// Built twice, against libcudart.so and libcudart_static.a. libcudart 13 has
// no link-time dependency on libcuda: it dlopen()s "libcuda.so.1" and gets
// every driver entry point through cuGetProcAddress_v2 (FIELD-NOTES §1). On
// the simulated driver the runtime cannot finish initialising and reports a
// no-device style error; the integration tests only use this program to show
// that the runtime's driver table came from the shim's cuGetProcAddress.
#include <cuda_runtime.h>

#include <cstdio>

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  int count = -1;
  cudaError_t r = cudaGetDeviceCount(&count);
  std::printf("RESULT cudart-device-count status=%s code=%d count=%d\n", cudaGetErrorName(r), static_cast<int>(r),
              count);
  void* p = nullptr;
  r = cudaMalloc(&p, 1 << 20);
  std::printf("RESULT cudart-malloc status=%s code=%d\n", cudaGetErrorName(r), static_cast<int>(r));
  if (r == cudaSuccess) cudaFree(p);
  return 0;
}
