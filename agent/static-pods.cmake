# nodelet-agent-sources: where pods come from besides the API server (the static-pod manifest directory) and the
# image tars preloaded at start. OpenSSL for the static pod UID (MD5, like the kubelet).
add_library(nodelet-agent-sources STATIC
  ${CMAKE_CURRENT_LIST_DIR}/preload.c
  ${CMAKE_CURRENT_LIST_DIR}/static-pods.c)
target_link_libraries(nodelet-agent-sources PUBLIC nodelet-common nodelet-images PkgConfig::OPENSSL)
