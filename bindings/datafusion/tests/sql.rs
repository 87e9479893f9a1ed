//! End-to-end: a libkalam store registered in a DataFusion SessionContext.
//! Needs libkalam.so: `make lib` at the repository root, or KALAM_LIBRARY.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    Array, BooleanArray, Float64Array, Int64Array, RecordBatch, RecordBatchIterator, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use kalam_datafusion::{KalamDb, KalamTableProvider, ScanRequest};

fn library() -> PathBuf {
    if let Ok(p) = std::env::var("KALAM_LIBRARY") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build/libkalam.so");
    assert!(
        p.is_file(),
        "{} is missing: run `make lib` at the repository root or set KALAM_LIBRARY",
        p.display()
    );
    p
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
        Field::new("v", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
    ]))
}

fn rows(
    ids: impl Iterator<Item = i64>,
    tag: &str,
) -> Box<dyn arrow::array::RecordBatchReader + Send> {
    let ids: Vec<i64> = ids.collect();
    let s: Vec<Option<String>> = ids
        .iter()
        .map(|i| {
            if i % 7 == 0 {
                None
            } else {
                Some(format!("{tag}{}", i % 5))
            }
        })
        .collect();
    let v: Vec<Option<f64>> = ids
        .iter()
        .map(|i| {
            if i % 11 == 0 {
                None
            } else {
                Some(*i as f64 / 4.0)
            }
        })
        .collect();
    let flag: Vec<Option<bool>> = ids
        .iter()
        .map(|i| if i % 13 == 0 { None } else { Some(i % 2 == 0) })
        .collect();
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(s)),
            Arc::new(Float64Array::from(v)),
            Arc::new(BooleanArray::from(flag)),
        ],
    )
    .unwrap();
    Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema()))
}

/// app.events: a cold segment of ids 0..200, a second segment that upserts
/// 150..250 (overlapping the first), hot upserts of 0..20 and hot deletes of
/// every id divisible by 9 below 100.
fn store(dir: &std::path::Path) -> Arc<KalamDb> {
    let db = KalamDb::open(library(), dir, None).unwrap();
    db.create_namespace("app").unwrap();
    db.create_table("app.events", &schema(), &[("primary_key", "id")])
        .unwrap();
    db.append("app.events", rows(0..200, "a")).unwrap();
    assert!(db.flush("app.events").unwrap().is_some());
    db.append("app.events", rows(150..250, "b")).unwrap();
    assert!(db.flush("app.events").unwrap().is_some());
    db.append("app.events", rows(0..20, "c")).unwrap();
    let keys = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(
            (0..100).step_by(9).collect::<Vec<i64>>(),
        ))],
    )
    .unwrap();
    let key_schema = keys.schema();
    let deleted = db
        .delete(
            "app.events",
            Box::new(RecordBatchIterator::new(vec![Ok(keys)], key_schema)),
        )
        .unwrap();
    assert_eq!(deleted, 12);
    db
}

fn ctx_with(db: &Arc<KalamDb>) -> SessionContext {
    let ctx = SessionContext::new();
    let provider = KalamTableProvider::try_new(Arc::clone(db), "app.events").unwrap();
    ctx.register_table("events", Arc::new(provider)).unwrap();
    ctx
}

/// Sorted ids of a libkalam scan with `filter`.
fn kalam_ids(db: &KalamDb, filter: Option<&str>) -> Vec<i64> {
    let req = ScanRequest {
        columns: Some(vec!["id".into()]),
        filter: filter.map(String::from),
        ..Default::default()
    };
    let mut ids = Vec::new();
    for b in db.scan("app.events", &req).unwrap() {
        let b = b.unwrap();
        let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        ids.extend(a.values().iter().copied());
    }
    ids.sort();
    ids
}

async fn sql_ids(ctx: &SessionContext, sql: &str) -> Vec<i64> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut ids = Vec::new();
    for b in batches {
        let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        ids.extend(a.iter().map(|x| x.unwrap()));
    }
    ids.sort();
    ids
}

