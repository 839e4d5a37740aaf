# The shim: libtgs.so (preloaded; SONAME libcuda.so.1) and its NVML sibling.
include("${CMAKE_CURRENT_SOURCE_DIR}/interpose/trampolines.cmake")
set(TGS_TRAMPOLINES "${CMAKE_CURRENT_BINARY_DIR}/cuda_trampolines.S")
tgs_cuda_passthrough_names(tgs_cuda_names)
tgs_write_trampolines("${TGS_TRAMPOLINES}" tgs_cuda "${tgs_cuda_names}")
list(LENGTH tgs_cuda_names tgs_cuda_count)
message(STATUS "TGS shim: ${tgs_cuda_count} pass-through libcuda entry points")

# Everything but the exported layer, so unit tests can link it directly.
add_library(tgs_shim_core STATIC
  control/controller_client.cc
  core/config.cc
  core/container_identity.cc
  core/runtime.cc
  driver/ld_cache.cc
  driver/library_search.cc
  driver/real_cuda.cc
  interpose/passthrough_table.cc
  launch/graph_cost.cc
  launch/launch_gate.cc
  launch/yield_to_production.cc
  memory/allocation_table.cc
  memory/array_size.cc
  memory/memory_view.cc
  memory/quota.cc
  memory/residency.cc
  state/container_state.cc
  state/node_board.cc
  state/state_file.cc)
target_link_libraries(tgs_shim_core PUBLIC tgs_util tgs_protocol tgs_cuda_headers Threads::Threads ${CMAKE_DL_LIBS})
target_compile_options(tgs_shim_core PRIVATE -fvisibility=hidden -fvisibility-inlines-hidden)

# Link rules shared by both preloaded libraries: bind internal references to
# ourselves (an application's symbols must never replace the shim's own),
# refuse undefined symbols, and carry libstdc++ inside so that the shim loads
# into images whose libstdc++ is older than the build host's.
function(tgs_preload_library target soname)
  target_compile_options(${target} PRIVATE -fvisibility=hidden -fvisibility-inlines-hidden)
  target_link_options(${target} PRIVATE "-Wl,-soname,${soname}" -Wl,-Bsymbolic -Wl,--no-undefined -Wl,-z,now
                      -Wl,--exclude-libs,ALL)
  if(TGS_SANITIZE STREQUAL "")
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  endif()
  set_target_properties(${target} PROPERTIES NO_SONAME ON LIBRARY_OUTPUT_DIRECTORY "${TGS_BUILD_LIBDIR}")
  install(TARGETS ${target} LIBRARY DESTINATION "${TGS_INSTALL_LIBDIR}")
endfunction()

add_library(tgs_shim SHARED
  interpose/cuda_exports.cc
  interpose/passthrough.cc
  interpose/proc_address.cc
  core/init_hooks.cc
  launch/graph_launch_hooks.cc
  launch/launch_hooks.cc
  launch/host_callback_hooks.cc
  launch/sync_hooks.cc
  memory/ipc_hooks.cc
  memory/memory_hooks.cc
  "${TGS_TRAMPOLINES}")
target_link_libraries(tgs_shim PRIVATE tgs_shim_core)
set_target_properties(tgs_shim PROPERTIES OUTPUT_NAME tgs)
tgs_preload_library(tgs_shim libcuda.so.1)

if(EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/nvml/nvml_entry_points.txt")
  set(TGS_NVML_TRAMPOLINES "${CMAKE_CURRENT_BINARY_DIR}/nvml_trampolines.S")
  tgs_listed_passthrough_names(tgs_nvml_names "${CMAKE_CURRENT_SOURCE_DIR}/nvml/nvml_entry_points.txt"
                               "${CMAKE_CURRENT_SOURCE_DIR}/nvml/nvml_hooks.def" TGS_NVML_HOOK)
  tgs_write_trampolines("${TGS_NVML_TRAMPOLINES}" tgs_nvml "${tgs_nvml_names}")
  add_library(tgs_shim_nvml SHARED nvml/nvml_exports.cc nvml/nvml_hooks.cc "${TGS_NVML_TRAMPOLINES}")
  target_link_libraries(tgs_shim_nvml PRIVATE tgs_shim_core)
  set_target_properties(tgs_shim_nvml PROPERTIES OUTPUT_NAME tgs-nvml)
  tgs_preload_library(tgs_shim_nvml libnvidia-ml.so.1)
endif()

# The preload list containers get as /etc/ld.so.preload (container/README.md):
# both libraries at the path every integration mounts this directory on. It
# names container paths, so it sits beside the libraries it lists, and a host
# directory of one version holds everything a container needs.
set(TGS_CONTAINER_SHIM_DIR "/usr/lib/tgs" CACHE INTERNAL "Where containers see the shim's directory")
file(WRITE "${CMAKE_BINARY_DIR}/ld.so.preload.in"
     "${TGS_CONTAINER_SHIM_DIR}/libtgs.so\n${TGS_CONTAINER_SHIM_DIR}/libtgs-nvml.so\n")
configure_file("${CMAKE_BINARY_DIR}/ld.so.preload.in" "${TGS_BUILD_LIBDIR}/ld.so.preload" COPYONLY)
install(FILES "${TGS_BUILD_LIBDIR}/ld.so.preload" DESTINATION "${TGS_INSTALL_LIBDIR}")
