# nodeletctl loads only what its container verbs use; global options and -v before and after the verb (issue 12).
nodelet_add_script_test(NAME test-ctl-lean TIMEOUT 120
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test-ctl-lean.sh ${CMAKE_BINARY_DIR})
