# nodelet-agent-sources: where pods come from besides the API server (the static-pod manifest directory) and the
# image tars preloaded at start (imported by a nodeletctl child; the daemon only reads the store). OpenSSL for the
# static pod UID (MD5, like the kubelet).
add_library(nodelet-agent-sources STATIC
  ${CMAKE_CURRENT_LIST_DIR}/preload.c
  ${CMAKE_CURRENT_LIST_DIR}/static-pods.c)
target_link_libraries(nodelet-agent-sources PUBLIC nodelet-common nodelet-images PkgConfig::OPENSSL)
# preload.c runs `nodeletctl images import` per tar (libarchive stays out of the daemon): the installed one unless
# told otherwise.
target_compile_definitions(nodelet-agent-sources PRIVATE NODELET_BINDIR="${CMAKE_INSTALL_FULL_BINDIR}")
