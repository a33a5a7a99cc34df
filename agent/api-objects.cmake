# nodelet-agent-objects: the ConfigMaps, Secrets and service account tokens this node's API pods refer to (one
# informer per object, TokenRequest with refresh). agent/api-objects.h.
add_library(nodelet-agent-objects STATIC
  ${CMAKE_CURRENT_LIST_DIR}/api-objects.c)
target_link_libraries(nodelet-agent-objects PUBLIC nodelet-agent-api nodelet-agent-pod nodelet-common)
