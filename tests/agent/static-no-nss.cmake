# The static binaries (nodeletctl, nodelet-shim, the CNI plugins) link no NSS code (issue 12; cni/static-no-nss.c).
nodelet_add_script_test(NAME test-static-no-nss TIMEOUT 60
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test-static-no-nss.sh ${CMAKE_BINARY_DIR})
