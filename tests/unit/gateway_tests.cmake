# Unit tests for services/gateway (JSON mapping, vector search). Included
# from tests/CMakeLists.txt; paths are relative to this file.
set(PDB_GATEWAY_TESTS json_map search jvec)
foreach(name ${PDB_GATEWAY_TESTS})
  add_executable(test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.c)
  target_link_libraries(test_${name} PRIVATE pdb_gateway_core pdb_testkit PkgConfig::CMOCKA)
  add_test(NAME test_${name} COMMAND test_${name})
endforeach()

# The gateway's storage writers (smux, amux) against a real storage server on a thread.
add_executable(test_writers ${CMAKE_CURRENT_LIST_DIR}/test_writers.c)
target_link_libraries(test_writers PRIVATE pdb_gateway_core pdb_storage_fixture PkgConfig::CMOCKA
                      Threads::Threads)
add_test(NAME test_writers COMMAND test_writers)
