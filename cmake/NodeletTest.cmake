# nodelet_add_test(NAME name SOURCES a.c b.c LIBS lib... [PRIVILEGED] [TIMEOUT s] [LABELS l...])
#
# Unit suites use Check (CK_FORK, per-test timeouts). PRIVILEGED tests need root and real kernel objects; they carry
# the "privileged" label, run one at a time (RUN_SERIAL: they share the kernel) and exit 77 (reported by ctest as skipped, never as passed) when a requirement is missing.
function(nodelet_add_test)
  cmake_parse_arguments(T "PRIVILEGED" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} nodelet-testlib PkgConfig::CHECK)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(labels unit)
  if(T_PRIVILEGED)
    set(labels privileged)
  endif()
  list(APPEND labels ${T_LABELS})
  set_tests_properties(${T_NAME} PROPERTIES
    TIMEOUT ${T_TIMEOUT}
    LABELS "${labels}"
    SKIP_RETURN_CODE 77
    ENVIRONMENT "NODELET_BUILD_DIR=${CMAKE_BINARY_DIR};NODELET_SOURCE_DIR=${CMAKE_SOURCE_DIR};CK_DEFAULT_TIMEOUT=120")
  if(T_PRIVILEGED)
    set_tests_properties(${T_NAME} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()

# nodelet_add_script_test(NAME name COMMAND cmd... [PRIVILEGED] [TIMEOUT s])
function(nodelet_add_script_test)
  cmake_parse_arguments(T "PRIVILEGED" "NAME;TIMEOUT" "COMMAND;LABELS" ${ARGN})
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(labels unit)
  if(T_PRIVILEGED)
    set(labels privileged)
  endif()
  list(APPEND labels ${T_LABELS})
  set_tests_properties(${T_NAME} PROPERTIES
    TIMEOUT ${T_TIMEOUT}
    LABELS "${labels}"
    SKIP_RETURN_CODE 77
    ENVIRONMENT "NODELET_BUILD_DIR=${CMAKE_BINARY_DIR};NODELET_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  if(T_PRIVILEGED)
    set_tests_properties(${T_NAME} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()
