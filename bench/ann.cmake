# The approximate index alone (common/ann over hnswlib) against exact search.
# Included from bench/CMakeLists.txt.
add_executable(bench_ann ${CMAKE_CURRENT_LIST_DIR}/bench_ann.c)
target_link_libraries(bench_ann PRIVATE pdb_ann pdb_gateway_core Threads::Threads)
target_compile_options(bench_ann PRIVATE -O3)
