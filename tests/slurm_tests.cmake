# The slurm engine on a real one-node Slurm (included from tests/CMakeLists.txt):
#   slurm_engine   tests/slurm_test.sh: starts munged, slurmctld and slurmd in a temp
#                  folder, runs tiny sweeps through daoe-sweep --engine slurm against the
#                  local engine's bytes (dry run, scancel, time-limit warning, a failing
#                  task, another commit), stops the daemons. Needs root, the Debian packages
#                  munge slurmctld slurmd slurm-client (.ci/slurm_test.sh installs them) and
#                  CIFAR-10; exits 77 (skipped) without them.
set(SLURM_TEST_DATA "")
if(EXISTS ${CMAKE_SOURCE_DIR}/../shared/data/cifar-10-batches-bin)
  get_filename_component(SLURM_TEST_DATA ${CMAKE_SOURCE_DIR}/../shared/data/cifar-10-batches-bin ABSOLUTE)
endif()
add_test(NAME slurm_engine
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_test.sh ${CMAKE_BINARY_DIR}/bin ${CMAKE_BINARY_DIR}/slurm_test
          ${CMAKE_SOURCE_DIR} "${SLURM_TEST_DATA}")
# slow: starts daemons; `make -f Makefile.artifact test` (-LE slow) leaves it out, `check` runs it
set_tests_properties(slurm_engine PROPERTIES SKIP_RETURN_CODE 77 LABELS "slurm;slow" TIMEOUT 300 RUN_SERIAL TRUE)
