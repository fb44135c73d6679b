# Unit tests for the search layout: storage's vecstore writes it, the
# gateway's search reads it, so this one links both cores. Included from
# tests/CMakeLists.txt; paths are relative to this file.
add_executable(test_vecstore ${CMAKE_CURRENT_LIST_DIR}/test_vecstore.c)
target_link_libraries(test_vecstore PRIVATE pdb_storage_core pdb_gateway_core pdb_testkit
                      PkgConfig::CMOCKA)
add_test(NAME test_vecstore COMMAND test_vecstore)
