//! [`KalamScanExec`]: the physical scan node, one libkalam stream.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use datafusion_common::tree_node::TreeNodeRecursion;
use datafusion_common::{DataFusionError, Result, Statistics, internal_err};
use datafusion_execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion_physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion_physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion_physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion_physical_plan::statistics::StatisticsArgs;
use datafusion_physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::Stream;
use tokio::sync::mpsc;

use crate::db::{KalamDb, ScanReader, ScanRequest, SharedStream};
use crate::ffi::{KResult, KalamError, status};

/// Batches read ahead of the consumer: enough to overlap libkalam's reading
/// with DataFusion's work, few enough to keep memory bounded.
const READ_AHEAD: usize = 2;

/// Scans one libkalam table with the projection, filter and limit that
/// DataFusion pushed down. The scan starts when the plan executes (the
/// first poll of its stream), runs on a thread of its own (libkalam's
/// `get_next` blocks), and is cancelled when the stream is dropped.
#[derive(Debug)]
pub struct KalamScanExec {
    db: Arc<KalamDb>,
    table: String,
    request: ScanRequest,
    schema: SchemaRef,
    statistics: Arc<Statistics>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
    /// "KalamScanExec: table=…, projection=[…], filter=…, limit=…". Also
    /// the plan's name: datafusion-ffi shows a foreign plan in the host's
    /// EXPLAIN by its name alone, and the filter libkalam receives must be
    /// visible there too.
    label: String,
}

impl KalamScanExec {
    /// `schema` is the projected schema, `request.columns` its column names.
    pub fn new(
        db: Arc<KalamDb>,
        table: String,
        request: ScanRequest,
        schema: SchemaRef,
        statistics: Statistics,
    ) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        let label = describe(&table, &request, ", ");
        KalamScanExec {
            db,
            table,
            request,
            schema,
            statistics: Arc::new(statistics),
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
            label: format!("KalamScanExec: {label}"),
        }
    }

    /// The table this node scans.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The filter string libkalam receives (None: no filter).
    pub fn filter(&self) -> Option<&str> {
        self.request.filter.as_deref()
    }

    /// The columns libkalam is asked for, in output order.
    pub fn projection(&self) -> &[String] {
        self.request.columns.as_deref().unwrap_or(&[])
    }

    /// The limit libkalam receives.
    pub fn limit(&self) -> Option<u64> {
        self.request.limit
    }
}

fn describe(table: &str, request: &ScanRequest, sep: &str) -> String {
    let columns = request
        .columns
        .as_deref()
        .map(|c| c.join(", "))
        .unwrap_or_else(|| "*".into());
    let mut s = format!("table={table}{sep}projection=[{columns}]");
    if let Some(filter) = &request.filter {
        s.push_str(&format!("{sep}filter={filter}"));
    }
    if let Some(limit) = request.limit {
        s.push_str(&format!("{sep}limit={limit}"));
    }
    s
}

impl DisplayAs for KalamScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => write!(f, "{}", self.label),
            DisplayFormatType::TreeRender => {
                write!(f, "{}", describe(&self.table, &self.request, "\n"))
            }
        }
    }
}

