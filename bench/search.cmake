# Vector search kernel against a memory-bandwidth probe (services/gateway).
# Included from bench/CMakeLists.txt.
add_executable(bench_search ${CMAKE_CURRENT_LIST_DIR}/bench_search.c)
target_link_libraries(bench_search PRIVATE pdb_gateway_core)
target_compile_options(bench_search PRIVATE -O3)

# Data for the end-to-end search benchmarks (run_ann_http.sh).
add_executable(gen_vectors ${CMAKE_CURRENT_LIST_DIR}/gen_vectors.c)

# One client's search latency through HTTP, from C (run_ann_http.sh).
add_executable(bench_search_http ${CMAKE_CURRENT_LIST_DIR}/bench_search_http.c)
target_link_libraries(bench_search_http PRIVATE PkgConfig::CURL_BENCH)
