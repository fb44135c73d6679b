# Unit tests for services/storage, one executable per module, on real LMDB
# stores in temporary folders (and real ZeroMQ sockets for the server).
# Each links the shared fixture (sync_fixture.h). Included from
# tests/CMakeLists.txt; paths are relative to this file.
set(PDB_STORAGE_TESTS
    annidx apply ingest local batch cascade versions state peers handlers server wal node wbatch)
foreach(name ${PDB_STORAGE_TESTS})
  add_executable(test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.c)
  target_link_libraries(test_${name} PRIVATE pdb_storage_fixture PkgConfig::CMOCKA)
  add_test(NAME test_${name} COMMAND test_${name})
endforeach()
target_link_libraries(test_server PRIVATE Threads::Threads)