impl ExecutionPlan for KalamScanExec {
    fn name(&self) -> &str {
        &self.label
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // The pushed-down filter is a libkalam string, not a PhysicalExpr.
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return internal_err!("KalamScanExec has no children, got {}", children.len());
        }
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!(
                "KalamScanExec has one partition, asked for partition {partition}"
            );
        }
        let mut request = self.request.clone();
        // Batches of the size the session works with.
        request.batch_rows = Some(context.session_config().batch_size().max(1) as u64);
        Ok(Box::pin(KalamScanStream {
            schema: Arc::clone(&self.schema),
            remaining: request.limit,
            state: State::Pending(Box::new(Pending {
                db: Arc::clone(&self.db),
                table: self.table.clone(),
                request,
            })),
            baseline: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn statistics_from_inputs(
        &self,
        _input: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(Arc::clone(&self.statistics))
    }

    fn fetch(&self) -> Option<usize> {
        self.request.limit.map(|l| l as usize)
    }

    /// Every row this node returns passes the pushed filter, so a limit
    /// above it can always move into libkalam.
    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        let mut request = self.request.clone();
        request.limit = match (limit.map(|l| l as u64), self.request.limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Some(Arc::new(KalamScanExec::new(
            Arc::clone(&self.db),
            self.table.clone(),
            request,
            Arc::clone(&self.schema),
            self.statistics.as_ref().clone(),
        )))
    }
}

struct Pending {
    db: Arc<KalamDb>,
    table: String,
    request: ScanRequest,
}

enum State {
    Pending(Box<Pending>),
    Running {
        rx: mpsc::Receiver<Result<RecordBatch>>,
        stream: Arc<SharedStream>,
    },
    Done,
}

struct KalamScanStream {
    schema: SchemaRef,
    state: State,
    /// Rows the limit still allows. libkalam honours the limit itself; this
    /// guards the plan, whose limit node DataFusion may remove on the
    /// strength of `with_fetch`.
    remaining: Option<u64>,
    baseline: BaselineMetrics,
}

impl KalamScanStream {
    fn start(&mut self, p: Pending) -> Result<()> {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let stream = SharedStream::new();
        let shared = Arc::clone(&stream);
        let schema = Arc::clone(&self.schema);
        std::thread::Builder::new()
            .name("kalam-scan".into())
            .spawn(move || produce(p, schema, shared, tx))
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        self.state = State::Running { rx, stream };
        Ok(())
    }
}

/// The scan thread: starts the libkalam scan and forwards its batches until
/// the end, an error, or the consumer going away.
fn produce(
    p: Pending,
    schema: SchemaRef,
    stream: Arc<SharedStream>,
    tx: mpsc::Sender<Result<RecordBatch>>,
) {
    let ctx = format!("scan of {}", p.table);
    let run = || -> KResult<()> {
        p.db.start_scan(&p.table, &p.request, &stream)?;
        let mut reader =
            ScanReader::new(Arc::clone(p.db.library()), Arc::clone(&stream), ctx.clone())?;
        while let Some(batch) = reader.next_batch()? {
            let batch = conform(batch, &schema, &ctx)?;
            if tx.blocking_send(Ok(batch)).is_err() {
                break; // the consumer is gone
            }
        }
        Ok(())
    };
    if let Err(e) = run()
        && !stream.is_cancelled()
    {
        let _ = tx.blocking_send(Err(e.into()));
    }
    stream.release();
}

/// Re-labels a batch with the plan's schema after checking that libkalam
/// returned the columns and types the plan promised.
fn conform(batch: RecordBatch, schema: &SchemaRef, ctx: &str) -> KResult<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return Err(KalamError::new(
            status::INTERNAL,
            ctx,
            format!(
                "libkalam returned {} columns, the plan expects {}",
                batch.num_columns(),
                schema.fields().len()
            ),
        ));
    }
    for (i, field) in schema.fields().iter().enumerate() {
        let got = batch.column(i).data_type();
        if got != field.data_type() {
            return Err(KalamError::new(
                status::INTERNAL,
                ctx,
                format!(
                    "column {:?} came back as {got}, the table schema says {}",
                    field.name(),
                    field.data_type()
                ),
            ));
        }
    }
    let rows = batch.num_rows();
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        batch.columns().to_vec(),
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| {
        KalamError::new(
            status::INTERNAL,
            ctx,
            format!("batch does not fit the table schema: {e}"),
        )
    })
}

impl Stream for KalamScanStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let State::Pending(_) = this.state {
            let State::Pending(p) = std::mem::replace(&mut this.state, State::Done) else {
                unreachable!()
            };
            if let Err(e) = this.start(*p) {
                return Poll::Ready(Some(Err(e)));
            }
        }
        let State::Running { rx, .. } = &mut this.state else {
            return Poll::Ready(None);
        };
        let mut item = match rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        match &mut item {
            Some(Ok(batch)) => {
                if let Some(left) = this.remaining.as_mut() {
                    let n = batch.num_rows() as u64;
                    if n >= *left {
                        *batch = batch.slice(0, *left as usize);
                        *left = 0;
                        // Nothing more is needed: stop libkalam now.
                        if let State::Running { stream, .. } = &this.state {
                            stream.cancel();
                        }
                        this.state = State::Done;
                    } else {
                        *left -= n;
                    }
                }
            }
            Some(Err(_)) | None => this.state = State::Done,
        }
        this.baseline.record_poll(Poll::Ready(item))
    }
}

impl RecordBatchStream for KalamScanStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

impl Drop for KalamScanStream {
    fn drop(&mut self) {
        // Releasing the libkalam stream now cancels a get_next in flight on
        // the scan thread (a query stopped early, a LIMIT reached above).
        if let State::Running { stream, .. } = &self.state {
            stream.cancel();
        }
    }
}
