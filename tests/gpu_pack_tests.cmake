# The GPU session's plumbing, on this machine (included from tests/CMakeLists.txt):
#   gpu_pack     bench/gpu_pack.sh packs fake programs and data into tiny parts;
#                bench/gpu_device.sh stores one part per simulated call, yields the
#                programs from the first part, reassembles and checks every sum, and
#                refuses a corrupted part and a file whose sum differs (seconds)
#   gpu_dryrun   the whole session on the cpu backend: this build's programs and the
#                real CIFAR-10 packed (xz -1), every call simulated, every stage of the
#                device script at the devtest scale (minutes: label slow). Needs CIFAR-10.
add_test(NAME gpu_pack COMMAND bash ${CMAKE_SOURCE_DIR}/bench/gpu_dryrun.sh --fake ${CMAKE_BINARY_DIR}/gpu_pack_test)
set_tests_properties(gpu_pack PROPERTIES LABELS harness TIMEOUT 120)
set(GPU_DRYRUN_DATA "$ENV{CIFAR10_DIR}")
if(NOT GPU_DRYRUN_DATA AND EXISTS ${CMAKE_SOURCE_DIR}/../shared/data/cifar-10-batches-bin)
  get_filename_component(GPU_DRYRUN_DATA ${CMAKE_SOURCE_DIR}/../shared/data/cifar-10-batches-bin ABSOLUTE)
endif()
add_test(NAME gpu_dryrun COMMAND bash ${CMAKE_SOURCE_DIR}/bench/gpu_dryrun.sh --pack ${CMAKE_BINARY_DIR}
  ${CMAKE_BINARY_DIR}/gpu_dryrun_test)
set_tests_properties(gpu_dryrun PROPERTIES LABELS slow TIMEOUT 900 SKIP_RETURN_CODE 77
  ENVIRONMENT "CIFAR10_DIR=${GPU_DRYRUN_DATA}")
