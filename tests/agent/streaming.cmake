# kubectl exec / attach / port-forward / logs (privileged): nodelet in cluster mode, the fake kube-apiserver proxying
# to its kubelet API, the machine's kubectl, and direct SPDY/3.1 and WebSocket clients. tests/agent/test-streaming.py.
nodelet_add_script_test(NAME test-streaming PRIVILEGED TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-streaming.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
