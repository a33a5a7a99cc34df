# Image garbage collection (agent/image-gc.h): the policy on a fake clock and file system, the store's use times and
# prune, the collector over a real store (test-image-gc.c; its store part needs root and runs only then); the daemon
# on a small tmpfs, collecting down to the low threshold without touching a running pod's image (test-image-gc.py).
nodelet_add_test(NAME test-image-gc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-image-gc.c LIBS nodelet-agent-image-gc
  TIMEOUT 180)
nodelet_add_script_test(NAME test-image-gc-daemon PRIVILEGED TIMEOUT 240
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-image-gc.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
