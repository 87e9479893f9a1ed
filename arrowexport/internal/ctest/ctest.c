#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ctest.h"

/* ---- consumer helpers ----------------------------------------------------- */

void* ct_junk_alloc(size_t n) {
  void* p = malloc(n);
  memset(p, 0xAB, n); /* outputs must be zeroed by the library, not by us */
  return p;
}

int ct_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out) { return s->get_schema(s, out); }
int ct_get_next(struct ArrowArrayStream* s, struct ArrowArray* out) { return s->get_next(s, out); }
const char* ct_last_error(struct ArrowArrayStream* s) { return s->get_last_error(s); }
void ct_release_stream(struct ArrowArrayStream* s) {
  if (s->release) s->release(s);
}
void ct_release_array(struct ArrowArray* a) {
  if (a->release) a->release(a);
}
void ct_release_schema(struct ArrowSchema* s) {
  if (s->release) s->release(s);
}

static void* release_thread(void* arg) {
  ct_release_stream((struct ArrowArrayStream*)arg);
  return NULL;
}

int ct_release_stream_in_thread(struct ArrowArrayStream* s) {
  pthread_t t;
  if (pthread_create(&t, NULL, release_thread, s) != 0) return -1;
  return pthread_join(t, NULL);
}

struct ct_next_job {
  pthread_t thread;
  struct ArrowArrayStream* stream;
  struct ArrowArray out;
  int rc;
};

static void* next_thread(void* arg) {
  struct ct_next_job* j = (struct ct_next_job*)arg;
  j->rc = j->stream->get_next(j->stream, &j->out);
  return NULL;
}

struct ct_next_job* ct_start_get_next(struct ArrowArrayStream* s) {
  struct ct_next_job* j = (struct ct_next_job*)calloc(1, sizeof *j);
  j->stream = s;
  memset(&j->out, 0xAB, sizeof j->out);
  if (pthread_create(&j->thread, NULL, next_thread, j) != 0) {
    free(j);
    return NULL;
  }
  return j;
}

int ct_join_get_next(struct ct_next_job* j, int* released) {
  pthread_join(j->thread, NULL);
  int rc = j->rc;
  *released = j->out.release == NULL;
  if (rc == 0 && j->out.release) j->out.release(&j->out);
  free(j);
  return rc;
}

/* ---- host producer ------------------------------------------------------- */

static atomic_long live;

long ct_live(void) { return atomic_load(&live); }

struct batch {
  struct ArrowArray top, id, name;
  struct ArrowArray* kids[2];
  const void* top_bufs[1];
  const void* id_bufs[2];
  const void* name_bufs[3];
  int64_t ids[8];
  int32_t offs[9];
  char data[64];
};

static void child_release(struct ArrowArray* a) { a->release = NULL; }

static void batch_release(struct ArrowArray* a) {
  free(a->private_data);
  atomic_fetch_sub(&live, 1);
  a->release = NULL;
}

static void batch_release_buggy(struct ArrowArray* a) {
  /* frees but forgets release = NULL: a real, if broken, producer */
  free(a->private_data);
  atomic_fetch_sub(&live, 1);
}

struct producer {
  int mode;
  int calls;
  int batches;
  int64_t rows;
  char err[64];
};

static void schema_release(struct ArrowSchema* s) {
  for (int64_t i = 0; i < s->n_children; i++) {
    if (s->children[i]->release) s->children[i]->release(s->children[i]);
  }
  free(s->private_data);
  atomic_fetch_sub(&live, 1);
  s->release = NULL;
}

static void child_schema_release(struct ArrowSchema* s) { s->release = NULL; }

struct schema_block {
  struct ArrowSchema id, name;
  struct ArrowSchema* kids[2];
};

static int prod_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out) {
  struct producer* p = (struct producer*)s->private_data;
  if (p->mode == CT_SCHEMA_ERROR) {
    strcpy(p->err, "schema unavailable");
    return EIO;
  }
  struct schema_block* b = (struct schema_block*)calloc(1, sizeof *b);
  atomic_fetch_add(&live, 1);
  b->id.format = p->mode == CT_BAD_FORMAT ? "q" : "l";
  b->id.name = "id";
  b->id.release = child_schema_release;
  b->name.format = "u";
  b->name.name = "name";
  b->name.flags = 2; /* nullable */
  b->name.release = child_schema_release;
  b->kids[0] = &b->id;
  b->kids[1] = &b->name;
  memset(out, 0, sizeof *out);
  out->format = "+s";
  out->name = "";
  out->n_children = 2;
  out->children = b->kids;
  out->release = schema_release;
  out->private_data = b;
  return 0;
}

