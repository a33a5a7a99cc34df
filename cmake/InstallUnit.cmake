# Run by `cmake --install` (systemd/CMakeLists.txt): writes nodelet.service for the prefix given at *install* time
# (`cmake --install BUILD --prefix P` may differ from the configured CMAKE_INSTALL_PREFIX), so that ExecStart,
# --config and Documentation= name the files this same installation writes. DESTDIR is prepended by file(INSTALL)
# as for every other installed file. Inputs (set by install(CODE) before): NODELET_UNIT_IN, NODELET_UNIT_TMP and the
# GNUInstallDirs relative directories NODELET_INSTALL_<BINDIR|SYSCONFDIR|DOCDIR|UNITDIR>.
foreach(d BINDIR SYSCONFDIR DOCDIR UNITDIR)
  if(IS_ABSOLUTE "${NODELET_INSTALL_${d}}")
    set(CMAKE_INSTALL_FULL_${d} "${NODELET_INSTALL_${d}}")
  else()
    set(CMAKE_INSTALL_FULL_${d} "${CMAKE_INSTALL_PREFIX}/${NODELET_INSTALL_${d}}")
  endif()
endforeach()
configure_file("${NODELET_UNIT_IN}" "${NODELET_UNIT_TMP}/nodelet.service" @ONLY)
file(INSTALL DESTINATION "${CMAKE_INSTALL_FULL_UNITDIR}" TYPE FILE FILES "${NODELET_UNIT_TMP}/nodelet.service")
