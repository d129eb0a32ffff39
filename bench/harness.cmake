# The benchmark harness: the sweep runner and the statistics tool
# (included from the top CMakeLists.txt; tests in tests/harness_tests.cmake).
add_executable(daoe-sweep ${CMAKE_SOURCE_DIR}/bench/daoe_sweep.c ${CMAKE_SOURCE_DIR}/bench/sweep_profile.c
  ${CMAKE_SOURCE_DIR}/bench/sweep_run.c ${CMAKE_SOURCE_DIR}/bench/sweep_report.c)
target_link_libraries(daoe-sweep daoe daoe_tool)

add_executable(daoe-stats ${CMAKE_SOURCE_DIR}/bench/daoe_stats.c ${CMAKE_SOURCE_DIR}/bench/stats_read.c
  ${CMAKE_SOURCE_DIR}/bench/stats_compute.c ${CMAKE_SOURCE_DIR}/bench/stats_table.c
  ${CMAKE_SOURCE_DIR}/bench/stats_write.c ${CMAKE_SOURCE_DIR}/bench/stats_plot.c ${CMAKE_SOURCE_DIR}/bench/stats_check.c)
target_link_libraries(daoe-stats daoe daoe_tool GSL::gsl)

set_target_properties(daoe-sweep daoe-stats PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
