# nodelet-agent-pod: the typed v1.Pod (parse, defaults, validation, QoS), quantities and container env resolution.
add_library(nodelet-agent-pod STATIC
  ${CMAKE_CURRENT_LIST_DIR}/pod-env.c
  ${CMAKE_CURRENT_LIST_DIR}/pod-parse.c)
target_link_libraries(nodelet-agent-pod PUBLIC nodelet-agent-quantity nodelet-common nodelet-runtime)
