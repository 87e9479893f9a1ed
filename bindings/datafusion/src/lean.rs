//! The provider handed to datafusion-python, without datafusion-ffi's
//! per-call conversions of the host's session.
//!
//! datafusion-ffi 55 converts the host's whole session on every `scan`
//! call: the host exports every registered scalar, aggregate and window
//! function, this side wraps each one and drops it again, and the
//! catalogs, table options and every config option are copied. It does
//! the same with the host's task context on every `supports_filters_pushdown`
//! and `execute` call. This provider reads none of it: its scan needs the
//! projection, filters and limit, its execution the session's batch size.
//! On a selective query those conversions were 2.1 ms of DataFusion's
//! 10 ms against 5.7 ms for the direct scan (DESIGN-NOTES, "DataFusion's
//! fixed cost").
//!
//! So the capsule's provider gets this module's `scan` and
//! `supports_filters_pushdown`, which decode the filters with a task
//! context of this library (nothing registered: the filters this provider
//! accepts are columns, literals and operators, and a filter that does
//! not decode here is one it does not support), call the provider with a
//! session of this library, and return plans whose `execute` hands
//! datafusion-ffi's own wrapper a task context of this library holding the
//! host's config. The provider is found through its logical codec, a
//! [`LeanCodec`] that holds it and otherwise acts as DataFusion's default
//! codec. Everything else is datafusion-ffi's code.
//!
//! The fields written here are private in datafusion-ffi, whose structs
//! are `#[repr(C)]`: that layout is the ABI datafusion-python reads, so it
//! is fixed for a datafusion-ffi version (pinned, `=55.2.0`). The offsets
//! are derived from the public fields around them and checked at compile
//! time; the host's session (a private type passed by value) is mirrored
//! by [`HostSessionRef`], whose size is the sum of its fields' (see there).

use std::any::Any;
use std::collections::HashMap;
use std::ffi::c_void;
use std::fmt;
use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use async_ffi::{FfiFuture, FutureExt};
use async_trait::async_trait;
use datafusion_catalog::{CatalogProviderList, MemoryCatalogProviderList, Session, TableProvider};
use datafusion_common::config::TableOptions;
use datafusion_common::{DFSchema, DataFusionError, Result, TableReference};
use datafusion_execution::config::SessionConfig;
use datafusion_execution::runtime_env::RuntimeEnv;
use datafusion_execution::{TaskContext, TaskContextProvider};
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::registry::{ExtensionTypeRegistryRef, MemoryExtensionTypeRegistry};
use datafusion_expr::{
    AggregateUDF, Expr, Extension, HigherOrderUDF, LogicalPlan, ScalarUDF,
    TableProviderFilterPushDown, WindowUDF,
};
use datafusion_ffi::config::FFI_ConfigOptions;
use datafusion_ffi::execution::FFI_TaskContext;
use datafusion_ffi::execution_plan::FFI_ExecutionPlan;
use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::proto::physical_extension_codec::FFI_PhysicalExtensionCodec;
use datafusion_ffi::record_batch_stream::FFI_RecordBatchStream;
use datafusion_ffi::session::config::FFI_SessionConfig;
use datafusion_ffi::table_provider::FFI_TableProvider;
use datafusion_ffi::table_source::FFI_TableProviderFilterPushDown;
use datafusion_ffi::util::{FFI_Option, FFI_Result};
use datafusion_physical_plan::{ExecutionPlan, PhysicalExpr};
use datafusion_proto::logical_plan::from_proto::parse_expr;
use datafusion_proto::logical_plan::{DefaultLogicalExtensionCodec, LogicalExtensionCodec};
use datafusion_proto::protobuf::LogicalExprList;
use prost::Message;
use stabby::string::String as SString;
use stabby::vec::Vec as SVec;

use crate::KalamTableProvider;

const PTR: usize = size_of::<usize>();

/// The host's `FFI_SessionRef` (datafusion-ffi 55.2.0,
/// `src/session/mod.rs`; `pub(crate)` there), which `scan` receives by
/// value and must drop as datafusion-ffi does: its `release`, then its two
/// codecs (their own drops). Its fields, in order: 14 function pointers
/// (session_id … physical_optimizers), the logical and the physical
/// extension codec, then clone, release, version, private_data and
/// library_marker_id.
#[repr(C)]
struct HostSessionRef {
    functions: [usize; 14],
    logical_codec: FFI_LogicalExtensionCodec,
    physical_codec: FFI_PhysicalExtensionCodec,
    clone: usize,
    release: unsafe extern "C" fn(arg: &mut HostSessionRef),
    version: usize,
    private_data: *mut c_void,
    library_marker_id: usize,
}

