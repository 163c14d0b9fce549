/* fuzz.h - the one entry point every fuzz target defines (libFuzzer's). */
#ifndef VOEPY_FUZZ_H
#define VOEPY_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
