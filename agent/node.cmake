# The node controller: Node registration, node status and the node Lease on the daemon's loop (agent/node.h).
add_library(nodelet-agent-node STATIC ${CMAKE_CURRENT_LIST_DIR}/node.c)
target_link_libraries(nodelet-agent-node PUBLIC nodelet-agent-api nodelet-agent-config nodelet-images nodelet-common)
# nodeInfo.containerRuntimeVersion carries the project's version.
target_compile_definitions(nodelet-agent-node PRIVATE NODELET_VERSION_STRING="${PROJECT_VERSION}")
