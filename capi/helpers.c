#include <stdlib.h>
#include <string.h>

#include "helpers.h"

kalam_db* kc_db_new(uint64_t id) {
  kalam_db* db = (kalam_db*)malloc(sizeof *db);
  if (db == NULL) return NULL;
  db->magic = KC_MAGIC_OPEN;
  db->id = id;
  return db;
}

static void kc_error_release_impl(kalam_error* e) {
  if (e == NULL) return;
  free(e->message);
  memset(e, 0, sizeof *e);
}

void kc_error_zero(kalam_error* e) { memset(e, 0, sizeof *e); }

/* Takes ownership of message (malloc'ed). */
void kc_error_set(kalam_error* e, kalam_status code, char* message) {
  e->code = code;
  e->message = message;
  e->release = kc_error_release_impl;
  e->private_data = NULL;
}

/* Only our own release is ever called: a struct that was never filled by
 * libkalam may hold junk, and calling a junk pointer would crash. */
void kc_error_release_checked(kalam_error* e) {
  if (e->release == kc_error_release_impl) {
    e->release(e);
    return;
  }
  memset(e, 0, sizeof *e);
}

#define KC_STR2(x) #x
#define KC_STR(x) KC_STR2(x)

const char* kc_version_string(void) {
  static const char v[] =
      KC_STR(KALAM_VERSION_MAJOR) "." KC_STR(KALAM_VERSION_MINOR) "." KC_STR(KALAM_VERSION_PATCH);
  return v;
}

void kc_stream_zero(struct ArrowArrayStream* s) { memset(s, 0, sizeof *s); }
void kc_schema_zero(struct ArrowSchema* s) { memset(s, 0, sizeof *s); }

void kc_release_host_schema(struct ArrowSchema* s) {
  if (s->release != NULL) s->release(s);
  s->release = NULL;
}

void kc_release_host_stream(struct ArrowArrayStream* s) {
  if (s->release != NULL) s->release(s);
  s->release = NULL;
}
