# nodelet-images: the image store (blobs, references, layer unpacking, image config). See docs/runtime-images.md.
add_library(nodelet-images STATIC
  ${CMAKE_CURRENT_LIST_DIR}/digest.c
  ${CMAKE_CURRENT_LIST_DIR}/image-config.c
  ${CMAKE_CURRENT_LIST_DIR}/image-import.c
  ${CMAKE_CURRENT_LIST_DIR}/image-store.c
  ${CMAKE_CURRENT_LIST_DIR}/images-ctl.c
  ${CMAKE_CURRENT_LIST_DIR}/layer.c
  ${CMAKE_CURRENT_LIST_DIR}/layer-media.c
  ${CMAKE_CURRENT_LIST_DIR}/reference.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c
  ${CMAKE_CURRENT_LIST_DIR}/registry-auth.c
  ${CMAKE_CURRENT_LIST_DIR}/registry-hosts.c)
target_link_libraries(nodelet-images PUBLIC nodelet-common PkgConfig::LIBARCHIVE PkgConfig::OPENSSL PkgConfig::LIBCURL)
