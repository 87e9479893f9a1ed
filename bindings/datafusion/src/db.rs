//! [`KalamDb`]: a `kalam_db*` plus the library it came from, and the
//! cancellable reader of a libkalam Arrow stream.

use std::ffi::{CString, c_char, c_void};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, RecordBatch, RecordBatchOptions, RecordBatchReader, StructArray};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi};
use arrow::ffi_stream::FFI_ArrowArrayStream;

use crate::ffi::{KResult, KalamError, KalamLib, RawDb, RawScanOptions, cstring, status};

/// What a scan asks libkalam for (`kalam_scan_options`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanRequest {
    /// Columns by name, in output order; `None`: every user column.
    /// `Some(vec![])` asks for row counts only (zero-column batches).
    pub columns: Option<Vec<String>>,
    /// A predicate of libkalam's filter language (DESIGN §4.1).
    pub filter: Option<String>,
    pub limit: Option<u64>,
    /// Rows per batch; `None`: the library's default (65 536).
    pub batch_rows: Option<u64>,
}

/// C strings and the pointer array a `RawScanOptions` points into; must
/// outlive every call that reads the options.
struct RawScanParts {
    columns: Vec<CString>,
    column_ptrs: Vec<*const c_char>,
    filter: Option<CString>,
    limit: i64,
    batch_rows: i64,
    all_columns: bool,
}

impl RawScanParts {
    fn new(req: &ScanRequest) -> KResult<Self> {
        let columns = match &req.columns {
            Some(cols) => cols
                .iter()
                .map(|c| cstring("scan column", c))
                .collect::<KResult<Vec<_>>>()?,
            None => Vec::new(),
        };
        let column_ptrs = columns.iter().map(|c| c.as_ptr()).collect();
        let filter = req
            .filter
            .as_deref()
            .map(|f| cstring("scan filter", f))
            .transpose()?;
        let limit = match req.limit {
            None => -1,
            Some(n) => i64::try_from(n)
                .map_err(|_| KalamError::local("scan", format!("limit {n} is too large")))?,
        };
        let batch_rows = match req.batch_rows {
            None => 0,
            Some(0) => return Err(KalamError::local("scan", "batch_rows must be at least 1")),
            Some(n) => i64::try_from(n)
                .map_err(|_| KalamError::local("scan", format!("batch_rows {n} is too large")))?,
        };
        Ok(RawScanParts {
            columns,
            column_ptrs,
            filter,
            limit,
            batch_rows,
            all_columns: req.columns.is_none(),
        })
    }

    fn options(&self) -> RawScanOptions {
        RawScanOptions {
            struct_size: std::mem::size_of::<RawScanOptions>() as u32,
            columns: if self.all_columns || self.column_ptrs.is_empty() {
                ptr::null()
            } else {
                self.column_ptrs.as_ptr()
            },
            n_columns: if self.all_columns {
                -1
            } else {
                self.columns.len() as i64
            },
            filter: self.filter.as_ref().map_or(ptr::null(), |f| f.as_ptr()),
            limit: self.limit,
            batch_rows: self.batch_rows,
            as_of_version: 0,
            sql: ptr::null(),
        }
    }
}

/// An open libkalam store handle.
///
/// Either owned ([`KalamDb::open`]: closed by [`KalamDb::close`] or on drop)
/// or borrowed ([`KalamDb::from_raw`]: the handle of a store another owner
/// opened, e.g. Python's `Database._handle()`, which that owner closes). A
/// closed handle gives `KALAM_CLOSED` errors, never a crash: libkalam keeps
/// every handle block valid for the life of the process.
#[derive(Debug)]
pub struct KalamDb {
    lib: Arc<KalamLib>,
    ptr: AtomicPtr<c_void>,
    owned: bool,
    label: String,
}

// SAFETY: every kalam_db function may be called concurrently from any thread
// (include/kalam.h, THREAD SAFETY).
unsafe impl Send for KalamDb {}
unsafe impl Sync for KalamDb {}

