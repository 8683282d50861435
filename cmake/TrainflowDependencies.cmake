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
# spdlog 1.10 (on fmt 9): run and stage logs (src/observe/).
trainflow_require(spdlog CONFIG)
# nlohmann-json 3: JSON written by logs, traces and the HTTP status (src/observe/).
trainflow_require(nlohmann_json 3 CONFIG)
# hwloc 2 (pkg-config): cores and NUMA nodes of the machine (src/resources/).
trainflow_require(PkgConfig)
pkg_check_modules(hwloc QUIET IMPORTED_TARGET hwloc)
if(NOT hwloc_FOUND)
  message(FATAL_ERROR
    "trainflow: dependency 'hwloc' was not found. Install every dependency with:\n"
    "  sudo ${PROJECT_SOURCE_DIR}/scripts/install-deps\n"
    "then configure again.")
endif()
