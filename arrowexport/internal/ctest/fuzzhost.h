/* A host producer for FuzzImport: ArrowArray trees whose every struct,
 * pointer array and buffer lives in its own guarded mapping (a PROT_NONE
 * page on both sides), sized exactly as described. A read past the end (or,
 * for buffers placed at the start of their pages, before the start) of
 * anything the host hands over faults at once instead of reading a
 * neighbour's bytes. */
#ifndef KALAM_CTEST_FUZZHOST_H
#define KALAM_CTEST_FUZZHOST_H
#include <stddef.h>
#include <stdint.h>
#include "abi.h"

enum { CT_FZ_END_ALIGNED = 0, CT_FZ_START = 1, CT_FZ_END_EXACT = 2 };

struct ct_fz_host;
struct ct_fz_host* ct_fz_new(int64_t n_batches);
void* ct_fz_alloc(struct ct_fz_host* h, size_t size, int placement);
struct ArrowArray* ct_fz_node(struct ct_fz_host* h, int64_t length, int64_t null_count, int64_t offset,
                              int64_t n_buffers, int nil_buffers, int64_t n_children, int nil_children,
                              int released);
void ct_fz_set_buffer(struct ArrowArray* a, int64_t i, void* p);
void ct_fz_set_child(struct ArrowArray* a, int64_t i, struct ArrowArray* c);
void ct_fz_set_dictionary(struct ArrowArray* a, struct ArrowArray* d);
void ct_fz_set_batch(struct ct_fz_host* h, int64_t i, struct ArrowArray* top);
struct ArrowSchema* ct_fz_schema(struct ct_fz_host* h);
struct ArrowArrayStream* ct_fz_stream(struct ct_fz_host* h);
int64_t ct_fz_delivered(struct ct_fz_host* h);
int64_t ct_fz_released(struct ct_fz_host* h, int64_t i);
int64_t ct_fz_stream_releases(struct ct_fz_host* h);
int64_t ct_fz_schema_calls(struct ct_fz_host* h);
void ct_fz_free(struct ct_fz_host* h);
#endif