async fn explain(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut out = String::new();
    for b in batches {
        let plans = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        for p in plans.iter().flatten() {
            out.push_str(p);
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn filters_projection_and_limit_reach_libkalam() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let ctx = ctx_with(&db);

    let all = kalam_ids(&db, None);
    assert_eq!(all.len(), 250 - 12, "every key once, deletes applied");
    assert_eq!(sql_ids(&ctx, "SELECT id FROM events").await, all);

    // Selective, translatable: pushed as `id >= 10 AND s = 'c1'`.
    let sql = "SELECT id FROM events WHERE id >= 10 AND s = 'c1'";
    assert_eq!(
        sql_ids(&ctx, sql).await,
        kalam_ids(&db, Some("id >= 10 AND s = 'c1'"))
    );
    assert_eq!(sql_ids(&ctx, sql).await, vec![11, 16]);
    let plan = explain(&ctx, sql).await;
    assert!(
        plan.contains(
            "KalamScanExec: table=app.events, projection=[id], filter=id >= 10 AND s = 'c1'"
        ),
        "{plan}"
    );
    assert!(
        !plan.contains("FilterExec"),
        "an exact filter needs no FilterExec:\n{plan}"
    );

    // Aggregates over upserted rows: the newest version wins.
    let b = ctx
        .sql("SELECT count(*), sum(id) FROM events WHERE s LIKE 'b%'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let want = kalam_ids(&db, Some("id >= 150"));
    let want_b: Vec<i64> = want.iter().copied().filter(|i| i % 7 != 0).collect();
    assert_eq!(
        b[0].column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        want_b.len() as i64
    );
    assert_eq!(
        b[0].column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        want_b.iter().sum::<i64>()
    );

    // Limit pushdown.
    let plan = explain(&ctx, "SELECT id FROM events LIMIT 3").await;
    assert!(plan.contains("limit=3"), "{plan}");
    assert_eq!(
        sql_ids(&ctx, "SELECT id FROM events LIMIT 3").await.len(),
        3
    );

    // OFFSET stays in DataFusion; skip + fetch go down.
    let got = sql_ids(
        &ctx,
        "SELECT id FROM events WHERE id >= 100 LIMIT 5 OFFSET 3",
    )
    .await;
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|i| *i >= 100));
    assert!(
        explain(&ctx, "SELECT id FROM events LIMIT 5 OFFSET 3")
            .await
            .contains("limit=8")
    );
    // A limit that ends inside a batch.
    let small = SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_batch_size(16),
    );
    small
        .register_table(
            "events",
            Arc::new(KalamTableProvider::try_new(Arc::clone(&db), "app.events").unwrap()),
        )
        .unwrap();
    assert_eq!(
        sql_ids(&small, "SELECT id FROM events LIMIT 20")
            .await
            .len(),
        20
    );
    assert_eq!(
        sql_ids(&small, "SELECT id FROM events WHERE id < 40 LIMIT 1000").await,
        kalam_ids(&db, Some("id < 40"))
    );

    // count(*) with no columns: zero-column batches from libkalam.
    let b = ctx
        .sql("SELECT count(*) FROM events WHERE id < 100")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n as usize, kalam_ids(&db, Some("id < 100")).len());
    let plan = explain(&ctx, "SELECT count(*) FROM events WHERE id < 100").await;
    assert!(plan.contains("projection=[], filter=id < 100"), "{plan}");
}

