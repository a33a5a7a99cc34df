# Registry pulls by the daemon (agent/image-pull.h): the pull queue with a fake nodeletctl (coalescing,
# serializeImagePulls, credentials file, cancel kills the child) and the imagePullSecrets merge (test-image-pull.c);
# end to end, a static pod whose image is only in a docker-registry on 127.0.0.1 in the daemon's network namespace
# runs, a missing image gives ErrImagePull then ImagePullBackOff, and in cluster mode a pod's dockerconfigjson
# imagePullSecret authenticates its pull (test-image-pull.py).
nodelet_add_test(NAME test-image-pull-queue SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-image-pull.c LIBS nodelet-agent
  TIMEOUT 120)
nodelet_add_script_test(NAME test-image-pull PRIVILEGED TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-image-pull.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
