# Runs tools/trainflow/check_command.cmake (the path in CHECK; it reads COMMAND, EXIT and EXPECT)
# when every file in the list REQUIRES exists. Otherwise prints "skipped: <file> is missing" and
# succeeds without running anything; a test that uses this sets SKIP_REGULAR_EXPRESSION to
# "skipped: " so that ctest reports it as skipped.
foreach(file IN LISTS REQUIRES)
  if(NOT EXISTS "${file}")
    message("skipped: ${file} is missing")
    return()
  endif()
endforeach()
include("${CHECK}")
