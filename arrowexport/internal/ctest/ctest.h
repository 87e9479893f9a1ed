#ifndef KALAM_CTEST_H
#define KALAM_CTEST_H
#include <stddef.h>
#include <stdint.h>
#include "abi.h"

enum {
  CT_OK = 0,
  CT_NEGATIVE_LENGTH,
  CT_WRONG_BUFFERS,
  CT_NULL_VALUES,
  CT_NULLS_NO_BITMAP,
  CT_NEXT_ERROR,
  CT_BAD_OFFSETS,
  CT_BAD_FORMAT,
  CT_SCHEMA_ERROR,
  CT_TOO_FEW_COLUMNS,
  CT_NULL_CHILD,
  CT_SHORT_COLUMN,
  CT_BUGGY_RELEASE,
};

void* ct_junk_alloc(size_t n);
int ct_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out);
int ct_get_next(struct ArrowArrayStream* s, struct ArrowArray* out);
const char* ct_last_error(struct ArrowArrayStream* s);
void ct_release_stream(struct ArrowArrayStream* s);
void ct_release_array(struct ArrowArray* a);
void ct_release_schema(struct ArrowSchema* s);
int ct_release_stream_in_thread(struct ArrowArrayStream* s);
struct ct_next_job;
struct ct_next_job* ct_start_get_next(struct ArrowArrayStream* s);
int ct_join_get_next(struct ct_next_job* j, int* released);
long ct_live(void);
struct ArrowArrayStream* ct_new_producer(int mode, int batches, int64_t rows);
int ct_stream_released(struct ArrowArrayStream* s);
int ct_array_released(struct ArrowArray* a);
int64_t ct_array_length(struct ArrowArray* a);
int64_t ct_array_n_children(struct ArrowArray* a);
const char* ct_schema_format(struct ArrowSchema* s);
int ct_schema_released(struct ArrowSchema* s);
int64_t ct_schema_n_children(struct ArrowSchema* s);
const char* ct_schema_child_name(struct ArrowSchema* s, int64_t i);
const char* ct_schema_child_format(struct ArrowSchema* s, int64_t i);
struct ArrowSchema* ct_new_schema(int null_format);
#endif
