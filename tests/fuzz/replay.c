/*
 * replay.c - main() for a fuzz target in the normal build (gcc, `make
 * check`): runs LLVMFuzzerTestOneInput once on each file named, so every
 * seed and every input a fuzzer ever crashed on (tests/fuzz/regress/)
 * stays a regression test, under ASan in the --asan build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int main(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        FILE    *f = fopen(argv[i], "rb");
        uint8_t *data;
        long     n;

        n = -1;
        if (f != NULL && fseek(f, 0, SEEK_END) == 0)
            n = ftell(f);
        if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
            perror(argv[i]);
            return 2;
        }
        data = malloc((size_t) n + 1);
        if (data == NULL || fread(data, 1, (size_t) n, f) != (size_t) n) {
            perror(argv[i]);
            return 2;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(data, (size_t) n);
        free(data);
    }
    return 0;
}
