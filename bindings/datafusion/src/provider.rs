//! [`KalamTableProvider`]: a libkalam table as a DataFusion table.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion_catalog::{Session, TableProvider};
use datafusion_common::stats::Precision;
use datafusion_common::{DataFusionError, Result, Statistics};
use datafusion_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion_physical_plan::ExecutionPlan;

use crate::db::{KalamDb, ScanRequest};
use crate::exec::KalamScanExec;
use crate::ffi::KResult;
use crate::filter;

/// One libkalam table (user or system) read through `kalam_scan`, with the
/// projection, the translatable filters and the limit pushed into libkalam.
#[derive(Debug)]
pub struct KalamTableProvider {
    db: Arc<KalamDb>,
    table: String,
    schema: SchemaRef,
}

impl KalamTableProvider {
    /// The provider of `table` ("namespace.table", "table" for namespace
    /// default, or "system.tables" and the like). Reads the schema now;
    /// an unknown table is a `KALAM_NOT_FOUND` error naming it.
    pub fn try_new(db: Arc<KalamDb>, table: &str) -> KResult<Self> {
        let schema = db.table_schema(table)?;
        Ok(KalamTableProvider {
            db,
            table: table.to_string(),
            schema: Arc::new(schema),
        })
    }

    /// The table name as given.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The database handle this provider reads through.
    pub fn db(&self) -> &Arc<KalamDb> {
        &self.db
    }

    /// The libkalam filter that `filters` translate to, as `scan` would
    /// send it (every filter must be one `supports_filters_pushdown`
    /// accepted).
    pub fn translate_filters(&self, filters: &[Expr]) -> Result<Option<String>> {
        filter::conjunction(filters, &self.schema).map_err(DataFusionError::Plan)
    }

    /// Rows in the live segments of the manifest. An estimate: hot rows are
    /// not counted, and overlapping segments count a key once per version.
    /// None for tables without a manifest (system tables) or on any error:
    /// statistics are optional, and planning must not fail for them.
    pub fn manifest_row_count(&self) -> Option<u64> {
        let text = self.db.manifest_json(&self.table).ok()?;
        let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
        let mut rows = 0u64;
        for seg in manifest.get("segments")?.as_array()? {
            if !seg
                .get("tombstone")
                .and_then(|t| t.as_bool())
                .unwrap_or(false)
            {
                rows = rows.saturating_add(seg.get("row_count")?.as_u64()?);
            }
        }
        Some(rows)
    }

    fn estimate(&self, schema: &SchemaRef, filtered: bool, limit: Option<u64>) -> Statistics {
        let mut stats = Statistics::new_unknown(schema);
        // A count of the whole table says little about a filtered scan.
        if !filtered && let Some(rows) = self.manifest_row_count() {
            let rows = limit.map_or(rows, |l| rows.min(l));
            stats.num_rows = Precision::Inexact(rows as usize);
        }
        stats
    }
}

#[async_trait]
impl TableProvider for KalamTableProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&indices)?);
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let filter = self.translate_filters(filters)?;
        let request = ScanRequest {
            columns: Some(columns),
            filter,
            limit: limit.map(|l| l as u64),
            batch_rows: None,
        };
        let statistics = self.estimate(&schema, request.filter.is_some(), request.limit);
        Ok(Arc::new(KalamScanExec::new(
            Arc::clone(&self.db),
            self.table.clone(),
            request,
            schema,
            statistics,
        )))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| filter::pushdown(f, &self.schema))
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        let rows = self.manifest_row_count()?;
        let mut stats = Statistics::new_unknown(&self.schema);
        stats.num_rows = Precision::Inexact(rows as usize);
        Some(stats)
    }
}
