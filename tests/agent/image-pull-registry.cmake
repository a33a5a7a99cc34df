# The daemon's registry settings for its pull children: --registry-config-dir handed on and the node credentials
# file (<root-dir>/config.json, then /root/.docker/config.json) as --node-authfile (test-image-pull-registry.c).
nodelet_add_test(NAME test-image-pull-registry SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-image-pull-registry.c
  LIBS nodelet-agent TIMEOUT 120)
