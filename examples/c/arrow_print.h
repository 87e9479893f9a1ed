/* Printing Arrow C data values of simple types, for the examples. */
#ifndef KALAM_EXAMPLE_ARROW_PRINT_H
#define KALAM_EXAMPLE_ARROW_PRINT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <kalam.h>

static int bit(const void* bits, int64_t i) { return (((const uint8_t*)bits)[i / 8] >> (i % 8)) & 1; }

/* Prints row `row` of column array `col` (whose struct parent has offset
 * `parent_offset`) of Arrow format `fmt`. */
static void print_value(FILE* out, const char* fmt, const struct ArrowArray* col, int64_t parent_offset,
                        int64_t row) {
  int64_t i = col->offset + parent_offset + row;
  if (col->null_count != 0 && col->buffers[0] != NULL && !bit(col->buffers[0], i)) {
    fputs("NULL", out);
    return;
  }
  const void* v = col->n_buffers > 1 ? col->buffers[1] : NULL;
  switch (fmt[0]) {
    case 'b': fputs(bit(v, i) ? "true" : "false", out); return;
    case 'c': fprintf(out, "%d", ((const int8_t*)v)[i]); return;
    case 'C': fprintf(out, "%u", ((const uint8_t*)v)[i]); return;
    case 's': fprintf(out, "%d", ((const int16_t*)v)[i]); return;
    case 'S': fprintf(out, "%u", ((const uint16_t*)v)[i]); return;
    case 'i': fprintf(out, "%" PRId32, ((const int32_t*)v)[i]); return;
    case 'I': fprintf(out, "%" PRIu32, ((const uint32_t*)v)[i]); return;
    case 'l': fprintf(out, "%" PRId64, ((const int64_t*)v)[i]); return;
    case 'L': fprintf(out, "%" PRIu64, ((const uint64_t*)v)[i]); return;
    case 'f': fprintf(out, "%g", ((const float*)v)[i]); return;
    case 'g': fprintf(out, "%g", ((const double*)v)[i]); return;
    case 'u':
    case 'z': {
      const int32_t* offs = (const int32_t*)v;
      const char* data = (const char*)col->buffers[2];
      if (fmt[0] == 'u') {
        fprintf(out, "%.*s", (int)(offs[i + 1] - offs[i]), data + offs[i]);
      } else {
        for (int32_t k = offs[i]; k < offs[i + 1]; k++) fprintf(out, "%02x", (unsigned char)data[k]);
      }
      return;
    }
    case 'U': {
      const int64_t* offs = (const int64_t*)v;
      fprintf(out, "%.*s", (int)(offs[i + 1] - offs[i]), (const char*)col->buffers[2] + offs[i]);
      return;
    }
    case 't':
      if (fmt[1] == 'd' && fmt[2] == 'D') {
        fprintf(out, "%" PRId32 "d", ((const int32_t*)v)[i]); /* days since the epoch */
        return;
      }
      if (fmt[1] == 's' || fmt[1] == 'd' || fmt[1] == 't' || fmt[1] == 'D') {
        /* timestamps, date64, time64, durations: the raw 64-bit value and its unit */
        if (fmt[1] == 't' && (fmt[2] == 's' || fmt[2] == 'm'))
          fprintf(out, "%" PRId32, ((const int32_t*)v)[i]);
        else
          fprintf(out, "%" PRId64, ((const int64_t*)v)[i]);
        return;
      }
      break;
  }
  fprintf(out, "<%s>", fmt);
}

/* Prints every batch of a stream as tab-separated rows under a header.
 * Returns the stream's errno (0 at a clean end); releases nothing. */
static int print_stream(FILE* out, struct ArrowArrayStream* s) {
  struct ArrowSchema schema;
  int rc = s->get_schema(s, &schema);
  if (rc != 0) return rc;
  for (int64_t c = 0; c < schema.n_children; c++)
    fprintf(out, "%s%s", c ? "\t" : "", schema.children[c]->name);
  fputc('\n', out);
  int64_t rows = 0;
  for (;;) {
    struct ArrowArray batch;
    rc = s->get_next(s, &batch);
    if (rc != 0) break;
    if (batch.release == NULL) break; /* end of stream */
    for (int64_t r = 0; r < batch.length; r++) {
      for (int64_t c = 0; c < batch.n_children; c++) {
        if (c) fputc('\t', out);
        print_value(out, schema.children[c]->format, batch.children[c], batch.offset, r);
      }
      fputc('\n', out);
    }
    rows += batch.length;
    batch.release(&batch);
  }
  schema.release(&schema);
  if (rc == 0) fprintf(out, "(%" PRId64 " rows)\n", rows);
  return rc;
}

#endif
