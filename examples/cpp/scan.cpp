// Creates a small table, appends rows through an Arrow C stream, flushes
// them into a Parquet segment and scans them back with a filter.
//
//   scan ROOT
//
// Build: c++ -std=c++17 scan.cpp $(pkg-config --cflags --libs kalam) -Wl,-rpath,"$(pkg-config --variable=libdir kalam)"
//   (the rpath lets the program find libkalam at run time; or set LD_LIBRARY_PATH)
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <kalam.hpp>  // installed by make install beside kalam.h

namespace {

// ---- a minimal Arrow producer: one batch of (id int64, sensor utf8, value float64)

struct Columns {
  std::vector<int64_t> id;
  std::vector<int32_t> sensor_offsets{0};
  std::string sensor_data;
  std::vector<double> value;
};

// Owns the buffers of one exported batch; freed by the batch's release.
struct BatchData {
  Columns cols;
  ArrowArray children[3];
  ArrowArray* child_ptrs[3];
  const void* id_buffers[2];
  const void* sensor_buffers[3];
  const void* value_buffers[2];
  const void* top_buffers[1] = {nullptr};
};

void release_child(ArrowArray* a) { a->release = nullptr; }

void release_batch(ArrowArray* a) {
  for (ArrowArray* c : static_cast<BatchData*>(a->private_data)->child_ptrs)
    if (c->release) c->release(c);
  delete static_cast<BatchData*>(a->private_data);
  a->release = nullptr;
}

ArrowArray column(int64_t length, int64_t n_buffers, const void** buffers) {
  ArrowArray a;
  std::memset(&a, 0, sizeof a);
  a.length = length;
  a.n_buffers = n_buffers;
  a.buffers = buffers;
  a.release = release_child;
  return a;
}

void export_batch(Columns cols, ArrowArray* out) {
  auto* d = new BatchData{std::move(cols), {}, {}, {}, {}, {}};
  int64_t n = static_cast<int64_t>(d->cols.id.size());
  d->id_buffers[0] = nullptr;
  d->id_buffers[1] = d->cols.id.data();
  d->sensor_buffers[0] = nullptr;
  d->sensor_buffers[1] = d->cols.sensor_offsets.data();
  d->sensor_buffers[2] = d->cols.sensor_data.data();
  d->value_buffers[0] = nullptr;
  d->value_buffers[1] = d->cols.value.data();
  d->children[0] = column(n, 2, d->id_buffers);
  d->children[1] = column(n, 3, d->sensor_buffers);
  d->children[2] = column(n, 2, d->value_buffers);
  for (int i = 0; i < 3; i++) d->child_ptrs[i] = &d->children[i];
  std::memset(out, 0, sizeof *out);
  out->length = n;
  out->n_buffers = 1;
  out->buffers = d->top_buffers;
  out->n_children = 3;
  out->children = d->child_ptrs;
  out->release = release_batch;
  out->private_data = d;
}

// Schema of the table: the struct and its three children, static strings.
struct SchemaData {
  ArrowSchema children[3];
  ArrowSchema* child_ptrs[3];
};

void release_child_schema(ArrowSchema* s) { s->release = nullptr; }

void release_schema(ArrowSchema* s) {
  for (ArrowSchema* c : static_cast<SchemaData*>(s->private_data)->child_ptrs)
    if (c->release) c->release(c);
  delete static_cast<SchemaData*>(s->private_data);
  s->release = nullptr;
}

void export_schema(ArrowSchema* out) {
  auto* d = new SchemaData;
  const char* formats[3] = {"l", "u", "g"};
  const char* names[3] = {"id", "sensor", "value"};
  for (int i = 0; i < 3; i++) {
    std::memset(&d->children[i], 0, sizeof(ArrowSchema));
    d->children[i].format = formats[i];
    d->children[i].name = names[i];
    d->children[i].flags = i == 0 ? 0 : ARROW_FLAG_NULLABLE;
    d->children[i].release = release_child_schema;
    d->child_ptrs[i] = &d->children[i];
  }
  std::memset(out, 0, sizeof *out);
  out->format = "+s";
  out->name = "";
  out->n_children = 3;
  out->children = d->child_ptrs;
  out->release = release_schema;
  out->private_data = d;
}

// A stream producing one batch, then the end.
struct OneBatch {
  Columns cols;
  bool sent = false;
};

void export_stream(Columns cols, ArrowArrayStream* out) {
  out->private_data = new OneBatch{std::move(cols)};
  out->get_schema = [](ArrowArrayStream*, ArrowSchema* s) {
    export_schema(s);
    return 0;
  };
  out->get_next = [](ArrowArrayStream* st, ArrowArray* a) {
    auto* p = static_cast<OneBatch*>(st->private_data);
    if (p->sent) {
      std::memset(a, 0, sizeof *a);
    } else {
      export_batch(std::move(p->cols), a);
      p->sent = true;
    }
    return 0;
  };
  out->get_last_error = [](ArrowArrayStream*) -> const char* { return nullptr; };
  out->release = [](ArrowArrayStream* st) {
    delete static_cast<OneBatch*>(st->private_data);
    st->release = nullptr;
  };
}

Columns readings() {
  Columns c;
  const char* sensors[] = {"north", "south", "east", "west", "north", "south"};
  const double values[] = {12.5, 21.0, 19.75, 30.25, 14.0, 25.5};
  for (int i = 0; i < 6; i++) {
    c.id.push_back(i + 1);
    c.sensor_data += sensors[i];
    c.sensor_offsets.push_back(static_cast<int32_t>(c.sensor_data.size()));
    c.value.push_back(values[i]);
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " ROOT\n";
    return 2;
  }
  try {
    kalam::Db db(argv[1]);
    try {
      db.create_namespace("demo");
      ArrowSchema schema;
      export_schema(&schema);
      db.create_table("demo.readings", &schema, R"({"primary_key": "id"})");
    } catch (const kalam::Error& e) {
      if (e.status() != KALAM_ALREADY_EXISTS) throw;
    }

    ArrowArrayStream in;
    export_stream(readings(), &in);
    std::cout << "appended " << db.append("demo.readings", &in) << " rows\n";
    std::string segment = db.flush("demo.readings");
    std::cout << "flushed segment " << (segment.empty() ? "(none)" : segment) << "\n";

    kalam::ScanOptions opts;
    opts.columns = {"sensor", "value", "id"};
    opts.filter = "value > 20";
    opts.sql = "examples/cpp/scan";
    kalam::Stream stream = db.scan("demo.readings", opts);
    for (const auto& [name, format] : stream.columns()) std::cout << name << ":" << format << "  ";
    std::cout << "\n";
    kalam::Batch batch;
    int64_t rows = 0;
    while (stream.next(batch)) {
      const ArrowArray& sensor = batch.column(0);
      const ArrowArray& value = batch.column(1);
      const ArrowArray& id = batch.column(2);
      for (int64_t r = 0; r < batch.rows(); r++) {
        int64_t i = sensor.offset + batch.offset() + r;
        auto offs = static_cast<const int32_t*>(sensor.buffers[1]);
        std::string s(static_cast<const char*>(sensor.buffers[2]) + offs[i], offs[i + 1] - offs[i]);
        double v = static_cast<const double*>(value.buffers[1])[value.offset + batch.offset() + r];
        int64_t k = static_cast<const int64_t*>(id.buffers[1])[id.offset + batch.offset() + r];
        std::printf("%-6s %6.2f  id=%" PRId64 "\n", s.c_str(), v, k);
      }
      rows += batch.rows();
    }
    std::cout << "(" << rows << " rows with value > 20)\n";

    // An error carries the library's status and message.
    try {
      kalam::ScanOptions bad;
      bad.filter = "no_such_column = 1";
      db.scan("demo.readings", bad);
    } catch (const kalam::Error& e) {
      std::cout << "expected error, status " << e.status() << ": " << e.what() << "\n";
    }
  } catch (const kalam::Error& e) {
    std::cerr << "error " << e.status() << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
