# agent/kubelet-auth: authentication (x509, TokenReview, anonymous) and authorization (AlwaysAllow, SubjectAccessReview)
# of the kubelet API's secure port, as an HttpServer filter (agent/kubelet-auth.h).
add_library(nodelet-agent-auth STATIC ${CMAKE_CURRENT_LIST_DIR}/kubelet-auth.c)
target_link_libraries(nodelet-agent-auth PUBLIC nodelet-agent-api nodelet-common)
