# Events (core/v1) like the kubelet's recorder: the correlator (aggregation, dedup, spam filter) and the writer
# (agent/events.h). The pod and node call sites live in the daemon core (agent/pod-events.c).
add_library(nodelet-agent-events STATIC ${CMAKE_CURRENT_LIST_DIR}/events.c)
target_link_libraries(nodelet-agent-events PUBLIC nodelet-agent-api nodelet-common)
