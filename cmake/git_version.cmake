# Writes OUT (a header) with the source tree's current git commit, "+dirty"
# when the code (not results/ or docs) has uncommitted changes, at every build
# (not only at configure time), rewriting the file only when the text changes.
execute_process(COMMAND git -C ${SRC} rev-parse --short HEAD OUTPUT_VARIABLE c ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT c)
  set(c "unknown")
else()
  execute_process(COMMAND git -C ${SRC} diff --quiet HEAD -- lib baselines bench tests plots cmake CMakeLists.txt
                  RESULT_VARIABLE dirty ERROR_QUIET)
  if(dirty)
    set(c "${c}+dirty")
  endif()
endif()
set(text "#define DAOE_GIT_COMMIT \"${c}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
