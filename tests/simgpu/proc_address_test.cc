#include <dlfcn.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "tests/simgpu/sim_env.h"

namespace {

void* Lookup(const char* name, int version, cuuint64_t flags, CUresult* rc, CUdriverProcAddressQueryResult* status) {
  void* fn = nullptr;
  *rc = cuGetProcAddress(name, &fn, version, flags, status);
  return fn;
}

void* Sym(const char* name) {
  static void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  return handle == nullptr ? nullptr : dlsym(handle, name);
}

TEST(SimGpuProcAddress, VersionSelectsVariant) {
  simtest::SegmentName();
  CUresult rc;
  CUdriverProcAddressQueryResult st;
  EXPECT_EQ(Lookup("cuMemAlloc", 3020, 0, &rc, &st), Sym("cuMemAlloc_v2"));
  EXPECT_EQ(rc, CUDA_SUCCESS);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SUCCESS);
  EXPECT_EQ(Lookup("cuMemAlloc", 13000, 0, &rc, &st), Sym("cuMemAlloc_v2"));
  EXPECT_EQ(Lookup("cuMemAlloc", 2000, 0, &rc, &st), Sym("cuMemAlloc"));
  EXPECT_NE(Sym("cuMemAlloc"), Sym("cuMemAlloc_v2"));
  EXPECT_EQ(Lookup("cuMemGetInfo", 3020, 0, &rc, &st), Sym("cuMemGetInfo_v2"));
  EXPECT_EQ(Lookup("cuMemGetInfo", 3010, 0, &rc, &st), Sym("cuMemGetInfo"));
  EXPECT_EQ(Lookup("cuCtxCreate", 12050, 0, &rc, &st), Sym("cuCtxCreate_v4"));
  EXPECT_EQ(Lookup("cuCtxCreate", 11040, 0, &rc, &st), Sym("cuCtxCreate_v3"));
  EXPECT_EQ(Lookup("cuEventElapsedTime", 12080, 0, &rc, &st), Sym("cuEventElapsedTime_v2"));
  EXPECT_EQ(Lookup("cuGetProcAddress", 12000, 0, &rc, &st), Sym("cuGetProcAddress_v2"));
  EXPECT_EQ(Lookup("cuGetProcAddress", 11030, 0, &rc, &st), Sym("cuGetProcAddress"));
}

TEST(SimGpuProcAddress, PerThreadFlagSelectsPtszVariant) {
  simtest::SegmentName();
  CUresult rc;
  CUdriverProcAddressQueryResult st;
  const cuuint64_t pt = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
  EXPECT_EQ(Lookup("cuLaunchKernel", 12000, pt, &rc, &st), Sym("cuLaunchKernel_ptsz"));
  EXPECT_EQ(Lookup("cuLaunchKernel", 12000, 0, &rc, &st), Sym("cuLaunchKernel"));
  EXPECT_EQ(Lookup("cuMemcpyHtoD", 12000, pt, &rc, &st), Sym("cuMemcpyHtoD_v2_ptds"));
  EXPECT_EQ(Lookup("cuMemAllocAsync", 11020, pt, &rc, &st), Sym("cuMemAllocAsync_ptsz"));
  EXPECT_EQ(Lookup("cuStreamBeginCapture", 10010, pt, &rc, &st), Sym("cuStreamBeginCapture_v2_ptsz"));
  // No per-thread twin: the flag is ignored.
  EXPECT_EQ(Lookup("cuMemAlloc", 12000, pt, &rc, &st), Sym("cuMemAlloc_v2"));
}

TEST(SimGpuProcAddress, UnknownAndTooOld) {
  simtest::SegmentName();
  CUresult rc;
  CUdriverProcAddressQueryResult st;
  EXPECT_EQ(Lookup("cuNoSuchFunction", 13000, 0, &rc, &st), nullptr);
  EXPECT_EQ(rc, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  EXPECT_EQ(Lookup("", 0, 0, &rc, &st), nullptr);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  EXPECT_EQ(Lookup("cuDeviceGetDefaultMemPool", 11000, 0, &rc, &st), nullptr);
  EXPECT_EQ(rc, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
}

// Every request a CUDA 13 runtime makes either resolves to an exported symbol
// or is a clean SYMBOL_NOT_FOUND; and the entry points TGS depends on resolve.
TEST(SimGpuProcAddress, CudartRequestsResolveConsistently) {
  simtest::SegmentName();
  std::ifstream in(SIMGPU_TSV);
  ASSERT_TRUE(in) << SIMGPU_TSV;
  std::string line;
  std::getline(in, line);  // header
  int rows = 0, found = 0;
  std::set<std::string> resolved;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, version, flags;
    std::getline(fields, name, '\t');
    std::getline(fields, version, '\t');
    std::getline(fields, flags, '\t');
    ++rows;
    CUresult rc;
    CUdriverProcAddressQueryResult st;
    void* fn = Lookup(name.c_str(), std::stoi(version), std::stoull(flags), &rc, &st);
    if (rc == CUDA_SUCCESS) {
      ++found;
      EXPECT_NE(fn, nullptr) << name;
      EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SUCCESS) << name;
      Dl_info info;
      ASSERT_NE(dladdr(fn, &info), 0) << name;
      EXPECT_EQ(std::string(info.dli_sname).rfind(name, 0), 0u) << name << " -> " << info.dli_sname;
      if (std::stoull(flags) == 2) resolved.insert(name + "@pt=" + info.dli_sname);
      else resolved.insert(name);
    } else {
      EXPECT_EQ(rc, CUDA_ERROR_NOT_FOUND) << name;
      EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND) << name << "@" << version;
      EXPECT_EQ(fn, nullptr);
    }
  }
  EXPECT_EQ(rows, 440);
  EXPECT_GT(found, 140);
  for (const char* must : {"cuInit", "cuMemAlloc", "cuMemFree", "cuMemGetInfo", "cuLaunchKernel", "cuMemGetInfo",
                           "cuMemAllocAsync", "cuGraphLaunch", "cuStreamSynchronize", "cuEventElapsedTime",
                           "cuCtxCreate", "cuDevicePrimaryCtxRetain", "cuArrayCreate", "cuMipmappedArrayCreate"}) {
    EXPECT_TRUE(resolved.count(must)) << must;
  }
  EXPECT_TRUE(resolved.count("cuLaunchKernel@pt=cuLaunchKernel_ptsz"));
}

}  // namespace
