# One warning set for gcc and clang; both builds must be clean (the test command builds both).
set(NODELET_WARNINGS
  -Wall -Wextra
  -Wshadow -Wformat=2 -Wformat-nonliteral -Wmissing-prototypes -Wstrict-prototypes
  -Wold-style-definition -Wmissing-declarations -Wpointer-arith -Wundef -Wvla
  -Wwrite-strings -Wnull-dereference -Wimplicit-fallthrough -Wdate-time
  -Wno-unused-parameter -Wno-missing-field-initializers
  -Werror=return-type -Werror=implicit-function-declaration -Werror=incompatible-pointer-types)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND NODELET_WARNINGS -Wlogical-op -Wduplicated-cond -Wduplicated-branches -Wjump-misses-init)
endif()
if(NODELET_WERROR)
  list(APPEND NODELET_WARNINGS -Werror)
endif()
add_compile_options(${NODELET_WARNINGS} -fstack-protector-strong -D_FORTIFY_SOURCE=2)
