# The benchmark harness: the sweep runner and the statistics tool
# (included from the top CMakeLists.txt; tests in tests/harness_tests.cmake).
add_executable(daoe-sweep ${CMAKE_SOURCE_DIR}/bench/daoe_sweep.c ${CMAKE_SOURCE_DIR}/bench/sweep_profile.c
  ${CMAKE_SOURCE_DIR}/bench/sweep_run.c ${CMAKE_SOURCE_DIR}/bench/sweep_report.c ${CMAKE_SOURCE_DIR}/bench/sweep_slurm.c)
target_link_libraries(daoe-sweep daoe daoe_tool)
# the slurm engine's tasks check the build's git commit (daoe_git.h)
target_include_directories(daoe-sweep PRIVATE ${CMAKE_BINARY_DIR})
add_dependencies(daoe-sweep daoe_git_version)

add_executable(daoe-stats ${CMAKE_SOURCE_DIR}/bench/daoe_stats.c ${CMAKE_SOURCE_DIR}/bench/stats_read.c
  ${CMAKE_SOURCE_DIR}/bench/stats_compute.c ${CMAKE_SOURCE_DIR}/bench/stats_table.c
  ${CMAKE_SOURCE_DIR}/bench/stats_write.c ${CMAKE_SOURCE_DIR}/bench/stats_plot.c ${CMAKE_SOURCE_DIR}/bench/stats_check.c)
target_link_libraries(daoe-stats daoe daoe_tool GSL::gsl)

set_target_properties(daoe-sweep daoe-stats PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