impl KalamDb {
    /// Opens (or creates) the store at `root` with the libkalam at
    /// `library`. `options_json`: `kalam_open`'s options object, or None.
    pub fn open(
        library: impl AsRef<Path>,
        root: impl AsRef<Path>,
        options_json: Option<&str>,
    ) -> KResult<Arc<Self>> {
        let lib = KalamLib::load(library)?;
        let root_s = root.as_ref().to_string_lossy().into_owned();
        let c_root = cstring("kalam_open root", &root_s)?;
        let c_opts = options_json
            .map(|o| cstring("kalam_open options", o))
            .transpose()?;
        let mut out: RawDb = ptr::null_mut();
        lib.call(
            || format!("kalam_open({root_s})"),
            |err| unsafe {
                (lib.open)(
                    c_root.as_ptr(),
                    c_opts.as_ref().map_or(ptr::null(), |o| o.as_ptr()),
                    &mut out,
                    err,
                )
            },
        )?;
        if out.is_null() {
            return Err(KalamError::new(
                status::INTERNAL,
                format!("kalam_open({root_s})"),
                "returned KALAM_OK and a NULL handle",
            ));
        }
        Ok(Arc::new(KalamDb {
            lib,
            ptr: AtomicPtr::new(out),
            owned: true,
            label: root_s,
        }))
    }

    /// Wraps a handle opened by someone else (borrowed: never closed here).
    ///
    /// # Safety
    /// `handle` must be 0 (refused) or a `kalam_db*` returned by `kalam_open`
    /// of this same library file; closed handles are fine. A wild pointer
    /// cannot be checked and may crash the process.
    pub unsafe fn from_raw(library: impl AsRef<Path>, handle: usize) -> KResult<Arc<Self>> {
        if handle == 0 {
            return Err(KalamError::local(
                "db handle",
                "the kalam_db handle is NULL",
            ));
        }
        let lib = KalamLib::load(library)?;
        Ok(Arc::new(KalamDb {
            lib,
            ptr: AtomicPtr::new(handle as *mut c_void),
            owned: false,
            label: format!("kalam_db@{handle:#x}"),
        }))
    }

    /// The library this handle belongs to.
    pub fn library(&self) -> &Arc<KalamLib> {
        &self.lib
    }

    /// True after [`KalamDb::close`].
    pub fn is_closed(&self) -> bool {
        self.ptr.load(Ordering::Acquire).is_null()
    }

    pub(crate) fn raw(&self, context: &str) -> KResult<RawDb> {
        let p = self.ptr.load(Ordering::Acquire);
        if p.is_null() {
            return Err(KalamError::new(
                status::CLOSED,
                context,
                format!("database {} is closed", self.label),
            ));
        }
        Ok(p)
    }

    /// Closes an owned handle (idempotent); a borrowed one is only detached
    /// from this object, its owner closes it.
    pub fn close(&self) -> KResult<()> {
        let p = self.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() || !self.owned {
            return Ok(());
        }
        self.lib.call(
            || format!("kalam_close({})", self.label),
            |err| unsafe { (self.lib.close)(p, err) },
        )
    }

    /// Creates namespace `ns`.
    pub fn create_namespace(&self, ns: &str) -> KResult<()> {
        let ctx = format!("kalam_create_namespace({ns})");
        let db = self.raw(&ctx)?;
        let c_ns = cstring(&ctx, ns)?;
        self.lib.call(
            || ctx.clone(),
            |err| unsafe { (self.lib.create_namespace)(db, c_ns.as_ptr(), err) },
        )
    }

    /// Creates a shared table. `options`: kalam options such as
    /// `("primary_key", "id")`.
    pub fn create_table(
        &self,
        table: &str,
        schema: &Schema,
        options: &[(&str, &str)],
    ) -> KResult<()> {
        let ctx = format!("kalam_create_table({table})");
        let db = self.raw(&ctx)?;
        let c_table = cstring(&ctx, table)?;
        let mut ffi_schema = FFI_ArrowSchema::try_from(schema)
            .map_err(|e| KalamError::local(&ctx, format!("cannot export the schema: {e}")))?;
        let opts: serde_json::Map<String, serde_json::Value> = options
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        let c_opts = cstring(&ctx, &serde_json::Value::Object(opts).to_string())?;
        // The schema is consumed: the library marks it released either way.
        self.lib.call(
            || ctx.clone(),
            |err| unsafe {
                (self.lib.create_table)(
                    db,
                    c_table.as_ptr(),
                    ptr::null(),
                    &mut ffi_schema,
                    c_opts.as_ptr(),
                    err,
                )
            },
        )
    }