#[tokio::test]
async fn untranslatable_and_inexact_filters_stay_correct() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let ctx = ctx_with(&db);

    // A function call is not translated: DataFusion filters.
    let sql = "SELECT id FROM events WHERE lower(s) = 'c3'";
    let plan = explain(&ctx, sql).await;
    assert!(plan.contains("FilterExec"), "{plan}");
    assert!(
        !plan.contains("filter="),
        "nothing should reach libkalam:\n{plan}"
    );
    assert_eq!(sql_ids(&ctx, sql).await, kalam_ids(&db, Some("s = 'c3'")));

    // A float `>` is a superset in libkalam (NaN ordering): pushed, and
    // filtered again by DataFusion.
    let sql = "SELECT id FROM events WHERE v > 40.0";
    let plan = explain(&ctx, sql).await;
    assert!(
        plan.contains("filter=v > 40.0") && plan.contains("FilterExec"),
        "{plan}"
    );
    assert_eq!(sql_ids(&ctx, sql).await, kalam_ids(&db, Some("v > 40.0")));

    // Three-valued logic through NOT and IS [NOT] TRUE on nullable columns.
    for (sql, filter) in [
        ("SELECT id FROM events WHERE NOT flag", "NOT flag = TRUE"),
        (
            "SELECT id FROM events WHERE flag IS NOT TRUE",
            "flag IS NULL OR flag = FALSE",
        ),
        (
            "SELECT id FROM events WHERE s NOT IN ('a1', 'c2')",
            "s NOT IN ('a1', 'c2')",
        ),
        (
            "SELECT id FROM events WHERE s IS NULL OR id BETWEEN 3 AND 30",
            "s IS NULL OR id BETWEEN 3 AND 30",
        ),
    ] {
        assert_eq!(
            sql_ids(&ctx, sql).await,
            kalam_ids(&db, Some(filter)),
            "{sql}"
        );
        assert!(
            explain(&ctx, sql).await.contains("filter="),
            "{sql} should push down"
        );
    }
}

#[tokio::test]
async fn errors_are_reported_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let ctx = ctx_with(&db);

    let missing = KalamTableProvider::try_new(Arc::clone(&db), "app.nope").unwrap_err();
    assert!(missing.to_string().contains("KALAM_NOT_FOUND"), "{missing}");
    assert!(
        unsafe { KalamDb::from_raw(library(), 0) }
            .unwrap_err()
            .to_string()
            .contains("NULL")
    );
    assert!(kalam_datafusion::KalamLib::load("/nonexistent/libkalam.so").is_err());
    // A second copy of the Go library would crash the process: refused
    // before dlopen, naming the copy already loaded.
    let copy = dir.path().join("libkalam.so");
    std::fs::copy(library(), &copy).unwrap();
    let err = kalam_datafusion::KalamLib::load(&copy).unwrap_err();
    assert!(
        err.to_string()
            .contains("another copy of libkalam is already loaded"),
        "{err}"
    );
    // The same file by another name is the same library.
    let link = dir.path().join("libkalam-link.so");
    std::os::unix::fs::symlink(library().canonicalize().unwrap(), &link).unwrap();
    assert!(kalam_datafusion::KalamLib::load(&link).is_ok());

    db.close().unwrap();
    let err = ctx
        .sql("SELECT id FROM events")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}

#[tokio::test]
async fn dropping_a_stream_releases_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    // Small batches, so that the stream is dropped with batches left.
    let ctx = SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_batch_size(16),
    );
    let provider = KalamTableProvider::try_new(Arc::clone(&db), "app.events").unwrap();
    ctx.register_table("events", Arc::new(provider)).unwrap();
    let live = || -> usize {
        let scan = db
            .scan("system.live_queries", &ScanRequest::default())
            .unwrap();
        scan.map(|b| b.unwrap().num_rows()).sum()
    };
    let df = ctx.sql("SELECT id, s FROM events").await.unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let task = ctx.task_ctx();
    // A scan that is planned but not polled has not started.
    assert_eq!(live(), 1, "only the live_queries scan itself");
    let mut stream = plan.execute(0, Arc::clone(&task)).unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    drop(stream);
    // Releasing is synchronous in Drop: the scan is gone at once.
    assert_eq!(live(), 1, "the dropped scan must be released");
    let all = collect(plan, task).await.unwrap();
    assert_eq!(all.iter().map(|b| b.num_rows()).sum::<usize>(), 250 - 12);
}
