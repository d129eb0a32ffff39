# GPU tests: skip (77) where no GPU is present
add_executable(test_cuda test_cuda.c)
target_link_libraries(test_cuda daoe)
add_test(NAME test_cuda COMMAND test_cuda)
set_tests_properties(test_cuda PROPERTIES SKIP_RETURN_CODE 77 LABELS gpu)
