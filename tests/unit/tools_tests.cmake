# Unit tests for common/cfg and the pulsedb tool's pure modules.
# Included from tests/CMakeLists.txt; paths are relative to this file.
add_executable(test_cfg ${CMAKE_CURRENT_LIST_DIR}/test_cfg.c)
target_link_libraries(test_cfg PRIVATE pdb_common pdb_testkit PkgConfig::CMOCKA)
add_test(NAME test_cfg COMMAND test_cfg)

add_executable(test_tools ${CMAKE_CURRENT_LIST_DIR}/test_tools.c)
target_link_libraries(test_tools PRIVATE pdb_tools_core pdb_testkit PkgConfig::CMOCKA)
add_test(NAME test_tools COMMAND test_tools)
