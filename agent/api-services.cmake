# agent/services: Services and EndpointSlices from the API server drive netproxy in the daemon (agent/api-services.h).
add_library(nodelet-agent-services STATIC ${CMAKE_CURRENT_LIST_DIR}/api-services.c)
target_link_libraries(nodelet-agent-services PUBLIC nodelet-agent-api nodelet-netproxy nodelet-common)
