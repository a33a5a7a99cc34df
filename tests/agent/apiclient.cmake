# The API client: kubeconfig parsing, the pure pieces (token bucket, backoff, Retry-After), and the client and
# informers against a scripted Python HTTP(S) server on 127.0.0.1 (fixtures/api/api-server.py).
nodelet_add_test(NAME test-kubeconfig SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-kubeconfig.c LIBS nodelet-agent-api)
nodelet_add_test(NAME test-apiclient SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-apiclient.c LIBS nodelet-agent-api
                 TIMEOUT 240)
