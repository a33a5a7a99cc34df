# Kubelet API authentication and authorization: the pure pieces (request attributes, the review caches), and end to
# end (privileged) the daemon's secure port against the fake kube-apiserver's TokenReview and SubjectAccessReview:
# 401 without credentials, anonymous, x509 client certificates, bearer tokens, the caches, and /stats/summary.
nodelet_add_test(NAME test-kubelet-auth SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-kubelet-auth.c LIBS nodelet-agent-auth)
nodelet_add_script_test(NAME test-kubelet-auth-daemon PRIVILEGED TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-kubelet-auth.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
