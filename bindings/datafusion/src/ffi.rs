//! libkalam's C ABI (`include/kalam.h`), loaded at run time.
//!
//! The library embeds a Go runtime: a process may hold only one copy of it,
//! and it must never be unloaded. So this crate never links libkalam; it
//! `dlopen`s the path its caller gives (Python passes the path the `kalam`
//! package already loaded, and `dlopen` of a loaded file returns the handle
//! the process already has) and leaks the handle.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_void};
use std::fmt;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use datafusion_common::DataFusionError;

/// `KALAM_ABI_VERSION` of the header this crate was written against.
pub const ABI_VERSION: i32 = 1;

/// `kalam_status` values (`include/kalam.h`).
pub mod status {
    pub const OK: i32 = 0;
    pub const INVALID_ARGUMENT: i32 = 1;
    pub const NOT_FOUND: i32 = 2;
    pub const ALREADY_EXISTS: i32 = 3;
    pub const IO: i32 = 4;
    pub const CORRUPTION: i32 = 5;
    pub const CANCELLED: i32 = 6;
    pub const CLOSED: i32 = 7;
    pub const READ_ONLY: i32 = 8;
    pub const BUSY: i32 = 9;
    pub const INTERNAL: i32 = 10;
}

/// The symbolic name of a `kalam_status`.
pub fn status_name(code: i32) -> &'static str {
    match code {
        status::OK => "KALAM_OK",
        status::INVALID_ARGUMENT => "KALAM_INVALID_ARGUMENT",
        status::NOT_FOUND => "KALAM_NOT_FOUND",
        status::ALREADY_EXISTS => "KALAM_ALREADY_EXISTS",
        status::IO => "KALAM_IO",
        status::CORRUPTION => "KALAM_CORRUPTION",
        status::CANCELLED => "KALAM_CANCELLED",
        status::CLOSED => "KALAM_CLOSED",
        status::READ_ONLY => "KALAM_READ_ONLY",
        status::BUSY => "KALAM_BUSY",
        status::INTERNAL => "KALAM_INTERNAL",
        _ => "KALAM_UNKNOWN_STATUS",
    }
}

/// `kalam_error`.
#[repr(C)]
pub struct RawError {
    pub code: i32,
    pub message: *mut c_char,
    pub release: Option<unsafe extern "C" fn(*mut RawError)>,
    pub private_data: *mut c_void,
}

impl RawError {
    fn zeroed() -> Self {
        RawError {
            code: 0,
            message: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

/// `kalam_scan_options` (the first version of the struct; `struct_size`
/// tells the library which fields we know).
#[repr(C)]
pub struct RawScanOptions {
    pub struct_size: u32,
    pub columns: *const *const c_char,
    pub n_columns: i64,
    pub filter: *const c_char,
    pub limit: i64,
    pub batch_rows: i64,
    pub as_of_version: i64,
    pub sql: *const c_char,
}

/// An opaque `kalam_db*`.
pub type RawDb = *mut c_void;

type Db = RawDb;
type Str = *const c_char;
type Err = *mut RawError;

/// The libkalam functions this crate calls. Plain function pointers: the
/// library is never unloaded, so they stay valid for the life of the process.
pub struct KalamLib {
    path: PathBuf,
    pub(crate) error_release: unsafe extern "C" fn(Err),
    pub(crate) free: unsafe extern "C" fn(*mut c_void),
    pub(crate) version_string: unsafe extern "C" fn() -> Str,
    pub(crate) open: unsafe extern "C" fn(Str, Str, *mut Db, Err) -> i32,
    pub(crate) close: unsafe extern "C" fn(Db, Err) -> i32,
    pub(crate) create_namespace: unsafe extern "C" fn(Db, Str, Err) -> i32,
    pub(crate) create_table:
        unsafe extern "C" fn(Db, Str, Str, *mut FFI_ArrowSchema, Str, Err) -> i32,
    pub(crate) table_schema: unsafe extern "C" fn(Db, Str, *mut FFI_ArrowSchema, Err) -> i32,
    pub(crate) append:
        unsafe extern "C" fn(Db, Str, *mut FFI_ArrowArrayStream, *mut i64, Err) -> i32,
    pub(crate) delete:
        unsafe extern "C" fn(Db, Str, *mut FFI_ArrowArrayStream, *mut i64, Err) -> i32,
    pub(crate) flush: unsafe extern "C" fn(Db, Str, *mut *mut c_char, Err) -> i32,
    pub(crate) scan:
        unsafe extern "C" fn(Db, Str, *const RawScanOptions, *mut FFI_ArrowArrayStream, Err) -> i32,
    pub(crate) system_table: unsafe extern "C" fn(Db, Str, *mut FFI_ArrowArrayStream, Err) -> i32,
    pub(crate) explain:
        unsafe extern "C" fn(Db, Str, *const RawScanOptions, *mut *mut c_char, Err) -> i32,
    pub(crate) manifest_json: unsafe extern "C" fn(Db, Str, *mut *mut c_char, Err) -> i32,
    pub(crate) stream_error: unsafe extern "C" fn(*mut FFI_ArrowArrayStream, Err) -> i32,
}

impl fmt::Debug for KalamLib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KalamLib")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A failed libkalam call: its status and the library's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KalamError {
    /// The `kalam_status` (0 when the failure happened on this side).
    pub code: i32,
    /// What failed: the C function and its table or argument.
    pub context: String,
    /// The library's message, verbatim.
    pub message: String,
}

impl KalamError {
    pub(crate) fn new(code: i32, context: impl Into<String>, message: impl Into<String>) -> Self {
        KalamError {
            code,
            context: context.into(),
            message: message.into(),
        }
    }

    /// An error found on this side of the ABI (bad argument, closed handle).
    pub(crate) fn local(context: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(status::INVALID_ARGUMENT, context, message)
    }
}

impl fmt::Display for KalamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "libkalam {}: {} ({})",
            self.context,
            self.message,
            status_name(self.code)
        )
    }
}

