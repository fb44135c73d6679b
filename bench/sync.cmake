# Sync benchmarks' load generator and probes (bench/run_sync.sh): writes
# straight to storage's ZeroMQ socket, reads stores read-only.
# Included from bench/CMakeLists.txt.
add_executable(bench_sync ${CMAKE_CURRENT_LIST_DIR}/bench_sync.c)
target_link_libraries(bench_sync PRIVATE pdb_common Threads::Threads)
