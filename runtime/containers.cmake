# The container engine (issue 4): sandboxes, containers, cgroups v1/v2, seccomp, capabilities, mounts, the
# nodelet-shim monitor, CRI logs and exec. See docs/runtime.md.
#
# nodelet-runtime-core: what runs inside nodelet-shim and the container's first process. It only needs libc and
# jansson, so the shim links it statically (no dynamic loader at every container start, and a small resident
# footprint per running container).
set(NODELET_RUNTIME_CORE_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/cgroup.c
  ${CMAKE_CURRENT_SOURCE_DIR}/cgroup-v1.c
  ${CMAKE_CURRENT_SOURCE_DIR}/cgroup-v2.c
  ${CMAKE_CURRENT_SOURCE_DIR}/container-config.c
  ${CMAKE_CURRENT_SOURCE_DIR}/container-init.c
  ${CMAKE_CURRENT_SOURCE_DIR}/container-spec.c
  ${CMAKE_CURRENT_SOURCE_DIR}/logs.c
  ${CMAKE_CURRENT_SOURCE_DIR}/mount.c
  ${CMAKE_CURRENT_SOURCE_DIR}/container-process.c
  ${CMAKE_CURRENT_SOURCE_DIR}/shim-protocol.c
  ${CMAKE_CURRENT_SOURCE_DIR}/signals.c
  ${CMAKE_CURRENT_SOURCE_DIR}/helper-path.c)
add_library(nodelet-runtime-core OBJECT ${NODELET_RUNTIME_CORE_SOURCES})
target_link_libraries(nodelet-runtime-core PUBLIC PkgConfig::JANSSON)

add_library(nodelet-runtime STATIC
  $<TARGET_OBJECTS:nodelet-runtime-core>
  ${CMAKE_CURRENT_SOURCE_DIR}/caps.c
  ${CMAKE_CURRENT_SOURCE_DIR}/cgroup-pod.c
  ${CMAKE_CURRENT_SOURCE_DIR}/container.c
  ${CMAKE_CURRENT_SOURCE_DIR}/container-attach.c
  ${CMAKE_CURRENT_SOURCE_DIR}/exec.c
  ${CMAKE_CURRENT_SOURCE_DIR}/runtime-ctl.c
  ${CMAKE_CURRENT_SOURCE_DIR}/runtime-ctl-exec.c
  ${CMAKE_CURRENT_SOURCE_DIR}/runtime-ctl-logs.c
  ${CMAKE_CURRENT_SOURCE_DIR}/runtime-ctl-ps.c
  ${CMAKE_CURRENT_SOURCE_DIR}/runtime-ctl-run.c
  ${CMAKE_CURRENT_SOURCE_DIR}/runtime-ctl-stop.c
  ${CMAKE_CURRENT_SOURCE_DIR}/sandbox.c
  ${CMAKE_CURRENT_SOURCE_DIR}/seccomp.c
  ${CMAKE_CURRENT_SOURCE_DIR}/user.c)
target_link_libraries(nodelet-runtime PUBLIC
  nodelet-common nodelet-images PkgConfig::LIBSECCOMP PkgConfig::LIBCAP PkgConfig::LIBSYSTEMD PkgConfig::JANSSON)
target_compile_definitions(nodelet-runtime PRIVATE NODELET_LIBEXECDIR="${NODELET_LIBEXECDIR}")

# The shim links the dependency-free common archives (libc only, and jansson's headers for nodelet-json), never
# nodelet-common: its libcurl, GnuTLS, libsystemd... would reach the link line.
add_executable(nodelet-shim
  ${CMAKE_CURRENT_SOURCE_DIR}/shim.c
  $<TARGET_OBJECTS:nodelet-runtime-core>)
target_link_libraries(nodelet-shim PRIVATE nodelet-json nodelet-basic)
find_library(NODELET_JANSSON_STATIC NAMES libjansson.a)
if(NOT NODELET_SANITIZE AND NODELET_JANSSON_STATIC)
  # Static: container start skips ld.so, and the per-container monitor keeps no private relocated library pages.
  target_link_libraries(nodelet-shim PRIVATE ${NODELET_JANSSON_STATIC})
  target_include_directories(nodelet-shim PRIVATE ${JANSSON_INCLUDE_DIRS})
  target_link_options(nodelet-shim PRIVATE -static)
else()
  target_link_libraries(nodelet-shim PRIVATE PkgConfig::JANSSON)
endif()
install(TARGETS nodelet-shim RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/nodelet)

# The benchmark lives in bench/runtime (docs/BENCHMARKS.md): built with the engine, never run by ctest.
add_subdirectory(${CMAKE_SOURCE_DIR}/bench/runtime ${CMAKE_BINARY_DIR}/bench/runtime)
