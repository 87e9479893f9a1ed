#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "_cgo_export.h"

/* ---- export side -------------------------------------------------------- */

/* The host may hand us uninitialised output structs. The Go runtime's write
 * barrier must never see junk that looks like a Go pointer, so every output
 * is zeroed here, in C, before Go touches it. */
/* A NULL out on a live stream still goes to Go, which records the misuse
 * as the stream's last error (get_last_error, kalam_stream_error) without
 * failing the stream. */
static int kx_export_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out) {
  if (out != NULL) memset(out, 0, sizeof *out);
  if (s == NULL || s->release == NULL) return EINVAL;
  return kxGoGetSchema(s, out);
}

static int kx_export_get_next(struct ArrowArrayStream* s, struct ArrowArray* out) {
  if (out != NULL) memset(out, 0, sizeof *out);
  if (s == NULL || s->release == NULL) return EINVAL;
  return kxGoGetNext(s, out);
}

static const char* kx_export_get_last_error(struct ArrowArrayStream* s) {
  if (s == NULL || s->release == NULL) return NULL;
  return kxGoGetLastError(s);
}

static void kx_export_release(struct ArrowArrayStream* s) {
  if (s == NULL || s->release == NULL) return;
  kxGoRelease(s);
  s->release = NULL;
  s->private_data = NULL;
}

void kx_export_init(struct ArrowArrayStream* s, uintptr_t handle) {
  memset(s, 0, sizeof *s);
  s->get_schema = kx_export_get_schema;
  s->get_next = kx_export_get_next;
  s->get_last_error = kx_export_get_last_error;
  s->release = kx_export_release;
  s->private_data = (void*)handle;
}

int kx_is_exported(const struct ArrowArrayStream* s) {
  return s != NULL && s->release == kx_export_release;
}

uintptr_t kx_export_handle(const struct ArrowArrayStream* s) { return (uintptr_t)s->private_data; }

void kx_zero_schema(struct ArrowSchema* s) {
  if (s != NULL) memset(s, 0, sizeof *s);
}
void kx_release_schema(struct ArrowSchema* s) {
  if (s->release) s->release(s);
}

void kx_mark_array_released(struct ArrowArray* a) {
  if (a != NULL) a->release = NULL;
}

/* ---- import side: streams ----------------------------------------------- */

/* Moves the host's stream into library-owned memory and marks the host's
 * struct released, per the "consumed" contract of kalam_append/kalam_delete. */
struct ArrowArrayStream* kx_stream_take(struct ArrowArrayStream* src) {
  struct ArrowArrayStream* s = (struct ArrowArrayStream*)malloc(sizeof *s);
  if (s == NULL) return NULL;
  memcpy(s, src, sizeof *s);
  src->release = NULL;
  return s;
}

int kx_stream_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out) {
  memset(out, 0, sizeof *out);
  if (s->get_schema == NULL) return EINVAL;
  return s->get_schema(s, out);
}

int kx_stream_get_next(struct ArrowArrayStream* s, struct ArrowArray* out) {
  memset(out, 0, sizeof *out);
  if (s->get_next == NULL) return EINVAL;
  return s->get_next(s, out);
}

const char* kx_stream_last_error(struct ArrowArrayStream* s) {
  if (s->get_last_error == NULL) return NULL;
  return s->get_last_error(s);
}

void kx_stream_release_free(struct ArrowArrayStream* s) {
  if (s == NULL) return;
  if (s->release != NULL) s->release(s);
  /* A producer whose release forgets to mark itself released leaks its own
   * memory; it must not make us call it twice. */
  s->release = NULL;
  free(s);
}

/* ---- import side: schemas ----------------------------------------------- */

/* Deep copy of a host schema into structs whose release callbacks are ours.
 * cdata releases children one by one while importing; a copy makes that safe
 * whatever the host's release does, and lets the host's schema be released
 * exactly once, right away. */

#define KX_MAX_DEPTH 64
#define KX_MAX_CHILDREN (1 << 16)
#define KX_MAX_STRING (1 << 20)
#define KX_MAX_METADATA (1 << 26)

