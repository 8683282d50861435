# Finds trainflow's dependencies. Every one comes from a Debian 12 package that
# scripts/install-deps installs; a missing one stops configure with a message naming that script.
include(GNUInstallDirs)

macro(trainflow_require name)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR
      "trainflow: dependency '${name}' was not found. Install every dependency with:\n"
      "  sudo ${PROJECT_SOURCE_DIR}/scripts/install-deps\n"
      "then configure again.")
  endif()
endmacro()

set(THREADS_PREFER_PTHREAD_FLAG ON)
trainflow_require(Threads)
trainflow_require(Boost 1.74 CONFIG)
trainflow_require(xxhash)
trainflow_require(Eigen3 3.4 CONFIG)
trainflow_require(ZLIB)
# oneDNN on GNU OpenMP: the MLP's inner products, activations and matmul.
trainflow_require(oneDNN)
# yaml-cpp 0.7: workflow files (src/config/).
trainflow_require(yaml-cpp CONFIG)
# SQLite 3 (CMake's FindSQLite3): the run store, <workdir>/runs.db (src/store/run_store.cpp).
trainflow_require(SQLite3)
