#ifndef GATEWAY_CMONGOC_SHIM_H
#define GATEWAY_CMONGOC_SHIM_H
#include <mongoc/mongoc.h>

/// The encoded size of a document: `bson_t` imports as an opaque pointer (Debian aligns it to 128 bytes).
static inline uint32_t gateway_bson_length(const bson_t *document) { return document->len; }
#endif
