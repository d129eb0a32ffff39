# Optimizer-step benchmark (issue 3): included from the top CMakeLists.txt.
add_executable(daoe-bench-optim ${CMAKE_SOURCE_DIR}/bench/bench_optim.c)
target_link_libraries(daoe-bench-optim daoe daoe_tool)
set_target_properties(daoe-bench-optim PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
