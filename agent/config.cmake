# Daemon configuration: kubelet flags and the KubeletConfiguration file (agent/config.h).
add_library(nodelet-agent-config STATIC ${CMAKE_CURRENT_LIST_DIR}/config.c)
target_link_libraries(nodelet-agent-config PUBLIC nodelet-agent-quantity nodelet-common)
