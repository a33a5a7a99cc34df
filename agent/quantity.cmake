# agent/quantity: resource.Quantity parsing (agent/quantity.h), shared by the pod model and the configuration.
add_library(nodelet-agent-quantity STATIC ${CMAKE_CURRENT_LIST_DIR}/quantity.c)
target_link_libraries(nodelet-agent-quantity PUBLIC nodelet-common)
