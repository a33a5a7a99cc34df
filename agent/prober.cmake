# agent/prober: the kubelet's HTTP, TCP and gRPC probes, asynchronous on the loop (agent/prober.h).
add_library(nodelet-agent-prober STATIC ${CMAKE_CURRENT_LIST_DIR}/prober.c)
target_link_libraries(nodelet-agent-prober PUBLIC nodelet-common)

# The prober benchmark (docs/BENCHMARKS.md): built with the agent, never run by ctest.
add_subdirectory(${CMAKE_SOURCE_DIR}/bench/agent ${CMAKE_BINARY_DIR}/bench/agent)
