# Fails when docs/stages.md differs from `trainflow stages --markdown`; says how to regenerate it.
execute_process(COMMAND "${CLI}" stages --markdown OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "trainflow stages --markdown failed (${rc})")
endif()
file(READ "${REFERENCE}" current)
if(NOT generated STREQUAL current)
  message(FATAL_ERROR "${REFERENCE} is out of date; regenerate it with\n"
                      "  build/release/bin/trainflow stages --markdown > docs/stages.md")
endif()
