#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzzhost.h"

struct ct_fz_map {
  void* base;
  size_t len;
};

struct ct_fz_batch {
  struct ct_fz_host* host;
  int64_t index;
};

struct ct_fz_host {
  struct ct_fz_map* maps;
  size_t n_maps, cap_maps;
  int64_t n_batches, next;
  struct ArrowArray** batches;
  struct ct_fz_batch* tags;
  int64_t* released;
  int64_t stream_releases, schema_calls;
  int schema_taken;
  struct ArrowSchema schema;
  struct ArrowArrayStream stream;
};

static size_t page_size(void) {
  static size_t ps;
  if (ps == 0) ps = (size_t)sysconf(_SC_PAGESIZE);
  return ps;
}

/* size bytes between two PROT_NONE pages. The data is placed against the
 * trailing guard (8-byte aligned, or exactly at the end) or at the start,
 * right after the leading guard. A zero-size buffer points into a guard
 * page, so any read of it faults. */
void* ct_fz_alloc(struct ct_fz_host* h, size_t size, int placement) {
  size_t ps = page_size();
  size_t data_pages = (size + ps - 1) / ps;
  size_t len = (data_pages + 2) * ps;
  unsigned char* base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) abort();
  if (mprotect(base, ps, PROT_NONE) != 0 || mprotect(base + (data_pages + 1) * ps, ps, PROT_NONE) != 0) abort();
  if (h->n_maps == h->cap_maps) {
    h->cap_maps = h->cap_maps ? 2 * h->cap_maps : 64;
    h->maps = realloc(h->maps, h->cap_maps * sizeof *h->maps);
    if (h->maps == NULL) abort();
  }
  h->maps[h->n_maps].base = base;
  h->maps[h->n_maps].len = len;
  h->n_maps++;
  unsigned char* end = base + (data_pages + 1) * ps;
  switch (placement) {
    case CT_FZ_START:
      return base + ps;
    case CT_FZ_END_EXACT:
      return end - size;
    default:
      return end - ((size + 7) & ~(size_t)7);
  }
}

static void child_release(struct ArrowArray* a) { a->release = NULL; }

/* Called on the consumer's copy of a top-level array (the consumer moves
 * the struct); private_data says which batch it was. */
static void batch_release(struct ArrowArray* a) {
  struct ct_fz_batch* tag = (struct ct_fz_batch*)a->private_data;
  tag->host->released[tag->index]++;
  a->release = NULL;
}

struct ArrowArray* ct_fz_node(struct ct_fz_host* h, int64_t length, int64_t null_count, int64_t offset,
                              int64_t n_buffers, int nil_buffers, int64_t n_children, int nil_children,
                              int released) {
  struct ArrowArray* a = ct_fz_alloc(h, sizeof *a, CT_FZ_END_EXACT);
  memset(a, 0, sizeof *a);
  a->length = length;
  a->null_count = null_count;
  a->offset = offset;
  a->n_buffers = n_buffers;
  a->n_children = n_children;
  if (n_buffers > 0 && !nil_buffers) a->buffers = ct_fz_alloc(h, (size_t)n_buffers * sizeof(void*), CT_FZ_END_EXACT);
  if (n_children > 0 && !nil_children)
    a->children = ct_fz_alloc(h, (size_t)n_children * sizeof(struct ArrowArray*), CT_FZ_END_EXACT);
  a->release = released ? NULL : child_release;
  return a;
}

void ct_fz_set_buffer(struct ArrowArray* a, int64_t i, void* p) {
  if (a->buffers) a->buffers[i] = p;
}

void ct_fz_set_child(struct ArrowArray* a, int64_t i, struct ArrowArray* c) {
  if (a->children) a->children[i] = c;
}

void ct_fz_set_dictionary(struct ArrowArray* a, struct ArrowArray* d) { a->dictionary = d; }

void ct_fz_set_batch(struct ct_fz_host* h, int64_t i, struct ArrowArray* top) {
  h->tags[i].host = h;
  h->tags[i].index = i;
  if (top->release != NULL) {
    top->release = batch_release;
    top->private_data = &h->tags[i];
  }
  h->batches[i] = top;
}

static int fz_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out) {
  struct ct_fz_host* h = (struct ct_fz_host*)s->private_data;
  h->schema_calls++;
  if (h->schema_taken) return EINVAL; /* one schema per stream is enough for the importer */
  *out = h->schema;
  h->schema.release = NULL;
  h->schema_taken = 1;
  return 0;
}

static int fz_get_next(struct ArrowArrayStream* s, struct ArrowArray* out) {
  struct ct_fz_host* h = (struct ct_fz_host*)s->private_data;
  if (h->next >= h->n_batches) {
    memset(out, 0, sizeof *out);
    return 0;
  }
  struct ArrowArray* b = h->batches[h->next++];
  *out = *b;
  b->release = NULL; /* moved to the consumer */
  return 0;
}

static const char* fz_last_error(struct ArrowArrayStream* s) {
  (void)s;
  return "no error";
}

static void fz_stream_release(struct ArrowArrayStream* s) {
  struct ct_fz_host* h = (struct ct_fz_host*)s->private_data;
  h->stream_releases++;
  if (h->schema.release != NULL) h->schema.release(&h->schema);
  s->release = NULL;
}

struct ct_fz_host* ct_fz_new(int64_t n_batches) {
  struct ct_fz_host* h = calloc(1, sizeof *h);
  h->n_batches = n_batches;
  h->batches = calloc((size_t)n_batches + 1, sizeof *h->batches);
  h->tags = calloc((size_t)n_batches + 1, sizeof *h->tags);
  h->released = calloc((size_t)n_batches + 1, sizeof *h->released);
  h->stream.get_schema = fz_get_schema;
  h->stream.get_next = fz_get_next;
  h->stream.get_last_error = fz_last_error;
  h->stream.release = fz_stream_release;
  h->stream.private_data = h;
  return h;
}

struct ArrowSchema* ct_fz_schema(struct ct_fz_host* h) { return &h->schema; }
struct ArrowArrayStream* ct_fz_stream(struct ct_fz_host* h) { return &h->stream; }
int64_t ct_fz_delivered(struct ct_fz_host* h) { return h->next; }
int64_t ct_fz_released(struct ct_fz_host* h, int64_t i) { return h->released[i]; }
int64_t ct_fz_stream_releases(struct ct_fz_host* h) { return h->stream_releases; }
int64_t ct_fz_schema_calls(struct ct_fz_host* h) { return h->schema_calls; }

/* Unmaps everything: whatever the library still held of the host's memory
 * faults from here on. */
void ct_fz_free(struct ct_fz_host* h) {
  if (h->schema.release != NULL) h->schema.release(&h->schema);
  for (size_t i = 0; i < h->n_maps; i++) munmap(h->maps[i].base, h->maps[i].len);
  free(h->maps);
  free(h->batches);
  free(h->tags);
  free(h->released);
  free(h);
}