    /// The table's user-column schema.
    pub fn table_schema(&self, table: &str) -> KResult<Schema> {
        let ctx = format!("kalam_table_schema({table})");
        let db = self.raw(&ctx)?;
        let c_table = cstring(&ctx, table)?;
        let mut out = FFI_ArrowSchema::empty();
        self.lib.call(
            || ctx.clone(),
            |err| unsafe { (self.lib.table_schema)(db, c_table.as_ptr(), &mut out, err) },
        )?;
        Schema::try_from(&out).map_err(|e| {
            KalamError::new(
                status::INTERNAL,
                &ctx,
                format!("cannot import the schema: {e}"),
            )
        })
    }

    /// Upserts every batch of `batches` (columns matched by name); returns
    /// the rows written.
    pub fn append(&self, table: &str, batches: Box<dyn RecordBatchReader + Send>) -> KResult<i64> {
        self.write_stream("kalam_append", table, batches, self.lib.append)
    }

    /// Deletes the rows whose keys are in `keys` (key columns only); returns
    /// how many keys had a live row.
    pub fn delete(&self, table: &str, keys: Box<dyn RecordBatchReader + Send>) -> KResult<i64> {
        self.write_stream("kalam_delete", table, keys, self.lib.delete)
    }

    fn write_stream(
        &self,
        name: &str,
        table: &str,
        input: Box<dyn RecordBatchReader + Send>,
        f: unsafe extern "C" fn(
            RawDb,
            *const c_char,
            *mut FFI_ArrowArrayStream,
            *mut i64,
            *mut crate::ffi::RawError,
        ) -> i32,
    ) -> KResult<i64> {
        let ctx = format!("{name}({table})");
        let db = self.raw(&ctx)?;
        let c_table = cstring(&ctx, table)?;
        let mut stream = FFI_ArrowArrayStream::new(input);
        let mut rows = 0i64;
        // The stream is consumed: the library marks it released either way.
        self.lib.call(
            || ctx.clone(),
            |err| unsafe { f(db, c_table.as_ptr(), &mut stream, &mut rows, err) },
        )?;
        Ok(rows)
    }

    /// Writes the hot rows into a new segment; its id, or None when there
    /// was nothing to flush.
    pub fn flush(&self, table: &str) -> KResult<Option<String>> {
        let ctx = format!("kalam_flush({table})");
        let db = self.raw(&ctx)?;
        let c_table = cstring(&ctx, table)?;
        let mut id: *mut c_char = ptr::null_mut();
        self.lib.call(
            || ctx.clone(),
            |err| unsafe { (self.lib.flush)(db, c_table.as_ptr(), &mut id, err) },
        )?;
        Ok(self.lib.take_string(id))
    }

    /// The table's current manifest.json text.
    pub fn manifest_json(&self, table: &str) -> KResult<String> {
        let ctx = format!("kalam_manifest_json({table})");
        let db = self.raw(&ctx)?;
        let c_table = cstring(&ctx, table)?;
        let mut out: *mut c_char = ptr::null_mut();
        self.lib.call(
            || ctx.clone(),
            |err| unsafe { (self.lib.manifest_json)(db, c_table.as_ptr(), &mut out, err) },
        )?;
        self.lib.take_string(out).ok_or_else(|| {
            KalamError::new(status::INTERNAL, &ctx, "returned KALAM_OK and no manifest")
        })
    }

    /// `kalam_explain`: the scan's plan as JSON text, without running it.
    pub fn explain(&self, table: &str, req: &ScanRequest) -> KResult<String> {
        let ctx = format!("kalam_explain({table})");
        let db = self.raw(&ctx)?;
        let c_table = cstring(&ctx, table)?;
        let parts = RawScanParts::new(req)?;
        let opts = parts.options();
        let mut out: *mut c_char = ptr::null_mut();
        self.lib.call(
            || ctx.clone(),
            |err| unsafe { (self.lib.explain)(db, c_table.as_ptr(), &opts, &mut out, err) },
        )?;
        self.lib
            .take_string(out)
            .ok_or_else(|| KalamError::new(status::INTERNAL, &ctx, "returned KALAM_OK and no plan"))
    }

