# Events (agent/events.h): the correlator with a fake clock and the writer's bounds (test-events.c), and end to end
# against the fake kube-apiserver: the kubelet's pod events, BackOff counted by PATCH, Unhealthy + Killing
# (test-events.py).
nodelet_add_test(NAME test-events SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-events.c LIBS nodelet-agent-events
  TIMEOUT 60)
nodelet_add_script_test(NAME test-events-api PRIVILEGED TIMEOUT 240
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-events.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
