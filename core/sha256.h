/* sha256 — FIPS 180-4 SHA-256, streaming. Used for backbone fingerprints and dataset digests. */
#ifndef PT_SHA256_H
#define PT_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);

/* One-shot: writes 64 lowercase hex digits and a NUL into hex. */
void sha256_hex(const void *data, size_t n, char hex[65]);

#endif
