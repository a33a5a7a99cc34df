# The daemon core (docs/agent.md): manager, pod workers, probes, status, HTTP endpoints, and `nodelet` itself.
add_library(nodelet-agent STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/api-pods.c
  ${CMAKE_CURRENT_SOURCE_DIR}/image-gc-manager.c
  ${CMAKE_CURRENT_SOURCE_DIR}/image-pull.c
  ${CMAKE_CURRENT_SOURCE_DIR}/manager.c
  ${CMAKE_CURRENT_SOURCE_DIR}/pod-events.c
  ${CMAKE_CURRENT_SOURCE_DIR}/pod-worker.c
  ${CMAKE_CURRENT_SOURCE_DIR}/probes.c
  ${CMAKE_CURRENT_SOURCE_DIR}/server.c
  ${CMAKE_CURRENT_SOURCE_DIR}/stats-summary.c
  ${CMAKE_CURRENT_SOURCE_DIR}/status.c)
target_link_libraries(nodelet-agent PUBLIC
  nodelet-agent-api nodelet-agent-bootstrap nodelet-agent-events nodelet-agent-services nodelet-agent-objects nodelet-agent-node nodelet-agent-pod nodelet-agent-volumes nodelet-agent-sources nodelet-agent-prober nodelet-agent-config
  nodelet-agent-auth nodelet-agent-streaming nodelet-agent-image-gc nodelet-runtime nodelet-images nodelet-cni nodelet-common)

add_executable(nodelet ${CMAKE_CURRENT_SOURCE_DIR}/nodelet.c)
target_link_libraries(nodelet PRIVATE nodelet-agent)
target_compile_definitions(nodelet PRIVATE NODELET_LIBEXECDIR="${NODELET_LIBEXECDIR}"
                                          NODELET_BINDIR="${CMAKE_INSTALL_FULL_BINDIR}")
# Only the shared libraries the daemon calls: the static libraries carry their users' link dependencies (libarchive
# for image imports, which run in a nodeletctl child), and each loaded library costs PSS (docs/agent.md).
target_link_options(nodelet PRIVATE -Wl,--as-needed)
# The tests run the daemon from the build tree: it finds nodelet-shim in runtime/, nodeletctl next to it (image
# preload) and the plugins in cni/.
add_dependencies(nodelet nodelet-shim nodeletctl nodelet-bridge nodelet-ipam)
install(TARGETS nodelet RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
