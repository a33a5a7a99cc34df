# Image garbage collection by disk usage and the cached image list behind status.images (agent/image-gc.h). The
# daemon's glue (which images the pods use, node events) is agent/image-gc-manager.c, in the daemon core.
add_library(nodelet-agent-image-gc STATIC ${CMAKE_CURRENT_LIST_DIR}/image-gc.c)
target_link_libraries(nodelet-agent-image-gc PUBLIC nodelet-images nodelet-common)
