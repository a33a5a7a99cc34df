# agent/api: kubeconfig files, the Kubernetes API client on CurlGlue and list+watch informers (agent/apiclient.h).
add_library(nodelet-agent-api STATIC
  ${CMAKE_CURRENT_LIST_DIR}/kubeconfig.c
  ${CMAKE_CURRENT_LIST_DIR}/apiclient.c
  ${CMAKE_CURRENT_LIST_DIR}/informer.c)
target_link_libraries(nodelet-agent-api PUBLIC nodelet-common m)
# The User-Agent carries the project's version.
target_compile_definitions(nodelet-agent-api PRIVATE NODELET_VERSION_STRING="${PROJECT_VERSION}")
