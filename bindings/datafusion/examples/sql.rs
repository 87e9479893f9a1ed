//! Registers a libkalam table in a DataFusion SessionContext and runs SQL.
//!
//!     cargo run --example sql -- ../../build/libkalam.so /tmp/kalam-example
//!
//! Creates `app.readings` in the store (if missing), appends rows, flushes,
//! and prints the plan and result of a query whose filter, projection and
//! limit run inside libkalam.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, RecordBatchIterator};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use kalam_datafusion::{KalamDb, KalamTableProvider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(lib), Some(root)) = (args.next(), args.next()) else {
        return Err("usage: sql LIBKALAM_PATH STORE_DIR".into());
    };
    let db = KalamDb::open(&lib, &root, None)?;
    if !db.tables()?.contains(&"app.readings".to_string()) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("value", DataType::Float64, true),
        ]));
        let _ = db.create_namespace("app");
        db.create_table("app.readings", &schema, &[("primary_key", "id")])?;
        let ids: Vec<i64> = (0..10_000).collect();
        let values: Vec<f64> = ids.iter().map(|i| (*i % 100) as f64 / 2.0).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Float64Array::from(values)),
            ],
        )?;
        db.append(
            "app.readings",
            Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema)),
        )?;
        db.flush("app.readings")?;
    }
    let ctx = SessionContext::new();
    ctx.register_table(
        "readings",
        Arc::new(KalamTableProvider::try_new(
            Arc::clone(&db),
            "app.readings",
        )?),
    )?;
    let sql =
        "SELECT id, value FROM readings WHERE id BETWEEN 100 AND 5000 AND value = 20.0 LIMIT 5";
    let plan = ctx.sql(&format!("EXPLAIN {sql}")).await?.collect().await?;
    println!("{}", pretty_format_batches(&plan)?);
    let rows = ctx.sql(sql).await?.collect().await?;
    println!("{}", pretty_format_batches(&rows)?);
    db.close()?;
    Ok(())
}
