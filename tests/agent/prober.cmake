# The prober against local HTTP(S), TCP and gRPC servers (python3-grpcio fixture in fixtures/).
nodelet_add_test(NAME test-prober SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-prober.c LIBS nodelet-agent-prober
                 TIMEOUT 120)