impl Drop for HostSessionRef {
    fn drop(&mut self) {
        // SAFETY: the host's own release function, once, on its session;
        // the codecs are dropped after it, as fields.
        unsafe { (self.release)(self) }
    }
}

type ScanFn = unsafe extern "C" fn(
    provider: &FFI_TableProvider,
    session: HostSessionRef,
    projections: FFI_Option<SVec<usize>>,
    filters_serialized: SVec<u8>,
    limit: FFI_Option<usize>,
) -> FfiFuture<FFI_Result<FFI_ExecutionPlan>>;

type SupportsFn = unsafe extern "C" fn(
    provider: &FFI_TableProvider,
    filters_serialized: SVec<u8>,
) -> FFI_Result<SVec<FFI_TableProviderFilterPushDown>>;

type ProviderCloneFn = unsafe extern "C" fn(provider: &FFI_TableProvider) -> FFI_TableProvider;

type ExecuteFn = unsafe extern "C" fn(
    plan: &FFI_ExecutionPlan,
    partition: usize,
    context: FFI_TaskContext,
) -> FFI_Result<FFI_RecordBatchStream>;

type PlanCloneFn = unsafe extern "C" fn(plan: &FFI_ExecutionPlan) -> FFI_ExecutionPlan;

type WithNewChildrenFn = unsafe extern "C" fn(
    plan: &FFI_ExecutionPlan,
    children: SVec<FFI_ExecutionPlan>,
) -> FFI_Result<FFI_ExecutionPlan>;

type RepartitionedFn = unsafe extern "C" fn(
    plan: &FFI_ExecutionPlan,
    target_partitions: usize,
    config: FFI_ConfigOptions,
) -> FFI_Result<FFI_Option<FFI_ExecutionPlan>>;

// FFI_TableProvider's fields: schema, scan, table_type,
// supports_filters_pushdown, insert_into, statistics (public), then
// logical_codec (public), clone, release, version (public), private_data,
// library_marker_id.
const SCAN_AT: usize = PTR;
const SUPPORTS_AT: usize = 3 * PTR;
const PROVIDER_CLONE_AT: usize =
    offset_of!(FFI_TableProvider, logical_codec) + size_of::<FFI_LogicalExtensionCodec>();
const _: () = assert!(offset_of!(FFI_TableProvider, statistics) == 5 * PTR);
const _: () = assert!(offset_of!(FFI_TableProvider, logical_codec) == 6 * PTR);
const _: () = assert!(offset_of!(FFI_TableProvider, version) == PROVIDER_CLONE_AT + 2 * PTR);
const _: () = assert!(size_of::<Option<SupportsFn>>() == PTR);

/// datafusion-ffi's own wrappers, read from the first struct patched: the
/// same functions for every provider and plan of this library.
static ORIGINAL_PROVIDER_CLONE: OnceLock<ProviderCloneFn> = OnceLock::new();
static ORIGINAL_EXECUTE: OnceLock<ExecuteFn> = OnceLock::new();
static ORIGINAL_PLAN_CLONE: OnceLock<PlanCloneFn> = OnceLock::new();
static ORIGINAL_REPARTITIONED: OnceLock<RepartitionedFn> = OnceLock::new();
static ORIGINAL_WITH_NEW_CHILDREN: OnceLock<WithNewChildrenFn> = OnceLock::new();

/// How often each lean call ran, for tests: a provider that silently went
/// back to datafusion-ffi's wrappers would still answer correctly.
static SCANS: AtomicU64 = AtomicU64::new(0);
static PUSHDOWN_CHECKS: AtomicU64 = AtomicU64::new(0);
static EXECUTES: AtomicU64 = AtomicU64::new(0);

/// (scans, pushdown checks, executes) that took the lean path.
pub(crate) fn counts() -> (u64, u64, u64) {
    (
        SCANS.load(Ordering::Relaxed),
        PUSHDOWN_CHECKS.load(Ordering::Relaxed),
        EXECUTES.load(Ordering::Relaxed),
    )
}

/// The datafusion-ffi provider of `provider`, with this module's calls.
pub(crate) fn lean_provider(provider: Arc<KalamTableProvider>) -> FFI_TableProvider {
    let codec = Arc::new(LeanCodec::new(Arc::clone(&provider)));
    let task_ctx: Arc<dyn TaskContextProvider> = codec.session.clone();
    let ffi_codec = FFI_LogicalExtensionCodec::new(codec, None, &task_ctx);
    // No tokio runtime: scans run on their own threads (see exec.rs).
    let mut ffi = FFI_TableProvider::new_with_ffi_codec(provider, true, None, ffi_codec);
    patch_provider(&mut ffi);
    ffi
}