    /// Starts a scan of `table` (a user or system table). The scan runs when
    /// the returned reader is read; dropping it releases the stream.
    pub fn scan(&self, table: &str, req: &ScanRequest) -> KResult<ScanReader> {
        let stream = SharedStream::new();
        self.start_scan(table, req, &stream)?;
        ScanReader::new(Arc::clone(&self.lib), stream, format!("scan of {table}"))
    }

    /// Runs `kalam_scan` into `stream` unless it was cancelled first.
    pub(crate) fn start_scan(
        &self,
        table: &str,
        req: &ScanRequest,
        stream: &Arc<SharedStream>,
    ) -> KResult<()> {
        let ctx = format!("kalam_scan({table})");
        let db = self.raw(&ctx)?;
        let c_table = cstring(&ctx, table)?;
        let parts = RawScanParts::new(req)?;
        let opts = parts.options();
        stream.fill(&ctx, |raw| {
            self.lib.call(
                || ctx.clone(),
                |err| unsafe { (self.lib.scan)(db, c_table.as_ptr(), &opts, raw, err) },
            )
        })
    }

    /// Every qualified user table (`namespace.table`), from system.tables.
    pub fn tables(&self) -> KResult<Vec<String>> {
        let ctx = "kalam_system_table(system.tables)";
        let db = self.raw(ctx)?;
        let name = cstring(ctx, "system.tables")?;
        let stream = SharedStream::new();
        stream.fill(ctx, |raw| {
            self.lib.call(
                || ctx.to_string(),
                |err| unsafe { (self.lib.system_table)(db, name.as_ptr(), raw, err) },
            )
        })?;
        let mut reader = ScanReader::new(Arc::clone(&self.lib), stream, ctx.to_string())?;
        let mut out = Vec::new();
        while let Some(batch) = reader.next_batch()? {
            let col = |n: &str| -> KResult<arrow::array::StringArray> {
                let c = batch.column_by_name(n).ok_or_else(|| {
                    KalamError::new(
                        status::INTERNAL,
                        ctx,
                        format!("system.tables has no column {n}"),
                    )
                })?;
                c.as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .cloned()
                    .ok_or_else(|| {
                        KalamError::new(
                            status::INTERNAL,
                            ctx,
                            format!("system.tables column {n} is not utf8"),
                        )
                    })
            };
            let (ns, name, ty) = (col("namespace")?, col("table_name")?, col("type")?);
            for i in 0..batch.num_rows() {
                if ty.value(i) != "system" {
                    out.push(format!("{}.{}", ns.value(i), name.value(i)));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

impl Drop for KalamDb {
    fn drop(&mut self) {
        // An abandoned owned handle would keep the store's RocksDB lock.
        let _ = self.close();
    }
}

/// A libkalam `ArrowArrayStream` shared by the thread reading it and the
/// one that may cancel it. The C stream interface of libkalam allows
/// `release` from any thread, also during a `get_next` (which it cancels);
/// `released` makes sure it runs once, and the struct itself stays
/// allocated until both sides have let go of it.
pub(crate) struct SharedStream {
    raw: *mut FFI_ArrowArrayStream,
    released: Mutex<bool>,
    cancelled: AtomicBool,
}

// SAFETY: see the type's comment; `raw` is only freed in Drop.
unsafe impl Send for SharedStream {}
unsafe impl Sync for SharedStream {}

impl SharedStream {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(SharedStream {
            raw: Box::into_raw(Box::new(FFI_ArrowArrayStream::empty())),
            released: Mutex::new(false),
            cancelled: AtomicBool::new(false),
        })
    }

    /// Runs `start` (which fills the stream) unless the stream was already
    /// cancelled; under the lock, so that a cancel sees it filled or not.
    fn fill(
        &self,
        ctx: &str,
        start: impl FnOnce(*mut FFI_ArrowArrayStream) -> KResult<()>,
    ) -> KResult<()> {
        let released = self.released.lock().unwrap_or_else(|p| p.into_inner());
        if *released {
            return Err(KalamError::new(
                status::CANCELLED,
                ctx,
                "the scan was cancelled before it started",
            ));
        }
        start(self.raw)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Cancels: releases the stream now (a pending get_next on another
    /// thread fails with ECANCELED) and makes later reads fail.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.release();
    }

    pub(crate) fn release(&self) {
        let mut released = self.released.lock().unwrap_or_else(|p| p.into_inner());
        if *released {
            return;
        }
        *released = true;
        // SAFETY: raw is live until Drop; release may be called from any
        // thread per kalam.h, and is skipped when the library never filled
        // the stream (release is NULL then).
        unsafe {
            if let Some(rel) = (*self.raw).release {
                rel(self.raw);
            }
        }
    }
}

impl Drop for SharedStream {
    fn drop(&mut self) {
        self.release();
        // SAFETY: allocated by Box in new(); nobody else holds it now. Its
        // release is NULL, so FFI_ArrowArrayStream's Drop does nothing more.
        drop(unsafe { Box::from_raw(self.raw) });
    }
}

/// Reads a libkalam stream batch by batch (blocking). Dropping it releases
/// the stream.
pub struct ScanReader {
    lib: Arc<KalamLib>,
    stream: Arc<SharedStream>,
    ffi_schema: FFI_ArrowSchema,
    schema: SchemaRef,
    context: String,
    done: bool,
}

// SAFETY: the FFI_ArrowSchema is owned and only read; the stream is shared
// as documented on SharedStream.
unsafe impl Send for ScanReader {}

impl ScanReader {
    pub(crate) fn new(
        lib: Arc<KalamLib>,
        stream: Arc<SharedStream>,
        context: String,
    ) -> KResult<Self> {
        let mut ffi_schema = FFI_ArrowSchema::empty();
        if stream.is_cancelled() {
            return Err(KalamError::new(
                status::CANCELLED,
                &context,
                "the scan was cancelled",
            ));
        }
        // SAFETY: the stream was filled by the library (start_scan/fill).
        let rc = unsafe {
            match (*stream.raw).get_schema {
                Some(get_schema) => get_schema(stream.raw, &mut ffi_schema),
                None => crate::ffi::libc_errno::EINVAL,
            }
        };
        if rc != 0 {
            return Err(unsafe { lib.stream_failure(stream.raw, rc, &context) });
        }
        let schema = Schema::try_from(&ffi_schema).map_err(|e| {
            KalamError::new(
                status::INTERNAL,
                &context,
                format!("cannot import the stream schema: {e}"),
            )
        })?;
        Ok(ScanReader {
            lib,
            stream,
            ffi_schema,
            schema: Arc::new(schema),
            context,
            done: false,
        })
    }

    /// The stream's schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The next batch, or None at the end. Blocks while libkalam reads.
    pub fn next_batch(&mut self) -> KResult<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let cancelled =
            || KalamError::new(status::CANCELLED, &self.context, "the scan was cancelled");
        if self.stream.is_cancelled() {
            return Err(cancelled());
        }
        let mut array = FFI_ArrowArray::empty();
        let raw = self.stream.raw;
        // SAFETY: raw is live (the Arc); get_next is never modified after
        // the library filled the stream, and is safe on a stream another
        // thread released meanwhile (it returns EINVAL).
        let rc = unsafe {
            match (*raw).get_next {
                Some(get_next) => get_next(raw, &mut array),
                None => crate::ffi::libc_errno::EINVAL,
            }
        };
        if self.stream.is_cancelled() {
            // `array` (if the library filled it) is released by its Drop.
            return Err(cancelled());
        }
        if rc != 0 {
            self.done = true;
            return Err(unsafe { self.lib.stream_failure(raw, rc, &self.context) });
        }
        if array.is_released() {
            self.done = true;
            return Ok(None);
        }
        // SAFETY: a batch of this stream, described by its struct schema.
        let data = unsafe { from_ffi(array, &self.ffi_schema) }.map_err(|e| {
            KalamError::new(
                status::INTERNAL,
                &self.context,
                format!("cannot import a batch: {e}"),
            )
        })?;
        let rows = data.len();
        let struct_array = StructArray::from(data);
        let (_, columns, _) = struct_array.into_parts();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema(), columns, &options)
            .map(Some)
            .map_err(|e| {
                KalamError::new(
                    status::INTERNAL,
                    &self.context,
                    format!("bad batch from the library: {e}"),
                )
            })
    }
}

impl Iterator for ScanReader {
    type Item = KResult<RecordBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

impl Drop for ScanReader {
    fn drop(&mut self) {
        self.stream.release();
    }
}
