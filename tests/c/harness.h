/* Test harness for the C host programs in tests/c: a tiny CHECK macro, a
 * hand-written Arrow producer (arrays built by hand, moved out through a C
 * stream) and a consumer that collects a stream's batches and reads values.
 * Plain C11; only the Arrow C data interface from kalam.h. */
#ifndef KALAM_TEST_HARNESS_H
#define KALAM_TEST_HARNESS_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kalam.h"

/* ---- checks ------------------------------------------------------------------ */

static int h_checks;

#define CHECKF(cond, ...)                                                        \
  do {                                                                           \
    h_checks++;                                                                  \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
      fprintf(stderr, __VA_ARGS__);                                              \
      fputc('\n', stderr);                                                       \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)
#define CHECK(cond) CHECKF(cond, "%s", "")

/* Checks that a call returned `want`, that *err carries the same code and,
 * for a failure, a message containing `sub` (NULL: any); releases *err. */
static inline void h_expect(const char* file, int line, const char* expr, kalam_status want,
                     kalam_status got, kalam_error* err, const char* sub) {
  h_checks++;
  const char* msg = err->message ? err->message : "(no message)";
  if (got != want) {
    fprintf(stderr, "%s:%d: %s returned %d, want %d: %s\n", file, line, expr, got, want, msg);
    exit(1);
  }
  if (err->code != got) {
    fprintf(stderr, "%s:%d: %s: err.code %d, status %d\n", file, line, expr, err->code, got);
    exit(1);
  }
  if (got != KALAM_OK) {
    if (err->message == NULL || err->release == NULL) {
      fprintf(stderr, "%s:%d: %s: failed without a message\n", file, line, expr);
      exit(1);
    }
    if (sub != NULL && strstr(err->message, sub) == NULL) {
      fprintf(stderr, "%s:%d: %s: message %s does not contain %s\n", file, line, expr, msg, sub);
      exit(1);
    }
  } else if (err->message != NULL) {
    fprintf(stderr, "%s:%d: %s: success with a message %s\n", file, line, expr, msg);
    exit(1);
  }
  kalam_error_release(err);
  if (err->message != NULL || err->release != NULL) {
    fprintf(stderr, "%s:%d: kalam_error_release left the error filled\n", file, line);
    exit(1);
  }
}

/* EXPECT(status, substring, call): `call` must use &err, a kalam_error in scope. */
#define EXPECT(want, sub, call) h_expect(__FILE__, __LINE__, #call, (want), (call), &err, (sub))
#define OK(call) EXPECT(KALAM_OK, NULL, call)