fn patch_provider(ffi: &mut FFI_TableProvider) {
    // SAFETY: the offsets are FFI_TableProvider's #[repr(C)] layout,
    // checked above; each field gets a function of its own type.
    unsafe {
        let base = ffi as *mut FFI_TableProvider as *mut u8;
        *(base.add(SCAN_AT) as *mut ScanFn) = lean_scan;
        *(base.add(SUPPORTS_AT) as *mut Option<SupportsFn>) = Some(lean_supports);
        let clone = base.add(PROVIDER_CLONE_AT) as *mut ProviderCloneFn;
        let original = *ORIGINAL_PROVIDER_CLONE.get_or_init(|| *clone);
        if *clone as usize == original as usize {
            *clone = lean_provider_clone;
        }
    }
}

/// Gives `plan` (and its clones, repartitioned copies and
/// `with_new_children` results) an `execute` that does not convert the
/// host's task context.
fn patch_plan(plan: &mut FFI_ExecutionPlan) {
    let execute = *ORIGINAL_EXECUTE.get_or_init(|| plan.execute);
    let clone = *ORIGINAL_PLAN_CLONE.get_or_init(|| plan.clone);
    let repartitioned = *ORIGINAL_REPARTITIONED.get_or_init(|| plan.repartitioned);
    let with_new_children = *ORIGINAL_WITH_NEW_CHILDREN.get_or_init(|| plan.with_new_children);
    if plan.execute as usize == execute as usize {
        plan.execute = lean_execute;
    }
    if plan.clone as usize == clone as usize {
        plan.clone = lean_plan_clone;
    }
    if plan.repartitioned as usize == repartitioned as usize {
        plan.repartitioned = lean_repartitioned;
    }
    if plan.with_new_children as usize == with_new_children as usize {
        plan.with_new_children = lean_with_new_children;
    }
}

fn ffi_err<T>(e: impl fmt::Display) -> FFI_Result<T> {
    FFI_Result::Err(SString::from(e.to_string().as_str()))
}

/// The provider's codec, when it is a [`LeanCodec`] of this library.
fn lean_codec(provider: &FFI_TableProvider) -> Result<Arc<LeanCodec>> {
    let codec: Arc<dyn LogicalExtensionCodec> = (&provider.logical_codec).into();
    let any: Arc<dyn Any + Send + Sync> = codec;
    any.downcast::<LeanCodec>().map_err(|_| {
        DataFusionError::Internal("kalam-datafusion: a provider without its LeanCodec".into())
    })
}

/// Decodes each serialized filter on its own; `None` for one that does not
/// decode with this library's (empty) function registry.
fn decode_filters(serialized: &[u8], codec: &LeanCodec) -> Result<Vec<Option<Expr>>> {
    if serialized.is_empty() {
        return Ok(vec![]);
    }
    let list = LogicalExprList::decode(serialized)
        .map_err(|e| DataFusionError::Plan(format!("kalam-datafusion: filters: {e}")))?;
    let ctx = Session::task_ctx(codec.session.as_ref());
    Ok(list
        .expr
        .iter()
        .map(|node| parse_expr(node, &ctx, &codec.default).ok())
        .collect())
}

unsafe extern "C" fn lean_supports(
    provider: &FFI_TableProvider,
    filters_serialized: SVec<u8>,
) -> FFI_Result<SVec<FFI_TableProviderFilterPushDown>> {
    PUSHDOWN_CHECKS.fetch_add(1, Ordering::Relaxed);
    let codec = match lean_codec(provider) {
        Ok(c) => c,
        Err(e) => return ffi_err(e),
    };
    let filters = match decode_filters(filters_serialized.as_ref(), &codec) {
        Ok(f) => f,
        Err(e) => return ffi_err(e),
    };
    let decoded: Vec<&Expr> = filters.iter().flatten().collect();
    let answers = match codec.provider.supports_filters_pushdown(&decoded) {
        Ok(a) => a,
        Err(e) => return ffi_err(e),
    };
    let mut answers = answers.into_iter();
    let mut out = SVec::new();
    for f in &filters {
        let answer = match f {
            Some(_) => answers
                .next()
                .unwrap_or(TableProviderFilterPushDown::Unsupported),
            None => TableProviderFilterPushDown::Unsupported,
        };
        out.push((&answer).into());
    }
    FFI_Result::Ok(out)
}

