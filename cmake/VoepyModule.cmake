# vp_module(name SOURCES a.c b.c DEPS x y)
# One static library per libcommon concern, so that a test links only the modules
# it exercises and a half-finished module never breaks an unrelated build.
function(vp_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(vp_${name} STATIC ${M_SOURCES})
  target_include_directories(vp_${name} PUBLIC ${PROJECT_SOURCE_DIR}/libcommon/include
                                        PRIVATE ${PROJECT_SOURCE_DIR}/libcommon/src)
  target_link_libraries(vp_${name} PUBLIC ${M_DEPS})
endfunction()

# vp_unit_test(name SOURCES test.c LIBS vp_x ...)
# A cmocka binary per area (cmocka runs one binary's tests in one process).
function(vp_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  # vp_test.h has loop helpers: every test links libuv (unused helpers stay in -O0 builds).
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA PkgConfig::UV)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
  add_test(NAME ${name} COMMAND ${name})
  set(labels unit ${T_LABELS})
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT 120)
endfunction()
