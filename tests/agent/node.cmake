# The node controller (agent/node.h): the two-way status patch, quantities and allocatable as pure functions
# (test-node.c), and registration, status, Lease, re-registration and an API outage against the fake kube-apiserver
# (test-node.py driving test-node-driver, a NodeController on a loop).
nodelet_add_test(NAME test-node SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-node.c LIBS nodelet-agent-node)
add_executable(test-node-driver ${CMAKE_CURRENT_LIST_DIR}/node-driver.c)
target_link_libraries(test-node-driver PRIVATE nodelet-agent-node)
nodelet_add_script_test(NAME test-node-api TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-node.py $<TARGET_FILE:test-node-driver> ${CMAKE_SOURCE_DIR})