unsafe extern "C" fn lean_scan(
    provider: &FFI_TableProvider,
    session: HostSessionRef,
    projections: FFI_Option<SVec<usize>>,
    filters_serialized: SVec<u8>,
    limit: FFI_Option<usize>,
) -> FfiFuture<FFI_Result<FFI_ExecutionPlan>> {
    drop(session); // the host's: released, never converted
    SCANS.fetch_add(1, Ordering::Relaxed);
    let codec = lean_codec(provider);
    let projections: Option<Vec<usize>> =
        Option::from(projections).map(|p: SVec<usize>| p.iter().copied().collect());
    let limit: Option<usize> = limit.into();
    let filters = codec
        .as_ref()
        .map_err(|e| DataFusionError::Internal(e.to_string()))
        .and_then(|c| decode_filters(filters_serialized.as_ref(), c));
    async move {
        let codec = match codec {
            Ok(c) => c,
            Err(e) => return ffi_err(e),
        };
        // DataFusion passes scan the filters the provider accepted, which
        // decoded when it was asked (the same bytes, the same decoder). A
        // filter that does not decode was not accepted: DataFusion applies
        // it itself, so leaving it out only reads more rows.
        let filters: Vec<Expr> = match filters {
            Ok(f) => f.into_iter().flatten().collect(),
            Err(e) => return ffi_err(e),
        };
        let session: &dyn Session = codec.session.as_ref();
        match codec
            .provider
            .scan(session, projections.as_ref(), &filters, limit)
            .await
        {
            Ok(plan) => {
                let mut plan = FFI_ExecutionPlan::new(plan, None);
                patch_plan(&mut plan);
                FFI_Result::Ok(plan)
            }
            Err(e) => ffi_err(e),
        }
    }
    .into_ffi()
}

unsafe extern "C" fn lean_provider_clone(provider: &FFI_TableProvider) -> FFI_TableProvider {
    let original = *ORIGINAL_PROVIDER_CLONE
        .get()
        .expect("lean_provider_clone installed without its original");
    // SAFETY: datafusion-ffi's clone wrapper on its own provider.
    let mut copy = unsafe { original(provider) };
    patch_provider(&mut copy);
    copy
}

unsafe extern "C" fn lean_execute(
    plan: &FFI_ExecutionPlan,
    partition: usize,
    context: FFI_TaskContext,
) -> FFI_Result<FFI_RecordBatchStream> {
    EXECUTES.fetch_add(1, Ordering::Relaxed);
    let original = *ORIGINAL_EXECUTE
        .get()
        .expect("lean_execute installed without its original");
    // SAFETY: the host's context is read through its own callbacks and
    // then released; datafusion-ffi's wrapper gets a context of this
    // library, which it takes as it is.
    unsafe {
        let config: FFI_SessionConfig = (context.session_config)(&context);
        let config = match SessionConfig::try_from(&config) {
            Ok(c) => c,
            Err(e) => return ffi_err(e),
        };
        let session_id = (context.session_id)(&context).to_string();
        let task_id: Option<SString> = (context.task_id)(&context).into();
        drop(context);
        let local = TaskContext::new(
            task_id.map(|t| t.to_string()),
            session_id,
            config,
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            Arc::new(RuntimeEnv::default()),
        );
        original(plan, partition, FFI_TaskContext::from(Arc::new(local)))
    }
}

unsafe extern "C" fn lean_plan_clone(plan: &FFI_ExecutionPlan) -> FFI_ExecutionPlan {
    let original = *ORIGINAL_PLAN_CLONE
        .get()
        .expect("lean_plan_clone installed without its original");
    // SAFETY: datafusion-ffi's clone wrapper on its own plan.
    let mut copy = unsafe { original(plan) };
    patch_plan(&mut copy);
    copy
}

unsafe extern "C" fn lean_repartitioned(
    plan: &FFI_ExecutionPlan,
    target_partitions: usize,
    config: FFI_ConfigOptions,
) -> FFI_Result<FFI_Option<FFI_ExecutionPlan>> {
    let original = *ORIGINAL_REPARTITIONED
        .get()
        .expect("lean_repartitioned installed without its original");
    // SAFETY: datafusion-ffi's wrapper on its own plan.
    match unsafe { original(plan, target_partitions, config) } {
        FFI_Result::Ok(FFI_Option::Some(mut p)) => {
            patch_plan(&mut p);
            FFI_Result::Ok(FFI_Option::Some(p))
        }
        other => other,
    }
}

