# Warnings are errors everywhere; dependency headers come in as -isystem through
# pkg-config imported targets, so their warnings never reach us.
add_compile_definitions(_GNU_SOURCE)
add_compile_options(
  -Wall -Wextra -Werror
  -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
  -Wno-unused-parameter
  -fno-common)

if(VOEPY_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(VOEPY_FUZZ)
  # Coverage for libFuzzer in every library, not only the fuzz target's own file.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
