# The static-pod source (manifest directory) and the image preload (tests/agent/test-preload.c imports real images
# built by tests/fixtures/make-busybox-image.py: root for layer ownership).
nodelet_add_test(NAME test-static-pods SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-static-pods.c
                 LIBS nodelet-agent-sources)
nodelet_add_test(NAME test-preload SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-preload.c LIBS nodelet-agent-sources
                 PRIVILEGED TIMEOUT 300)
# The preload runs the build's nodeletctl.
add_dependencies(test-preload nodeletctl)
