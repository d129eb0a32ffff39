# Optimizer tests (issue 3): included from tests/CMakeLists.txt.
#   optim_ref_*    each baseline against torch.optim (reference written by
#                  tests/optim_ref_torch.py into the build tree)
#   test_ensemble  DAO-E: one-hot/single-member equivalence, alpha, features,
#                  hypergradient by finite differences (CPU, synthetic data)
#   optim_real_*   short real-data runs of every optimizer through daoe-train
#                  (LABELS slow; need CIFAR10_DIR, skip 77 otherwise)

set(OPTIM_REF ${CMAKE_BINARY_DIR}/optim_ref/optim_ref.safetensors)
add_executable(test_optim_ref test_optim_ref.c)
target_link_libraries(test_optim_ref daoe)
add_test(NAME optim_ref_torch
  COMMAND ${DAOE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/optim_ref_torch.py ${OPTIM_REF})
add_test(NAME test_optim_ref COMMAND test_optim_ref ${OPTIM_REF})
set_tests_properties(optim_ref_torch PROPERTIES FIXTURES_SETUP optim_ref SKIP_RETURN_CODE 77)
# skips (77, saying why) when optim_ref_torch skipped and left no reference
set_tests_properties(test_optim_ref PROPERTIES FIXTURES_REQUIRED optim_ref SKIP_RETURN_CODE 77)

daoe_c_test(test_ensemble)

# real data, short runs through the trainer: every optimizer finishes above
# chance; a blown-up learning rate ends as "diverged" with exit status 3
set(OPTIM_REAL_DIR ${CMAKE_BINARY_DIR}/optim_real)
# Lion at its default rate (1e-4) moves each weight by at most 1e-4 a step: in
# these 39 cosine-scheduled steps it reached 0.163, too close to the 0.15 bar;
# 3e-4 (still in the paper's range, 3-10x below AdamW's 1e-3) reaches ~0.23.
set(OPTIM_REAL_FLAGS_lion --lr 3e-4)
foreach(opt sgd adam adamw rmsprop lion daoe)
  add_test(NAME optim_real_${opt}
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/run_optimizer_checks.sh $<TARGET_FILE:daoe-train> ${OPTIM_REAL_DIR}
            finish ${opt} ${OPTIM_REAL_FLAGS_${opt}})
  set_tests_properties(optim_real_${opt} PROPERTIES LABELS slow SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()
add_test(NAME optim_diverge_sgd
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/run_optimizer_checks.sh $<TARGET_FILE:daoe-train> ${OPTIM_REAL_DIR} diverge sgd --lr 1000)
add_test(NAME optim_diverge_daoe
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/run_optimizer_checks.sh $<TARGET_FILE:daoe-train> ${OPTIM_REAL_DIR} diverge daoe --sgd-lr 1000)
set_tests_properties(optim_diverge_sgd optim_diverge_daoe PROPERTIES LABELS slow SKIP_RETURN_CODE 77 TIMEOUT 600)
