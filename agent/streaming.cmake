# nodelet-agent-streaming: kubectl exec / attach / port-forward on the kubelet API (agent/streaming.h): sessions over
# WebSocket and SPDY/3.1 (common/websocket.h, common/spdy.h) between the client and the exec'd process, the followed
# container log or the pod-side socket.
add_library(nodelet-agent-streaming STATIC ${CMAKE_CURRENT_LIST_DIR}/streaming.c)
target_link_libraries(nodelet-agent-streaming PUBLIC nodelet-common nodelet-runtime nodelet-cni nodelet-agent-pod)