unsafe extern "C" fn lean_with_new_children(
    plan: &FFI_ExecutionPlan,
    children: SVec<FFI_ExecutionPlan>,
) -> FFI_Result<FFI_ExecutionPlan> {
    let original = *ORIGINAL_WITH_NEW_CHILDREN
        .get()
        .expect("lean_with_new_children installed without its original");
    // SAFETY: datafusion-ffi's wrapper on its own plan.
    match unsafe { original(plan, children) } {
        FFI_Result::Ok(mut p) => {
            patch_plan(&mut p);
            FFI_Result::Ok(p)
        }
        err => err,
    }
}

/// The provider's logical codec: DataFusion's default codec, plus the
/// provider and the session its calls use.
pub(crate) struct LeanCodec {
    provider: Arc<KalamTableProvider>,
    session: Arc<LocalSession>,
    default: DefaultLogicalExtensionCodec,
}

impl LeanCodec {
    fn new(provider: Arc<KalamTableProvider>) -> Self {
        LeanCodec {
            provider,
            session: Arc::new(LocalSession::new()),
            default: DefaultLogicalExtensionCodec {},
        }
    }
}

impl fmt::Debug for LeanCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeanCodec({})", self.provider.table())
    }
}

impl LogicalExtensionCodec for LeanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.default.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.default.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.default
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.default.try_encode_table_provider(table_ref, node, buf)
    }
}

/// A session with default settings and nothing registered, which the
/// provider's scan receives (and does not read).
pub(crate) struct LocalSession {
    config: SessionConfig,
    catalogs: Arc<dyn CatalogProviderList>,
    scalar: HashMap<String, Arc<ScalarUDF>>,
    higher_order: HashMap<String, Arc<HigherOrderUDF>>,
    aggregate: HashMap<String, Arc<AggregateUDF>>,
    window: HashMap<String, Arc<WindowUDF>>,
    extension_types: ExtensionTypeRegistryRef,
    runtime: Arc<RuntimeEnv>,
    props: ExecutionProps,
    table_options: TableOptions,
}

impl LocalSession {
    fn new() -> Self {
        LocalSession {
            config: SessionConfig::new(),
            catalogs: Arc::new(MemoryCatalogProviderList::new()),
            scalar: HashMap::new(),
            higher_order: HashMap::new(),
            aggregate: HashMap::new(),
            window: HashMap::new(),
            extension_types: Arc::new(MemoryExtensionTypeRegistry::default()),
            runtime: Arc::new(RuntimeEnv::default()),
            props: ExecutionProps::new(),
            table_options: TableOptions::default(),
        }
    }

    fn refuse<T>(what: &str) -> Result<T> {
        Err(DataFusionError::NotImplemented(format!(
            "kalam-datafusion's scan session does not {what}"
        )))
    }
}

impl TaskContextProvider for LocalSession {
    fn task_ctx(&self) -> Arc<TaskContext> {
        Session::task_ctx(self)
    }
}

#[async_trait]
impl Session for LocalSession {
    fn session_id(&self) -> &str {
        "kalam-datafusion"
    }

    fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn catalog_list(&self) -> Arc<dyn CatalogProviderList> {
        Arc::clone(&self.catalogs)
    }

    async fn create_physical_plan(&self, _plan: &LogicalPlan) -> Result<Arc<dyn ExecutionPlan>> {
        Self::refuse("plan queries")
    }

    fn create_physical_expr(
        &self,
        _expr: Expr,
        _schema: &DFSchema,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Self::refuse("plan expressions")
    }

    fn scalar_functions(&self) -> &HashMap<String, Arc<ScalarUDF>> {
        &self.scalar
    }

    fn higher_order_functions(&self) -> &HashMap<String, Arc<HigherOrderUDF>> {
        &self.higher_order
    }

    fn aggregate_functions(&self) -> &HashMap<String, Arc<AggregateUDF>> {
        &self.aggregate
    }

    fn window_functions(&self) -> &HashMap<String, Arc<WindowUDF>> {
        &self.window
    }

    fn extension_type_registry(&self) -> &ExtensionTypeRegistryRef {
        &self.extension_types
    }

    fn runtime_env(&self) -> &Arc<RuntimeEnv> {
        &self.runtime
    }

    fn execution_props(&self) -> &ExecutionProps {
        &self.props
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_options(&self) -> &TableOptions {
        &self.table_options
    }

    fn table_options_mut(&mut self) -> &mut TableOptions {
        &mut self.table_options
    }

    fn task_ctx(&self) -> Arc<TaskContext> {
        Arc::new(TaskContext::new(
            None,
            self.session_id().to_string(),
            self.config.clone(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            Arc::clone(&self.runtime),
        ))
    }
}
