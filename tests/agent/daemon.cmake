# The daemon end to end (privileged): static pods in real namespaces, cgroups and overlayfs, the default CNI network
# inside a network namespace of the test, probes, restarts, volumes, daemon restart. tests/agent/test-daemon.py.
nodelet_add_script_test(NAME test-daemon PRIVILEGED TIMEOUT 1200
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-daemon.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
