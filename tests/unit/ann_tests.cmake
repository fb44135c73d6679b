# Unit tests for the approximate index: common/ann.cpp over hnswlib, and
# storage's index of a collective (annidx) on a real store.
# Included from tests/CMakeLists.txt; paths are relative to this file.
add_executable(test_ann ${CMAKE_CURRENT_LIST_DIR}/test_ann.c)
target_link_libraries(test_ann PRIVATE pdb_ann pdb_testkit PkgConfig::CMOCKA m)
add_test(NAME test_ann COMMAND test_ann)
