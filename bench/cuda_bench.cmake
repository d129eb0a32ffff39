# GPU benchmark (our side); the PyTorch side is bench/bench_gpu_torch.py
if(DAOE_HAVE_CUDA)
  add_executable(daoe-bench-gpu bench/bench_gpu.c)
  target_link_libraries(daoe-bench-gpu daoe daoe_tool)
  set_target_properties(daoe-bench-gpu PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endif()
