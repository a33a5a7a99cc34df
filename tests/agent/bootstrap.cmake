# TLS bootstrap and certificate rotation (agent/bootstrap.h): the key/CSR/CSR-object/kubeconfig pieces and a
# CertManager starting from files (test-bootstrap.c); end to end, the daemon against the fake kube-apiserver with a
# bootstrap token: CSR, registration as system:node:<node>, rotation, wrong CA, serverTLSBootstrap
# (test-bootstrap.py, privileged).
nodelet_add_test(NAME test-bootstrap SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-bootstrap.c LIBS nodelet-agent-bootstrap)
nodelet_add_script_test(NAME test-bootstrap-daemon PRIVILEGED TIMEOUT 400
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-bootstrap.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
