# Cluster mode end to end (privileged): nodelet against the fake kube-apiserver (tests/apiserver), pods from the API,
# their status written back, graceful deletion ending with the kubelet's final DELETE. tests/agent/test-cluster.py.
nodelet_add_script_test(NAME test-cluster PRIVILEGED TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-cluster.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
# The API server away for a while (issue 14 item 8): pods keep running, no busy loop, statuses written after the
# reconnect, a relist after the expired history (410). tests/agent/test-outage.py.
nodelet_add_script_test(NAME test-outage PRIVILEGED TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-outage.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
