#ifndef GATEWAY_CMONGOC_SHIM_H
#define GATEWAY_CMONGOC_SHIM_H
#include <mongoc/mongoc.h>
#endif