static int prod_get_next(struct ArrowArrayStream* s, struct ArrowArray* out) {
  struct producer* p = (struct producer*)s->private_data;
  p->calls++;
  if (p->mode == CT_NEXT_ERROR && p->calls == 2) {
    strcpy(p->err, "disk on fire");
    return EIO;
  }
  if (p->calls > p->batches) {
    out->release = NULL;
    return 0;
  }
  int64_t n = p->rows;
  struct batch* b = (struct batch*)calloc(1, sizeof *b);
  atomic_fetch_add(&live, 1);
  int base = (p->calls - 1) * (int)n;
  size_t pos = 0;
  for (int64_t i = 0; i < n; i++) {
    b->ids[i] = base + i;
    b->offs[i] = (int32_t)pos;
    b->data[pos++] = 'r';
    b->data[pos++] = (char)('a' + (base + i) % 26);
  }
  b->offs[n] = (int32_t)pos;

  b->id.length = n;
  b->id.n_buffers = 2;
  b->id_bufs[0] = NULL;
  b->id_bufs[1] = b->ids;
  b->id.buffers = b->id_bufs;
  b->id.release = child_release;

  b->name.length = n;
  b->name.n_buffers = 3;
  b->name_bufs[0] = NULL;
  b->name_bufs[1] = b->offs;
  b->name_bufs[2] = b->data;
  b->name.buffers = b->name_bufs;
  b->name.release = child_release;

  b->kids[0] = &b->id;
  b->kids[1] = &b->name;
  b->top.length = n;
  b->top.n_buffers = 1;
  b->top_bufs[0] = NULL;
  b->top.buffers = b->top_bufs;
  b->top.n_children = 2;
  b->top.children = b->kids;
  b->top.release = p->mode == CT_BUGGY_RELEASE ? batch_release_buggy : batch_release;
  b->top.private_data = b;

  switch (p->mode) {
    case CT_NEGATIVE_LENGTH: b->id.length = -5; break;
    case CT_WRONG_BUFFERS: b->id.n_buffers = 1; break;
    case CT_NULL_VALUES: b->id_bufs[1] = NULL; break;
    case CT_NULLS_NO_BITMAP: b->id.null_count = 1; break;
    case CT_BAD_OFFSETS: b->offs[1] = 7; b->offs[2] = 1; break;
    case CT_TOO_FEW_COLUMNS: b->top.n_children = 1; break;
    case CT_NULL_CHILD: b->kids[1] = NULL; break;
    case CT_SHORT_COLUMN: b->name.length = n - 1; break;
  }
  *out = b->top;
  return 0;
}

static const char* prod_last_error(struct ArrowArrayStream* s) {
  struct producer* p = (struct producer*)s->private_data;
  return p->err;
}

static void prod_release(struct ArrowArrayStream* s) {
  free(s->private_data);
  atomic_fetch_sub(&live, 1);
  s->release = NULL;
}

struct ArrowArrayStream* ct_new_producer(int mode, int batches, int64_t rows) {
  if (rows > 8) rows = 8;
  struct ArrowArrayStream* s = (struct ArrowArrayStream*)calloc(1, sizeof *s);
  struct producer* p = (struct producer*)calloc(1, sizeof *p);
  atomic_fetch_add(&live, 1);
  p->mode = mode;
  p->batches = batches;
  p->rows = rows;
  s->get_schema = prod_get_schema;
  s->get_next = prod_get_next;
  s->get_last_error = prod_last_error;
  s->release = prod_release;
  s->private_data = p;
  return s;
}

int ct_stream_released(struct ArrowArrayStream* s) { return s->release == NULL; }
int ct_array_released(struct ArrowArray* a) { return a->release == NULL; }
int64_t ct_array_length(struct ArrowArray* a) { return a->length; }
int64_t ct_array_n_children(struct ArrowArray* a) { return a->n_children; }
const char* ct_schema_format(struct ArrowSchema* s) { return s->format; }
int ct_schema_released(struct ArrowSchema* s) { return s->release == NULL; }
int64_t ct_schema_n_children(struct ArrowSchema* s) { return s->n_children; }
const char* ct_schema_child_name(struct ArrowSchema* s, int64_t i) { return s->children[i]->name; }
const char* ct_schema_child_format(struct ArrowSchema* s, int64_t i) { return s->children[i]->format; }

/* A hand-built schema for ImportSchema: struct<a: int32, b: list<utf8>>,
 * optionally with a child whose format is NULL. */
static void simple_schema_release(struct ArrowSchema* s) {
  free(s->private_data);
  atomic_fetch_sub(&live, 1);
  s->release = NULL;
}

struct simple_schema {
  struct ArrowSchema a, b, item;
  struct ArrowSchema* kids[2];
  struct ArrowSchema* bkids[1];
};

struct ArrowSchema* ct_new_schema(int null_format) {
  struct ArrowSchema* s = (struct ArrowSchema*)calloc(1, sizeof *s);
  struct simple_schema* b = (struct simple_schema*)calloc(1, sizeof *b);
  atomic_fetch_add(&live, 1);
  b->a.format = "i";
  b->a.name = "a";
  b->a.release = child_schema_release;
  b->b.format = null_format ? NULL : "+l";
  b->b.name = "b";
  b->b.flags = 2;
  b->b.n_children = 1;
  b->bkids[0] = &b->item;
  b->b.children = b->bkids;
  b->b.release = child_schema_release;
  b->item.format = "u";
  b->item.name = "item";
  b->item.flags = 2;
  b->item.release = child_schema_release;
  b->kids[0] = &b->a;
  b->kids[1] = &b->b;
  s->format = "+s";
  s->name = "";
  s->n_children = 2;
  s->children = b->kids;
  s->release = simple_schema_release;
  s->private_data = b;
  return s;
}
