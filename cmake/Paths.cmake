# Installation paths that the code needs to know (docs/agent.md "Installing"). Every install() destination is
# relative to CMAKE_INSTALL_PREFIX except where an operator asks otherwise by giving an absolute path here or in
# GNUInstallDirs' variables; DESTDIR applies to all of them.

# Where the installed binaries look for their helpers (nodelet-shim).
set(NODELET_LIBEXECDIR "${CMAKE_INSTALL_FULL_LIBEXECDIR}/nodelet")

# The CNI plugin directory: /opt/cni/bin is where every CNI runtime looks, so it is the default even though it lies
# outside the prefix. A relative value is taken below the prefix (like GNUInstallDirs' variables).
set(NODELET_CNI_BINDIR "/opt/cni/bin" CACHE PATH "Where the CNI plugins are installed (relative: below the prefix)")
if(IS_ABSOLUTE "${NODELET_CNI_BINDIR}")
  set(NODELET_CNI_BINDIR_FULL "${NODELET_CNI_BINDIR}")
else()
  set(NODELET_CNI_BINDIR_FULL "${CMAKE_INSTALL_PREFIX}/${NODELET_CNI_BINDIR}")
endif()

configure_file(${CMAKE_CURRENT_LIST_DIR}/nodelet-paths.h.in ${CMAKE_BINARY_DIR}/generated/nodelet-paths.h @ONLY)
include_directories(${CMAKE_BINARY_DIR}/generated)
