# Unit tests for common/ (ids, clock, MessagePack, entities, changes, API
# tokens, backoff). Included from tests/CMakeLists.txt; paths are relative
# to this file. One executable per module.
set(PDB_CORE_TESTS id hlc mpk entity change tokens backoff)
foreach(name ${PDB_CORE_TESTS})
  add_executable(test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.c)
  target_link_libraries(test_${name} PRIVATE pdb_storage_core pdb_testkit PkgConfig::CMOCKA)
  add_test(NAME test_${name} COMMAND test_${name})
endforeach()
# The store's read side (common/store.h) reads a store the storage core
# wrote: it links the storage fixture.
add_executable(test_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c)
target_link_libraries(test_store PRIVATE pdb_storage_fixture PkgConfig::CMOCKA)
add_test(NAME test_store COMMAND test_store)
