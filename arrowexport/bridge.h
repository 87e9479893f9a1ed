/* C half of package arrowexport: stream trampolines that zero the host's
 * output structs before Go writes into them, and ownership helpers for the
 * host's (untrusted) Arrow structs. Declarations only, so that the Go files
 * with //export functions may include it. */
#ifndef KALAM_ARROWEXPORT_BRIDGE_H
#define KALAM_ARROWEXPORT_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"

/* Export side. */
void kx_export_init(struct ArrowArrayStream* s, uintptr_t handle);
int kx_is_exported(const struct ArrowArrayStream* s);
uintptr_t kx_export_handle(const struct ArrowArrayStream* s);
void kx_zero_schema(struct ArrowSchema* s);
/* The format of child i (no bounds check beyond n_children). */
const char* kx_child_format(struct ArrowSchema* s, int64_t i);
/* Calls s->release when set. */
void kx_release_schema(struct ArrowSchema* s);
void kx_mark_array_released(struct ArrowArray* a);

/* Import side. */
struct ArrowArrayStream* kx_stream_take(struct ArrowArrayStream* src);
int kx_stream_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out);
int kx_stream_get_next(struct ArrowArrayStream* s, struct ArrowArray* out);
const char* kx_stream_last_error(struct ArrowArrayStream* s);
void kx_stream_release_free(struct ArrowArrayStream* s);

struct ArrowSchema* kx_schema_copy(const struct ArrowSchema* src, char* err, size_t errlen);
void kx_schema_release_host(struct ArrowSchema* s);
void kx_schema_release_free(struct ArrowSchema* s);

struct ArrowArray* kx_array_new(void);
struct ArrowArray* kx_array_wrap(struct ArrowArray* host);
void kx_array_release_free(struct ArrowArray* a);


#endif
