# Unit tests for services/syncer (peer lists, WAL pages, push
# acknowledgements, compaction floor, the sync server over real sockets).
# Included from tests/CMakeLists.txt; paths are relative to this file.
# The tests that need a real store write it with the storage core library.

set(PDB_SYNCER_TESTS page peers server zap authz)
foreach(name ${PDB_SYNCER_TESTS})
  add_executable(test_syncer_${name} ${CMAKE_CURRENT_LIST_DIR}/test_syncer_${name}.c)
  target_link_libraries(test_syncer_${name} PRIVATE
    pdb_syncer_core pdb_storage_core pdb_testkit PkgConfig::CMOCKA)
  add_test(NAME test_syncer_${name} COMMAND test_syncer_${name})
endforeach()