static void kx_copied_schema_release(struct ArrowSchema* s) {
  if (s == NULL || s->release == NULL) return;
  free((void*)s->format);
  free((void*)s->name);
  free((void*)s->metadata);
  if (s->children != NULL) {
    for (int64_t i = 0; i < s->n_children; i++) {
      struct ArrowSchema* c = s->children[i];
      if (c == NULL) continue;
      if (c->release != NULL) c->release(c);
      free(c);
    }
    free(s->children);
  }
  if (s->dictionary != NULL) {
    if (s->dictionary->release != NULL) s->dictionary->release(s->dictionary);
    free(s->dictionary);
  }
  s->release = NULL;
}

static void kx_errf(char* err, size_t errlen, const char* fmt, ...) {
  if (err == NULL || errlen == 0 || err[0] != '\0') return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static char* kx_strdup_bounded(const char* s, size_t* len_out) {
  size_t n = strnlen(s, KX_MAX_STRING + 1);
  if (n > KX_MAX_STRING) return NULL;
  char* d = (char*)malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  if (len_out) *len_out = n;
  return d;
}

/* Metadata is int32 n, then n times (int32 len, key bytes, int32 len, value bytes). */
static int kx_metadata_size(const char* md, size_t* size_out) {
  int32_t n;
  size_t pos = 0;
  memcpy(&n, md, 4);
  pos += 4;
  if (n < 0 || n > KX_MAX_CHILDREN) return -1;
  for (int32_t i = 0; i < 2 * n; i++) {
    int32_t len;
    memcpy(&len, md + pos, 4);
    pos += 4;
    if (len < 0 || len > KX_MAX_STRING) return -1;
    pos += (size_t)len;
    if (pos > KX_MAX_METADATA) return -1;
  }
  *size_out = pos;
  return 0;
}

static int kx_schema_copy_rec(const struct ArrowSchema* src, struct ArrowSchema* dst, int depth,
                              const char* path, char* err, size_t errlen) {
  memset(dst, 0, sizeof *dst);
  dst->release = kx_copied_schema_release;
  if (depth > KX_MAX_DEPTH) {
    kx_errf(err, errlen, "%s: nesting deeper than %d levels", path, KX_MAX_DEPTH);
    return -1;
  }
  if (src->release == NULL) {
    kx_errf(err, errlen, "%s: schema is released", path);
    return -1;
  }
  if (src->format == NULL) {
    kx_errf(err, errlen, "%s: format is NULL", path);
    return -1;
  }
  dst->format = kx_strdup_bounded(src->format, NULL);
  if (dst->format == NULL) {
    kx_errf(err, errlen, "%s: format string is too long or memory is exhausted", path);
    return -1;
  }
  if (src->name != NULL) {
    dst->name = kx_strdup_bounded(src->name, NULL);
    if (dst->name == NULL) {
      kx_errf(err, errlen, "%s: name is too long or memory is exhausted", path);
      return -1;
    }
  }
  if (src->metadata != NULL) {
    size_t mdsize;
    if (kx_metadata_size(src->metadata, &mdsize) != 0) {
      kx_errf(err, errlen, "%s: malformed metadata", path);
      return -1;
    }
    char* md = (char*)malloc(mdsize);
    if (md == NULL) {
      kx_errf(err, errlen, "%s: out of memory", path);
      return -1;
    }
    memcpy(md, src->metadata, mdsize);
    dst->metadata = md;
  }
  dst->flags = src->flags;
  if (src->n_children < 0 || src->n_children > KX_MAX_CHILDREN) {
    kx_errf(err, errlen, "%s: invalid n_children %lld", path, (long long)src->n_children);
    return -1;
  }
  if (src->n_children > 0) {
    if (src->children == NULL) {
      kx_errf(err, errlen, "%s: children is NULL with n_children %lld", path,
              (long long)src->n_children);
      return -1;
    }
    dst->children = (struct ArrowSchema**)calloc((size_t)src->n_children, sizeof(struct ArrowSchema*));
    if (dst->children == NULL) {
      kx_errf(err, errlen, "%s: out of memory", path);
      return -1;
    }
    dst->n_children = src->n_children;
    for (int64_t i = 0; i < src->n_children; i++) {
      char child_path[512];
      const struct ArrowSchema* c = src->children[i];
      const char* cname = (c != NULL && c->name != NULL) ? c->name : "";
      if (depth == 0)
        snprintf(child_path, sizeof child_path, "field %lld \"%.128s\"", (long long)i, cname);
      else
        snprintf(child_path, sizeof child_path, "%.300s > child %lld \"%.128s\"", path, (long long)i, cname);
      if (c == NULL) {
        kx_errf(err, errlen, "%s: child schema is NULL", child_path);
        return -1;
      }
      dst->children[i] = (struct ArrowSchema*)malloc(sizeof(struct ArrowSchema));
      if (dst->children[i] == NULL) {
        kx_errf(err, errlen, "%s: out of memory", child_path);
        return -1;
      }
      if (kx_schema_copy_rec(c, dst->children[i], depth + 1, child_path, err, errlen) != 0) return -1;
    }
  }
  if (src->dictionary != NULL) {
    char dict_path[512];
    snprintf(dict_path, sizeof dict_path, "%.300s > dictionary", path);
    dst->dictionary = (struct ArrowSchema*)malloc(sizeof(struct ArrowSchema));
    if (dst->dictionary == NULL) {
      kx_errf(err, errlen, "%s: out of memory", dict_path);
      return -1;
    }
    if (kx_schema_copy_rec(src->dictionary, dst->dictionary, depth + 1, dict_path, err, errlen) != 0)
      return -1;
  }
  return 0;
}

struct ArrowSchema* kx_schema_copy(const struct ArrowSchema* src, char* err, size_t errlen) {
  if (errlen > 0) err[0] = '\0';
  struct ArrowSchema* dst = (struct ArrowSchema*)malloc(sizeof *dst);
  if (dst == NULL) {
    kx_errf(err, errlen, "out of memory");
    return NULL;
  }
  if (kx_schema_copy_rec(src, dst, 0, "schema", err, errlen) != 0) {
    kx_copied_schema_release(dst);
    free(dst);
    return NULL;
  }
  return dst;
}

void kx_schema_release_host(struct ArrowSchema* s) {
  if (s == NULL) return;
  if (s->release != NULL) s->release(s);
  s->release = NULL;
}

void kx_schema_release_free(struct ArrowSchema* s) {
  if (s == NULL) return;
  if (s->release != NULL) s->release(s);
  free(s);
}

/* ---- import side: arrays ------------------------------------------------ */

struct ArrowArray* kx_array_new(void) {
  return (struct ArrowArray*)calloc(1, sizeof(struct ArrowArray));
}

static void kx_wrapped_array_release(struct ArrowArray* a) {
  if (a == NULL || a->release == NULL) return;
  struct ArrowArray* orig = (struct ArrowArray*)a->private_data;
  if (orig != NULL) {
    if (orig->release != NULL) orig->release(orig);
    free(orig);
  }
  a->release = NULL;
  a->private_data = NULL;
}

/* cdata asserts (abort()) when a release callback does not mark its struct
 * released. The host's array is moved into a holder and cdata gets a copy
 * whose release is ours and always completes. Children stay the host's: the
 * importer never releases them on their own. */
struct ArrowArray* kx_array_wrap(struct ArrowArray* host) {
  struct ArrowArray* orig = (struct ArrowArray*)malloc(sizeof *orig);
  struct ArrowArray* w = (struct ArrowArray*)calloc(1, sizeof *w);
  if (orig == NULL || w == NULL) {
    free(orig);
    free(w);
    return NULL;
  }
  memcpy(orig, host, sizeof *orig);
  host->release = NULL;
  memcpy(w, orig, sizeof *w);
  w->release = kx_wrapped_array_release;
  w->private_data = orig;
  return w;
}

void kx_array_release_free(struct ArrowArray* a) {
  if (a == NULL) return;
  if (a->release != NULL) a->release(a);
  a->release = NULL;
  free(a);
}

const char* kx_child_format(struct ArrowSchema* s, int64_t i) {
  return (i >= 0 && i < s->n_children) ? s->children[i]->format : "";
}
