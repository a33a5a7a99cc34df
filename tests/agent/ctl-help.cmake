# -h/--help on every nodeletctl verb and sub-verb: usage on stdout, exit 0, no side effect (issue 12 item 5). Not
# privileged: it runs as anyone; its nftables part, in a network namespace of its own, runs only as root.
nodelet_add_script_test(NAME test-ctl-help TIMEOUT 300
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test-ctl-help.sh ${CMAKE_BINARY_DIR})
