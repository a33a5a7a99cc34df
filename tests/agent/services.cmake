# Services from the API server (privileged): nodelet in cluster mode programs netproxy from its Service and
# EndpointSlice informers; ClusterIP, NodePort, REJECT without endpoints, exclusions, bad objects, the 403 without
# --proxy-kubeconfig, --disable-proxy. tests/agent/test-services.py.
nodelet_add_script_test(NAME test-services PRIVILEGED TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-services.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
