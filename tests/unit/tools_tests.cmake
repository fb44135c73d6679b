# Unit tests for the configuration modules of common/ (cfg and the grammars
# and shapes it checks values with) and the pulsedb tool's pure modules.
# Included from tests/CMakeLists.txt; paths are relative to this file.
set(PDB_CONFIG_TESTS cfg peerspec policy endpoint decimal)
foreach(name ${PDB_CONFIG_TESTS})
  add_executable(test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.c)
  target_link_libraries(test_${name} PRIVATE pdb_common pdb_testkit PkgConfig::CMOCKA)
  add_test(NAME test_${name} COMMAND test_${name})
endforeach()

add_executable(test_tools ${CMAKE_CURRENT_LIST_DIR}/test_tools.c)
target_link_libraries(test_tools PRIVATE pdb_tools_core pdb_testkit PkgConfig::CMOCKA)
add_test(NAME test_tools COMMAND test_tools)
