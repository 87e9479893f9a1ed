//! The `kalam_datafusion` Python module (pyo3): a libkalam table as a
//! datafusion-python table provider, through the datafusion-ffi capsule.

use std::sync::Arc;

use pyo3::exceptions::PyRuntimeError;
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
    /// ("datafusion_table_provider"). `session`, the session the table is
    /// registered with (datafusion-python ≥ 52 passes it), is accepted
    /// and not used.
    #[pyo3(signature = (session = None))]
    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The session is not needed: the provider's calls use a session and
        // a codec of this library (lean.rs), so that no call converts the
        // host's.
        let _ = session;
        let ffi = crate::lean::lean_provider(Arc::clone(&self.provider));
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

/// How many scans, pushdown checks and executions of this module's
/// providers took the calls that skip converting the host's session
/// (lean.rs), as a dict; for tests.
#[pyfunction]
fn lean_calls(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let (scans, checks, executes) = crate::lean::counts();
    let d = pyo3::types::PyDict::new(py);
    d.set_item("scans", scans)?;
    d.set_item("pushdown_checks", checks)?;
    d.set_item("executes", executes)?;
    Ok(d)
}

#[pymodule]
fn kalam_datafusion(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKalamTableProvider>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DATAFUSION_VERSION", crate::DATAFUSION_VERSION)?;
    m.add_function(wrap_pyfunction!(lean_calls, m)?)?;
    Ok(())
}
