nodelet_add_test(NAME test-agent-pod-parse SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-pod-parse.c LIBS nodelet-agent-pod)
nodelet_add_test(NAME test-agent-pod-env SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-pod-env.c LIBS nodelet-agent-pod)
nodelet_add_fuzzer(NAME test-agent-pod-fuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz-pod.c LIBS nodelet-agent-pod
                   CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/pod)
