# Harness tests (issue 4): included from tests/CMakeLists.txt.
#   harness_stats    daoe-stats against numpy/scipy (and Holm by hand) on synthetic
#                    run folders: mean, sd, CI, min/max, epochs and time to target,
#                    Welch t, df, p, Holm, Hedges' g, diverged/incomplete counts
#   harness_check    the CI regression check passes on the reference and fails, naming
#                    the optimizer, on degraded copies (also results/reference/* if present)
#   harness_figures  every plots/*.gp script on synthetic results (PNG and PDF)
#   harness_sweep    daoe-sweep: the committed profiles expand; tiny real runs (width 4,
#                    256 images, 1 epoch): skip finished, re-run after delete, diverged
#                    kept, stale settings refused, tune -> tuned.json -> lr_from.
#                    Needs CIFAR-10 (CIFAR10_DIR, else ../shared/data next to the source)
# All exit 77 (skipped) when /usr/bin/python3 lacks numpy/scipy or gnuplot is missing.
set(HARNESS_WORK ${CMAKE_BINARY_DIR}/harness_test)
set(HARNESS_PY ${CMAKE_CURRENT_SOURCE_DIR}/harness_test.py)
set(HARNESS_BIN ${CMAKE_BINARY_DIR}/bin)
set(HARNESS_DATA "")
if(EXISTS ${CMAKE_SOURCE_DIR}/../shared/data/cifar-10-batches-bin)
  get_filename_component(HARNESS_DATA ${CMAKE_SOURCE_DIR}/../shared/data/cifar-10-batches-bin ABSOLUTE)
endif()

add_test(NAME harness_stats COMMAND /usr/bin/python3 ${HARNESS_PY} stats ${HARNESS_BIN} ${HARNESS_WORK}/stats)
add_test(NAME harness_check
  COMMAND /usr/bin/python3 ${HARNESS_PY} check ${HARNESS_BIN} ${HARNESS_WORK}/check ${CMAKE_SOURCE_DIR})
add_test(NAME harness_figures
  COMMAND /usr/bin/python3 ${HARNESS_PY} figures ${HARNESS_BIN} ${HARNESS_WORK}/figures ${CMAKE_SOURCE_DIR})
add_test(NAME harness_sweep
  COMMAND /usr/bin/python3 ${HARNESS_PY} sweep ${HARNESS_BIN} ${HARNESS_WORK}/sweep ${CMAKE_SOURCE_DIR} "${HARNESS_DATA}")
set_tests_properties(harness_stats harness_check harness_figures harness_sweep PROPERTIES
  SKIP_RETURN_CODE 77 LABELS harness)
set_tests_properties(harness_sweep PROPERTIES TIMEOUT 300)