#define RUN(fn)                          \
  do {                                   \
    fprintf(stderr, "RUN  %s\n", #fn);   \
    fn();                                \
    fprintf(stderr, "PASS %s\n", #fn);   \
    h_passed++;                          \
  } while (0)
static int h_passed;

/* Prints the per-program summary read by tests/c/run.sh. */
static inline int h_done(const char* prog) {
  printf("%s: %d passed, 0 failed (%d checks)\n", prog, h_passed, h_checks);
  return 0;
}

/* A fresh directory for a store: $KALAM_TEST_TMP (or /tmp)/kalam-XXXXXX. */
static inline char* h_tempdir(void) {
  const char* base = getenv("KALAM_TEST_TMP");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  char* path = (char*)malloc(strlen(base) + 32);
  sprintf(path, "%s/kalam-XXXXXX", base);
  CHECKF(mkdtemp(path) != NULL, "mkdtemp(%s): %s", path, strerror(errno));
  return path;
}

/* Memory filled with junk: outputs must not depend on the caller zeroing them. */
static void* h_junk(size_t n) {
  unsigned char* p = (unsigned char*)malloc(n);
  memset(p, 0xAB, n);
  return p;
}

/* ---- producing: schemas -------------------------------------------------------- */

#define H_MAX_COLS 16

typedef struct {
  int n;
  const char* formats[H_MAX_COLS];
  const char* names[H_MAX_COLS];
  int64_t flags[H_MAX_COLS];
} h_spec;

static inline void h_schema_release(struct ArrowSchema* s) {
  for (int64_t i = 0; i < s->n_children; i++) {
    struct ArrowSchema* c = s->children[i];
    if (c->release) c->release(c);
    free(c);
  }
  free(s->children);
  free((void*)s->format);
  free((void*)s->name);
  s->release = NULL;
}

static inline void h_schema_init(struct ArrowSchema* s, const char* format, const char* name, int64_t flags) {
  memset(s, 0, sizeof *s);
  s->format = strdup(format);
  s->name = strdup(name);
  s->flags = flags;
  s->release = h_schema_release;
}

/* Writes a struct schema with spec's columns to *out (owned by *out). */
static inline void h_schema_from_spec(const h_spec* spec, struct ArrowSchema* out) {
  h_schema_init(out, "+s", "", 0);
  out->n_children = spec->n;
  out->children = (struct ArrowSchema**)calloc((size_t)spec->n, sizeof(struct ArrowSchema*));
  for (int i = 0; i < spec->n; i++) {
    out->children[i] = (struct ArrowSchema*)malloc(sizeof(struct ArrowSchema));
    h_schema_init(out->children[i], spec->formats[i], spec->names[i], spec->flags[i]);
  }
}

/* ---- producing: arrays ---------------------------------------------------------- */

static inline void h_array_release(struct ArrowArray* a) {
  for (int64_t i = 0; i < a->n_buffers; i++) free((void*)a->buffers[i]);
  free(a->buffers);
  for (int64_t i = 0; i < a->n_children; i++) {
    struct ArrowArray* c = a->children[i];
    if (c->release) c->release(c);
    free(c);
  }
  free(a->children);
  a->release = NULL;
}

static inline struct ArrowArray* h_array_new(int64_t length, int64_t n_buffers) {
  struct ArrowArray* a = (struct ArrowArray*)calloc(1, sizeof *a);
  a->length = length;
  a->n_buffers = n_buffers;
  a->buffers = (const void**)calloc((size_t)(n_buffers ? n_buffers : 1), sizeof(void*));
  a->release = h_array_release;
  return a;
}

/* valid == NULL: no nulls. Otherwise valid[i] == 0 makes row i null. */
static inline void h_set_validity(struct ArrowArray* a, const int* valid) {
  if (valid == NULL) return;
  uint8_t* bits = (uint8_t*)calloc((size_t)(a->length / 8 + 1), 1);
  for (int64_t i = 0; i < a->length; i++) {
    if (valid[i]) bits[i / 8] |= (uint8_t)(1u << (i % 8));
    else a->null_count++;
  }
  a->buffers[0] = bits;
}

static inline struct ArrowArray* h_col_int64(const int64_t* v, const int* valid, int64_t n) {
  struct ArrowArray* a = h_array_new(n, 2);
  int64_t* vals = (int64_t*)malloc((size_t)(n ? n : 1) * sizeof(int64_t));
  memcpy(vals, v, (size_t)n * sizeof(int64_t));
  a->buffers[1] = vals;
  h_set_validity(a, valid);
  return a;
}

static inline struct ArrowArray* h_col_double(const double* v, const int* valid, int64_t n) {
  struct ArrowArray* a = h_array_new(n, 2);
  double* vals = (double*)malloc((size_t)(n ? n : 1) * sizeof(double));
  memcpy(vals, v, (size_t)n * sizeof(double));
  a->buffers[1] = vals;
  h_set_validity(a, valid);
  return a;
}

static inline struct ArrowArray* h_col_bool(const int* v, int64_t n) {
  struct ArrowArray* a = h_array_new(n, 2);
  uint8_t* bits = (uint8_t*)calloc((size_t)(n / 8 + 1), 1);
  for (int64_t i = 0; i < n; i++)
    if (v[i]) bits[i / 8] |= (uint8_t)(1u << (i % 8));
  a->buffers[1] = bits;
  return a;
}

/* NULL entries are nulls. */
static inline struct ArrowArray* h_col_utf8(const char* const* v, int64_t n) {
  struct ArrowArray* a = h_array_new(n, 3);
  int32_t* offs = (int32_t*)malloc((size_t)(n + 1) * sizeof(int32_t));
  size_t total = 0;
  for (int64_t i = 0; i < n; i++) total += v[i] ? strlen(v[i]) : 0;
  char* data = (char*)malloc(total ? total : 1);
  int* valid = (int*)malloc((size_t)(n ? n : 1) * sizeof(int));
  int any_null = 0;
  int32_t pos = 0;
  for (int64_t i = 0; i < n; i++) {
    offs[i] = pos;
    valid[i] = v[i] != NULL;
    if (!v[i]) any_null = 1;
    if (v[i]) {
      memcpy(data + pos, v[i], strlen(v[i]));
      pos += (int32_t)strlen(v[i]);
    }
  }
  offs[n] = pos;
  a->buffers[1] = offs;
  a->buffers[2] = data;
  h_set_validity(a, any_null ? valid : NULL);
  free(valid);
  return a;
}

/* A record batch (struct array) owning its columns. */
static inline struct ArrowArray* h_batch(int64_t rows, int ncols, struct ArrowArray** cols) {
  struct ArrowArray* b = h_array_new(rows, 1);
  b->n_children = ncols;
  b->children = (struct ArrowArray**)calloc((size_t)ncols, sizeof(struct ArrowArray*));
  for (int i = 0; i < ncols; i++) b->children[i] = cols[i];
  return b;
}

/* ---- producing: a stream over prepared batches ----------------------------------- */

typedef struct {
  h_spec spec;
  struct ArrowArray** batches;
  int n, pos;
  int fail_at; /* get_next call (1-based) that fails with EIO; 0: never */
  int calls;
  char err[128];
} h_producer;

static inline int h_prod_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out) {
  h_producer* p = (h_producer*)s->private_data;
  h_schema_from_spec(&p->spec, out);
  return 0;
}

static inline int h_prod_get_next(struct ArrowArrayStream* s, struct ArrowArray* out) {
  h_producer* p = (h_producer*)s->private_data;
  p->calls++;
  if (p->fail_at == p->calls) {
    snprintf(p->err, sizeof p->err, "producer failed on call %d", p->calls);
    return EIO;
  }
  if (p->pos >= p->n) {
    memset(out, 0, sizeof *out);
    return 0;
  }
  struct ArrowArray* b = p->batches[p->pos++];
  *out = *b; /* move */
  free(b);
  return 0;
}

static const char* h_prod_last_error(struct ArrowArrayStream* s) {
  return ((h_producer*)s->private_data)->err;
}

static int h_producers_live;

static inline void h_prod_release(struct ArrowArrayStream* s) {
  h_producer* p = (h_producer*)s->private_data;
  for (int i = p->pos; i < p->n; i++) {
    p->batches[i]->release(p->batches[i]);
    free(p->batches[i]);
  }
  free(p->batches);
  free(p);
  h_producers_live--;
  s->release = NULL;
}

/* Fills *out with a stream that moves out `batches` (taken over) in order. */
static inline void h_stream(struct ArrowArrayStream* out, const h_spec* spec, struct ArrowArray** batches, int n,
                     int fail_at) {
  h_producer* p = (h_producer*)calloc(1, sizeof *p);
  p->spec = *spec;
  p->batches = (struct ArrowArray**)calloc((size_t)(n ? n : 1), sizeof(struct ArrowArray*));
  for (int i = 0; i < n; i++) p->batches[i] = batches[i];
  p->n = n;
  p->fail_at = fail_at;
  out->get_schema = h_prod_get_schema;
  out->get_next = h_prod_get_next;
  out->get_last_error = h_prod_last_error;
  out->release = h_prod_release;
  out->private_data = p;
  h_producers_live++;
}

/* ---- consuming ------------------------------------------------------------------- */

typedef struct {
  int ncols;
  char formats[H_MAX_COLS][64];
  char names[H_MAX_COLS][64];
  int nbatches;
  struct ArrowArray batches[256];
  int64_t rows;
} h_result;

/* Reads the schema and every batch; get_next must end with 0 and a released array. */
static inline void h_collect(struct ArrowArrayStream* s, h_result* r) {
  memset(r, 0, sizeof *r);
  struct ArrowSchema* sc = (struct ArrowSchema*)h_junk(sizeof *sc);
  int rc = s->get_schema(s, sc);
  CHECKF(rc == 0, "get_schema: %d %s", rc, s->get_last_error(s));
  CHECK(strcmp(sc->format, "+s") == 0);
  CHECK(sc->n_children <= H_MAX_COLS);
  r->ncols = (int)sc->n_children;
  for (int i = 0; i < r->ncols; i++) {
    snprintf(r->formats[i], sizeof r->formats[i], "%s", sc->children[i]->format);
    snprintf(r->names[i], sizeof r->names[i], "%s", sc->children[i]->name);
  }
  sc->release(sc);
  CHECK(sc->release == NULL);
  free(sc);
  for (;;) {
    CHECK(r->nbatches < 256);
    struct ArrowArray* a = &r->batches[r->nbatches];
    memset(a, 0xAB, sizeof *a);
    rc = s->get_next(s, a);
    CHECKF(rc == 0, "get_next: %d %s", rc, s->get_last_error(s));
    if (a->release == NULL) break;
    CHECKF(a->n_children == r->ncols, "batch has %" PRId64 " columns, schema %d", a->n_children, r->ncols);
    r->rows += a->length;
    r->nbatches++;
  }
  /* After the end, the end again. */
  struct ArrowArray again;
  memset(&again, 0xAB, sizeof again);
  CHECK(s->get_next(s, &again) == 0 && again.release == NULL);
}

static inline void h_result_free(h_result* r) {
  for (int i = 0; i < r->nbatches; i++) {
    r->batches[i].release(&r->batches[i]);
    CHECK(r->batches[i].release == NULL);
  }
  r->nbatches = 0;
}

static inline int h_col(const h_result* r, const char* name) {
  for (int i = 0; i < r->ncols; i++)
    if (strcmp(r->names[i], name) == 0) return i;
  CHECKF(0, "no column %s", name);
  return -1;
}

/* Locates global row `row`: the batch's column array and the index in it. */
static inline const struct ArrowArray* h_cell(const h_result* r, int col, int64_t row, int64_t* idx) {
  for (int b = 0; b < r->nbatches; b++) {
    const struct ArrowArray* t = &r->batches[b];
    if (row < t->length) {
      const struct ArrowArray* c = t->children[col];
      *idx = c->offset + t->offset + row;
      return c;
    }
    row -= t->length;
  }
  CHECKF(0, "row %" PRId64 " out of range", row);
  return NULL;
}

static inline bool h_is_null(const h_result* r, int col, int64_t row) {
  int64_t i;
  const struct ArrowArray* c = h_cell(r, col, row, &i);
  const uint8_t* v = (const uint8_t*)c->buffers[0];
  if (c->null_count == 0 || v == NULL) return false;
  return (v[i / 8] & (1u << (i % 8))) == 0;
}

static inline int64_t h_i64(const h_result* r, int col, int64_t row) {
  int64_t i;
  const struct ArrowArray* c = h_cell(r, col, row, &i);
  return ((const int64_t*)c->buffers[1])[i];
}

static inline uint64_t h_u64(const h_result* r, int col, int64_t row) {
  int64_t i;
  const struct ArrowArray* c = h_cell(r, col, row, &i);
  return ((const uint64_t*)c->buffers[1])[i];
}

static inline double h_f64(const h_result* r, int col, int64_t row) {
  int64_t i;
  const struct ArrowArray* c = h_cell(r, col, row, &i);
  return ((const double*)c->buffers[1])[i];
}

static inline bool h_bool(const h_result* r, int col, int64_t row) {
  int64_t i;
  const struct ArrowArray* c = h_cell(r, col, row, &i);
  return (((const uint8_t*)c->buffers[1])[i / 8] & (1u << (i % 8))) != 0;
}

/* utf8 or binary value copied into buf (NUL-terminated); returns its length. */
static inline int64_t h_str(const h_result* r, int col, int64_t row, char* buf, size_t cap) {
  int64_t i;
  const struct ArrowArray* c = h_cell(r, col, row, &i);
  const int32_t* offs = (const int32_t*)c->buffers[1];
  const char* data = (const char*)c->buffers[2];
  int64_t n = offs[i + 1] - offs[i];
  CHECK((size_t)n < cap);
  memcpy(buf, data + offs[i], (size_t)n);
  buf[n] = '\0';
  return n;
}

/* Row index whose utf8 column `col` equals `want`, or -1. */
static inline int64_t h_find_str(const h_result* r, int col, const char* want) {
  char buf[4096];
  for (int64_t row = 0; row < r->rows; row++) {
    if (h_is_null(r, col, row)) continue;
    h_str(r, col, row, buf, sizeof buf);
    if (strcmp(buf, want) == 0) return row;
  }
  return -1;
}

/* Checks a result's column names and formats, "name:format,name:format,...". */
static inline void h_expect_columns(const h_result* r, const char* want) {
  char got[2048] = "";
  for (int i = 0; i < r->ncols; i++) {
    char part[160];
    snprintf(part, sizeof part, "%s%s:%s", i ? "," : "", r->names[i], r->formats[i]);
    strncat(got, part, sizeof got - strlen(got) - 1);
  }
  CHECKF(strcmp(got, want) == 0, "columns\n  got  %s\n  want %s", got, want);
}

#endif
