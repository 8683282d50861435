# Installs the library, its headers and a CMake package: find_package(trainflow) then
# target_link_libraries(app PRIVATE trainflow::trainflow).
include(CMakePackageConfigHelpers)

set(TRAINFLOW_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/trainflow")

install(TARGETS trainflow EXPORT trainflowTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/trainflow DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES "${PROJECT_BINARY_DIR}/include/trainflow/version.hpp"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/trainflow)
if(TARGET trainflow_cli)
  install(TARGETS trainflow_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT trainflowTargets NAMESPACE trainflow:: DESTINATION ${TRAINFLOW_CMAKE_DIR})
export(EXPORT trainflowTargets NAMESPACE trainflow::
  FILE "${PROJECT_BINARY_DIR}/trainflowTargets.cmake")

configure_package_config_file(cmake/trainflowConfig.cmake.in
  "${PROJECT_BINARY_DIR}/trainflowConfig.cmake" INSTALL_DESTINATION ${TRAINFLOW_CMAKE_DIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/trainflowConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/trainflowConfig.cmake"
  "${PROJECT_BINARY_DIR}/trainflowConfigVersion.cmake"
  cmake/Findxxhash.cmake
  cmake/FindoneDNN.cmake
  DESTINATION ${TRAINFLOW_CMAKE_DIR})
