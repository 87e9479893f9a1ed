/* C half of the capi package: the handle block behind kalam_db*, error
 * filling, and the version string. Declarations only (capi.go has //export
 * functions and includes this). */
#ifndef KALAM_CAPI_HELPERS_H
#define KALAM_CAPI_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include "kalam.h"

/* cgo writes exported prototypes without const; these typedefs let the Go
 * signatures spell the header's const types, so the compiler checks every
 * export against kalam.h. */
typedef const char kalam_cchar;
typedef const kalam_scan_options kalam_cscan_options;
typedef const kalam_write_options kalam_cwrite_options;
typedef const char* const kalam_cstr;

/* sizeof the first kalam_scan_options (through `sql`): callers compiled
 * against it keep working (DESIGN §6, struct_size). */
#define KC_SCAN_OPTIONS_V1_SIZE (offsetof(kalam_scan_options, sql) + sizeof(const char*))

/* sizeof the first kalam_write_options. */
#define KC_WRITE_OPTIONS_V1_SIZE (offsetof(kalam_write_options, schema_mode) + sizeof(int32_t))

#define KC_MAGIC_OPEN 0x216264616d616c6bULL   /* "klamadb!" */
#define KC_MAGIC_CLOSED 0x2164656d616c6b00ULL

/* What a kalam_db* points to: malloc'ed, never freed (the host may still
 * hold the pointer after kalam_close). The Go side maps id to the engine. */
struct kalam_db {
  uint64_t magic;
  uint64_t id;
};

kalam_db* kc_db_new(uint64_t id);
void kc_error_zero(kalam_error* e);
void kc_error_set(kalam_error* e, kalam_status code, char* message);
void kc_error_release_checked(kalam_error* e);
const char* kc_version_string(void);
void kc_stream_zero(struct ArrowArrayStream* s);
void kc_schema_zero(struct ArrowSchema* s);
void kc_release_host_schema(struct ArrowSchema* s);
void kc_release_host_stream(struct ArrowArrayStream* s);

#endif
