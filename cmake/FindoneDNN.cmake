# Finds oneDNN (Debian: libdnnl-dev) and the GNU OpenMP runtime it is built on, and defines the
# imported target oneDNN::dnnl. oneDNN's own package configuration is not used: Debian's insists
# on OpenCL development files, which trainflow (CPU primitives only) does not need.
#
# The OpenMP runtime is linked directly so that a stage can set its thread count
# (omp_set_num_threads) whichever compiler builds trainflow; trainflow is not compiled with
# -fopenmp.
include(FindPackageHandleStandardArgs)
find_path(ONEDNN_INCLUDE_DIR NAMES oneapi/dnnl/dnnl.hpp)
find_library(ONEDNN_LIBRARY NAMES dnnl)
find_library(ONEDNN_OPENMP_RUNTIME NAMES gomp libgomp.so.1)
find_package_handle_standard_args(oneDNN
  REQUIRED_VARS ONEDNN_LIBRARY ONEDNN_INCLUDE_DIR ONEDNN_OPENMP_RUNTIME)
if(oneDNN_FOUND AND NOT TARGET oneDNN::dnnl)
  add_library(oneDNN::dnnl UNKNOWN IMPORTED)
  set_target_properties(oneDNN::dnnl PROPERTIES
    IMPORTED_LOCATION "${ONEDNN_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${ONEDNN_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${ONEDNN_OPENMP_RUNTIME}")
endif()
mark_as_advanced(ONEDNN_INCLUDE_DIR ONEDNN_LIBRARY ONEDNN_OPENMP_RUNTIME)
