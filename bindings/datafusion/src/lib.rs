//! kalam-datafusion: a DataFusion [`TableProvider`](datafusion_catalog::TableProvider)
//! over libkalam's C ABI (`include/kalam.h`), and (feature `python`) the
//! `kalam_datafusion` module that hands it to datafusion-python through the
//! datafusion-ffi capsule.
//!
//! ```no_run
//! # async fn demo() -> datafusion_common::Result<()> {
//! use std::sync::Arc;
//! use kalam_datafusion::{KalamDb, KalamTableProvider};
//! let db = KalamDb::open("build/libkalam.so", "/data/store", None)?;
//! let events = KalamTableProvider::try_new(Arc::clone(&db), "app.events")?;
//! // ctx.register_table("events", Arc::new(events))?;  (a datafusion SessionContext)
//! # Ok(()) }
//! ```
//!
//! libkalam is loaded at run time from a path the caller gives and never
//! unloaded: a process must hold only one copy of a Go shared library.

mod db;
mod exec;
pub mod ffi;
pub mod filter;
#[cfg(feature = "python")]
mod lean;
mod provider;
#[cfg(feature = "python")]
mod python;

pub use db::{KalamDb, ScanReader, ScanRequest};
pub use exec::KalamScanExec;
pub use ffi::{KalamError, KalamLib};
pub use provider::KalamTableProvider;

/// The DataFusion version this crate is built against; datafusion-python
/// must use the same major version for the FFI structs to match.
pub const DATAFUSION_VERSION: &str = "55.2.0";
