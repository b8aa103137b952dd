/* A small C analysis tool for the hardening evaluation: byte count, Adler-32 and a 16-bin
 * histogram of a file. Built inside the analysis image with its build-essential, which stays
 * installed as it does in many tool images. */
#include <stdio.h>
#include <stdint.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: ctool FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    uint32_t a = 1, b = 0;
    unsigned long long n = 0, bins[16] = {0};
    int c;
    while ((c = fgetc(f)) != EOF) {
        a = (a + (uint32_t)c) % 65521;
        b = (b + a) % 65521;
        bins[c >> 4]++;
        n++;
    }
    fclose(f);
    printf("bytes %llu\nadler32 %08x\n", n, (b << 16) | a);
    for (int i = 0; i < 16; i++) printf("bin%02d %llu\n", i, bins[i]);
    return 0;
}
