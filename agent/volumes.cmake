# nodelet-agent-volumes: pod volumes (emptyDir, hostPath, downwardAPI, projected), subPath mounts and the per-pod
# files (/etc/hosts, resolv.conf, hostname, termination messages). agent/volumes.h.
add_library(nodelet-agent-volumes STATIC
  ${CMAKE_CURRENT_LIST_DIR}/pod-files.c
  ${CMAKE_CURRENT_LIST_DIR}/volumes.c)
target_link_libraries(nodelet-agent-volumes PUBLIC nodelet-agent-pod nodelet-common nodelet-runtime)