impl std::error::Error for KalamError {}

impl From<KalamError> for DataFusionError {
    fn from(e: KalamError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

pub type KResult<T> = std::result::Result<T, KalamError>;

/// A NUL-terminated copy of `s`; a NUL inside is an error naming the string
/// (C would silently cut it there).
pub(crate) fn cstring(what: &str, s: &str) -> KResult<CString> {
    CString::new(s).map_err(|_| KalamError::local(what, format!("{s:?} contains a NUL character")))
}

/// Loaded libraries, by canonical path. Never emptied: a Go shared library
/// must not be unloaded.
fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<KalamLib>>> {
    static LIBS: OnceLock<Mutex<HashMap<PathBuf, Arc<KalamLib>>>> = OnceLock::new();
    LIBS.get_or_init(|| Mutex::new(HashMap::new()))
}

impl KalamLib {
    /// Loads (or returns the already loaded) libkalam at `path`, resolves
    /// every function this crate uses and checks the ABI version.
    pub fn load(path: impl AsRef<Path>) -> KResult<Arc<KalamLib>> {
        let given = path.as_ref();
        let ctx = format!("load {}", given.display());
        let canonical = given.canonicalize().map_err(|e| {
            KalamError::local(&ctx, format!("cannot resolve the library path: {e}"))
        })?;
        let mut libs = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lib) = libs.get(&canonical) {
            return Ok(Arc::clone(lib));
        }
        if let Some(other) = other_copy_loaded(&canonical) {
            return Err(KalamError::local(
                &ctx,
                format!(
                    "another copy of libkalam is already loaded in this process from {}; a process may load \
                     only one Go shared library, so pass that path (Python: kalam.library_path())",
                    other.display()
                ),
            ));
        }
        // SAFETY: loading runs the library's initialisers; libkalam's (the Go
        // runtime's) are safe to run once, and dlopen of a file the process
        // already loaded returns that copy without running them again.
        let lib = unsafe { libloading::Library::new(&canonical) }
            .map_err(|e| KalamError::local(&ctx, format!("dlopen failed: {e}")))?;
        // Never dlclose: the Go runtime cannot be unloaded.
        let lib = ManuallyDrop::new(lib);
        macro_rules! sym {
            ($name:literal) => {{
                // SAFETY: the type is the prototype in include/kalam.h.
                let s = unsafe { lib.get(concat!($name, "\0").as_bytes()) }.map_err(|e| {
                    KalamError::local(&ctx, format!("missing symbol {}: {e}", $name))
                })?;
                *s
            }};
        }
        let abi_version: unsafe extern "C" fn() -> i32 = sym!("kalam_abi_version");
        // SAFETY: no arguments; returns a constant.
        let abi = unsafe { abi_version() };
        if abi != ABI_VERSION {
            return Err(KalamError::local(
                &ctx,
                format!(
                    "the library implements kalam ABI {abi}; kalam-datafusion needs ABI {ABI_VERSION}"
                ),
            ));
        }
        let loaded = Arc::new(KalamLib {
            path: canonical.clone(),
            error_release: sym!("kalam_error_release"),
            free: sym!("kalam_free"),
            version_string: sym!("kalam_version_string"),
            open: sym!("kalam_open"),
            close: sym!("kalam_close"),
            create_namespace: sym!("kalam_create_namespace"),
            create_table: sym!("kalam_create_table"),
            table_schema: sym!("kalam_table_schema"),
            append: sym!("kalam_append"),
            delete: sym!("kalam_delete"),
            flush: sym!("kalam_flush"),
            scan: sym!("kalam_scan"),
            system_table: sym!("kalam_system_table"),
            explain: sym!("kalam_explain"),
            manifest_json: sym!("kalam_manifest_json"),
            stream_error: sym!("kalam_stream_error"),
        });
        libs.insert(canonical, Arc::clone(&loaded));
        Ok(loaded)
    }

    /// The canonical path the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `kalam_version_string()`, e.g. "0.1.0".
    pub fn version(&self) -> String {
        // SAFETY: static NUL-terminated storage per the header.
        unsafe {
            let p = (self.version_string)();
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }

    /// Runs one C call with a zeroed `kalam_error`, and turns a failure into
    /// a [`KalamError`] carrying the library's message. The error struct is
    /// always released.
    pub(crate) fn call(
        &self,
        context: impl FnOnce() -> String,
        f: impl FnOnce(Err) -> i32,
    ) -> KResult<()> {
        let mut err = RawError::zeroed();
        let rc = f(&mut err);
        let code = if err.code != 0 { err.code } else { rc };
        let message = if err.message.is_null() {
            String::new()
        } else {
            // SAFETY: NUL-terminated and owned by err until released below.
            unsafe { CStr::from_ptr(err.message) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: safe on zeroed, filled and released errors per the header.
        unsafe { (self.error_release)(&mut err) };
        if rc == status::OK {
            return Ok(());
        }
        let message = if message.is_empty() {
            format!("failed with status {rc}")
        } else {
            message
        };
        Err(KalamError::new(code, context(), message))
    }

    /// Takes ownership of a string the library returned (freed with kalam_free).
    pub(crate) fn take_string(&self, p: *mut c_char) -> Option<String> {
        if p.is_null() {
            return None;
        }
        // SAFETY: a NUL-terminated malloc'ed string from the library.
        let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        unsafe { (self.free)(p as *mut c_void) };
        Some(s)
    }

    /// The status and message of a stream's failed get_next/get_schema,
    /// through kalam_stream_error, falling back to get_last_error and the
    /// errno when the library has nothing richer.
    ///
    /// # Safety
    /// `stream` points to a live FFI_ArrowArrayStream exported by libkalam
    /// (released is fine: the library checks).
    pub(crate) unsafe fn stream_failure(
        &self,
        stream: *mut FFI_ArrowArrayStream,
        rc: i32,
        context: &str,
    ) -> KalamError {
        // A released stream (cancelled from another thread) has no rich
        // error left: kalam_stream_error would only report the release.
        if unsafe { (*stream).release.is_some() } {
            let mut err = RawError::zeroed();
            let st = unsafe { (self.stream_error)(stream, &mut err) };
            let code = if err.code != 0 { err.code } else { st };
            let rich = if err.message.is_null() {
                String::new()
            } else {
                unsafe { CStr::from_ptr(err.message) }
                    .to_string_lossy()
                    .into_owned()
            };
            unsafe { (self.error_release)(&mut err) };
            // ECANCELED is authoritative: a release racing with this call
            // makes kalam_stream_error describe the release instead.
            if st != status::OK
                && !(rc == libc_errno::ECANCELED && code != status::CANCELLED)
                && !rich.is_empty()
            {
                return KalamError::new(code, context, rich);
            }
        }
        let mut text = String::new();
        unsafe {
            if let (Some(gle), Some(_)) = ((*stream).get_last_error, (*stream).release) {
                let p = gle(stream);
                if !p.is_null() {
                    text = CStr::from_ptr(p).to_string_lossy().into_owned();
                }
            }
        }
        let code = match rc {
            libc_errno::ECANCELED => status::CANCELLED,
            libc_errno::EINVAL => status::INVALID_ARGUMENT,
            _ => status::IO,
        };
        if text.is_empty() {
            text = format!("stream failed with errno {rc}");
        }
        KalamError::new(code, context, text)
    }
}

/// A libkalam file mapped into this process that is not `canonical` (by
/// path nor by inode), if any. dlopen would load it as a second library,
/// and two Go runtimes in one process crash it; refusing is the only safe
/// answer. Linux only (/proc/self/maps); elsewhere nothing is checked.
fn other_copy_loaded(canonical: &Path) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let want = std::fs::metadata(canonical)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        for line in maps.lines() {
            // address perms offset dev inode path; the path may hold spaces.
            let Some(path) = line.splitn(6, char::is_whitespace).nth(5).map(str::trim) else {
                continue;
            };
            let path = path.strip_suffix(" (deleted)").unwrap_or(path);
            let file = Path::new(path);
            let is_kalam = file
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libkalam") && n.contains(".so"));
            if !is_kalam || file == canonical {
                continue;
            }
            let same_file =
                std::fs::metadata(file).ok().map(|m| (m.dev(), m.ino())) == want && want.is_some();
            if !same_file {
                return Some(file.to_path_buf());
            }
        }
        None
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = canonical;
        None
    }
}

/// The errno values of the C stream interface (Linux numbering, which is
/// what libkalam's cgo build returns on Linux).
pub(crate) mod libc_errno {
    pub const EINVAL: i32 = 22;
    pub const ECANCELED: i32 = 125;
}
