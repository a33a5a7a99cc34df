# ConfigMaps, Secrets and service account tokens (agent/api-objects.h): the cached object form, the token refresh
# rule and env resolution (unit); configMap/secret/projected volumes with real tmpfs mounts (privileged); the daemon
# with the fake kube-apiserver end to end (privileged, tests/agent/test-objects.py).
nodelet_add_test(NAME test-api-objects SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-api-objects.c
  LIBS nodelet-agent-objects TIMEOUT 60)
nodelet_add_test(NAME test-objects-volumes SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-objects-volumes.c
  LIBS nodelet-agent-volumes PRIVILEGED TIMEOUT 120)
nodelet_add_script_test(NAME test-objects PRIVILEGED TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-objects.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
