# nodeletctl pods|ps|logs|exec on a running daemon's pods (privileged): tests/agent/test-pods-ctl.py.
nodelet_add_script_test(NAME test-pods-ctl PRIVILEGED TIMEOUT 300
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test-pods-ctl.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})

# The README's quick start, scripts/demo.sh, non-interactively on this build (no install, no build/release): both
# example pods must run and answer, and the demo must remove everything it created (it exits non-zero otherwise).
# Its own scratch dir and namespace, so that it does not touch a demo someone is running.
nodelet_add_script_test(NAME test-demo PRIVILEGED TIMEOUT 240
  COMMAND env DEMO_SECONDS=2 DEMO_DIR=/var/tmp/nodelet-demo-test DEMO_NETNS=nodelet-demo-test
          NODELET_BUILD_DIR=${CMAKE_BINARY_DIR} bash ${CMAKE_SOURCE_DIR}/scripts/demo.sh)
