# Every external library as one imported target. pkg-config targets bring their
# headers in as SYSTEM includes so -Werror never fires on library code.
find_package(PkgConfig REQUIRED)
pkg_check_modules(UV       REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(HIREDIS  REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(PQ       REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(SODIUM   REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(JANSSON  REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(CURL     REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(OSIP     REQUIRED IMPORTED_TARGET libosip2)
pkg_check_modules(CMOCKA   IMPORTED_TARGET cmocka)

# llhttp: Debian ships the C sources (package node-llhttp) without a library.
# Build them once as a static library; strict mode refuses "Host : x" and friends.
set(LLHTTP_DIR /usr/share/llhttp)
set(LLHTTP_INCLUDE /usr/share/include/llhttp)
if(NOT EXISTS ${LLHTTP_DIR}/llhttp.c)
  message(FATAL_ERROR "llhttp sources not found in ${LLHTTP_DIR}: apt-get install node-llhttp")
endif()
add_library(vp_llhttp STATIC ${LLHTTP_DIR}/llhttp.c ${LLHTTP_DIR}/api.c ${LLHTTP_DIR}/http.c)
target_include_directories(vp_llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE})
target_compile_options(vp_llhttp PRIVATE -w)
target_compile_definitions(vp_llhttp PUBLIC LLHTTP_STRICT_MODE=1)
set_target_properties(vp_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)
