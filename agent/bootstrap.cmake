# agent/bootstrap: TLS bootstrap and certificate rotation (agent/bootstrap.h): the client certificate through a
# kube-apiserver-client-kubelet CSR, the serving certificate through a kubelet-serving CSR.
add_library(nodelet-agent-bootstrap STATIC ${CMAKE_CURRENT_LIST_DIR}/bootstrap.c)
target_link_libraries(nodelet-agent-bootstrap PUBLIC nodelet-agent-api nodelet-common)
