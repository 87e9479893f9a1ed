//! The `kalam_datafusion` Python module (pyo3): a libkalam table as a
//! datafusion-python table provider, through the datafusion-ffi capsule.

use std::ptr::NonNull;
use std::sync::Arc;

use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::table_provider::FFI_TableProvider;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::ffi::KalamError;
use crate::{KalamDb, KalamTableProvider};

/// The `kalam` package's exception for a libkalam status (kalam.errors),
/// so that Python code catches the same classes as for `kalam` calls;
/// RuntimeError when the package is not importable.
fn py_err(py: Python<'_>, e: KalamError) -> PyErr {
    let text = e.to_string();
    let mapped = (|| -> PyResult<PyErr> {
        let make = py.import("kalam.errors")?.getattr("error_for_status")?;
        let exc = make.call1((e.code, text.clone()))?;
        Ok(PyErr::from_value(exc))
    })();
    mapped.unwrap_or_else(|_| PyRuntimeError::new_err(text))
}

/// The host session's logical extension codec. `session` is what
/// datafusion-python passes to `__datafusion_table_provider__`: a session
/// (which exports its codec) or the codec capsule itself.
fn logical_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    const ATTR: &str = "__datafusion_logical_extension_codec__";
    let obj = if session.hasattr(ATTR)? {
        session.getattr(ATTR)?.call0()?
    } else {
        session.clone()
    };
    let capsule = obj.cast::<PyCapsule>().map_err(|_| {
        PyValueError::new_err(format!(
            "expected a DataFusion session or a datafusion_logical_extension_codec capsule, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into())
        ))
    })?;
    let data: NonNull<FFI_LogicalExtensionCodec> = capsule
        .pointer_checked(Some(c"datafusion_logical_extension_codec"))?
        .cast();
    // SAFETY: the capsule's name guarantees its content (datafusion-ffi
    // protocol); the codec is cloned, the capsule keeps its own.
    Ok(unsafe { data.as_ref() }.clone())
}

/// A libkalam table for datafusion-python.
///
/// `library_path` must be the libkalam the process already loaded
/// (`kalam.library_path()`), `db_handle` an open `kalam_db*`
/// (`Database._handle()`; the Database keeps owning it), `table`
/// "namespace.table". Register it with `SessionContext.register_table`.
#[pyclass(name = "KalamTableProvider", module = "kalam_datafusion", frozen)]
struct PyKalamTableProvider {
    provider: Arc<KalamTableProvider>,
}

#[pymethods]
impl PyKalamTableProvider {
    #[new]
    fn new(py: Python<'_>, library_path: &str, db_handle: usize, table: &str) -> PyResult<Self> {
        let provider = py
            .detach(|| {
                // SAFETY: db_handle comes from kalam_open of this library
                // (the documented contract); 0 is refused, a closed handle
                // gives KALAM_CLOSED.
                let db = unsafe { KalamDb::from_raw(library_path, db_handle) }?;
                KalamTableProvider::try_new(db, table)
            })
            .map_err(|e| py_err(py, e))?;
        Ok(PyKalamTableProvider {
            provider: Arc::new(provider),
        })
    }

    /// The datafusion-ffi `FFI_TableProvider` capsule
    /// ("datafusion_table_provider"). `session`: the session (or its codec
    /// capsule) the table is registered with; datafusion-python ≥ 52
    /// always passes it. Without one, datafusion's global context is used.
    #[pyo3(signature = (session = None))]
    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let session = match session {
            Some(s) => s,
            None => py
                .import("datafusion")?
                .getattr("SessionContext")?
                .call_method0("global_ctx")?,
        };
        let codec = logical_codec(&session)?;
        // No tokio runtime: scans run on their own threads (see exec.rs).
        let ffi = FFI_TableProvider::new_with_ffi_codec(
            Arc::clone(&self.provider) as Arc<dyn datafusion_catalog::TableProvider>,
            true,
            None,
            codec,
        );
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider")
    }

    /// The table name.
    #[getter]
    fn table(&self) -> String {
        self.provider.table().to_string()
    }

    /// The canonical path of the libkalam this provider calls.
    #[getter]
    fn library_path(&self) -> String {
        self.provider.db().library().path().display().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "kalam_datafusion.KalamTableProvider({:?})",
            self.provider.table()
        )
    }
}

#[pymodule]
fn kalam_datafusion(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKalamTableProvider>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DATAFUSION_VERSION", crate::DATAFUSION_VERSION)?;
    Ok(())
}
