# Pod volumes, subPath mounts and per-pod files: real tmpfs and bind mounts, each test in its own mount namespace.
nodelet_add_test(NAME test-volumes SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-volumes.c LIBS nodelet-agent-volumes
  PRIVILEGED TIMEOUT 120)
