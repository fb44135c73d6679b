# Unit tests for the storage side of sync: snapshots (services/syncer/snapshot.c),
# installing them, WAL compaction and tombstone purge. Included from
# tests/CMakeLists.txt; paths are relative to this file. One executable per
# module, each linked with the shared fixture (nodes, a populated store,
# snapshot and install helpers).
set(PDB_SYNC_STORAGE_TESTS snapshot install compact origin_seq)
foreach(name ${PDB_SYNC_STORAGE_TESTS})
  add_executable(test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.c)
  target_link_libraries(test_${name} PRIVATE pdb_storage_fixture PkgConfig::CMOCKA)
  add_test(NAME test_${name} COMMAND test_${name})
endforeach()
