nodelet_add_test(NAME test-config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-config.c LIBS nodelet-agent-config)
