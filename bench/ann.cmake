# The approximate index alone (common/ann over hnswlib) against exact search.
# Included from bench/CMakeLists.txt.
add_executable(bench_ann ${CMAKE_CURRENT_LIST_DIR}/bench_ann.c)
target_link_libraries(bench_ann PRIVATE pdb_ann pdb_gateway_core Threads::Threads)
target_compile_options(bench_ann PRIVATE -O3)

# The index after heavy churn, with and without compaction (annrebuild.h).
add_executable(bench_ann_churn ${CMAKE_CURRENT_LIST_DIR}/bench_ann_churn.c)
target_link_libraries(bench_ann_churn PRIVATE pdb_ann pdb_storage_core pdb_gateway_core
                      Threads::Threads)
target_compile_options(bench_ann_churn PRIVATE -O3)
