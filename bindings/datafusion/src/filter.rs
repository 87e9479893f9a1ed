//! DataFusion filter expressions → libkalam's filter language (DESIGN §4.1).
//!
//! A translation is only handed to libkalam when libkalam's answer can be
//! trusted: `Exact` when, row for row, libkalam's predicate is TRUE exactly
//! where DataFusion's is (SQL three-valued logic, the column's own type);
//! `Inexact` when libkalam's rows are a superset (DataFusion then filters
//! again); `Unsupported` otherwise.
//!
//! To decide that compositionally every translated piece carries two
//! relations between the rows libkalam and DataFusion find TRUE (`t`) and
//! FALSE (`f`): `Equal`, `Superset` (libkalam's set contains DataFusion's)
//! or `Unrelated`. AND and OR keep each relation monotone (intersection and
//! union of supersets are supersets), NOT swaps `t` and `f`. Only `t` of the
//! whole filter matters for what libkalam returns.
//!
//! The only place where the two engines' comparisons differ is floating
//! point: arrow-rs (DataFusion) orders floats by IEEE totalOrder (-0 < +0,
//! a NaN with the sign bit set below -inf, a positive NaN above +inf),
//! libkalam by value with -0 = +0 and every NaN above +inf. Float
//! comparisons are therefore classified literal by literal below; every
//! other supported type compares identically in both.

use arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion_common::ScalarValue;
use datafusion_expr::expr::{Between, BinaryExpr, InList};
use datafusion_expr::{Expr, Operator, TableProviderFilterPushDown};

/// How libkalam's set of rows relates to DataFusion's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel {
    Equal,
    Superset,
    Unrelated,
}

impl Rel {
    fn join(self, o: Rel) -> Rel {
        match (self, o) {
            (Rel::Unrelated, _) | (_, Rel::Unrelated) => Rel::Unrelated,
            (Rel::Superset, _) | (_, Rel::Superset) => Rel::Superset,
            _ => Rel::Equal,
        }
    }
}

/// `t`: rows where the predicate is TRUE; `f`: rows where it is FALSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Quality {
    t: Rel,
    f: Rel,
}

const EXACT: Quality = Quality {
    t: Rel::Equal,
    f: Rel::Equal,
};

impl Quality {
    const fn new(t: Rel, f: Rel) -> Self {
        Quality { t, f }
    }
    fn join(self, o: Quality) -> Quality {
        Quality {
            t: self.t.join(o.t),
            f: self.f.join(o.f),
        }
    }
    fn not(self) -> Quality {
        Quality {
            t: self.f,
            f: self.t,
        }
    }
}

/// Binding strength of a translated piece, to parenthesise only as needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Or,
    And,
    Atom,
}

struct Piece {
    sql: String,
    prec: Prec,
    q: Quality,
}

impl Piece {
    fn atom(sql: String, q: Quality) -> Self {
        Piece {
            sql,
            prec: Prec::Atom,
            q,
        }
    }
}

/// A filter translated for libkalam, with how far DataFusion may rely on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// The predicate in libkalam's filter language.
    pub filter: String,
    /// `Exact` or `Inexact` (never `Unsupported`: that is `None`).
    pub pushdown: TableProviderFilterPushDown,
    is_or: bool,
}

/// Nesting beyond this is left to DataFusion: libkalam's parser stops at
/// 1000 levels, and deep recursion here would risk the caller's stack.
const MAX_DEPTH: usize = 128;

/// Translates one DataFusion filter over a table of `schema`; None when no
/// translation is both expressible and trustworthy.
pub fn translate(expr: &Expr, schema: &Schema) -> Option<Translation> {
    let piece = Translator { schema }.expr(expr, 0)?;
    let pushdown = match piece.q.t {
        Rel::Equal => TableProviderFilterPushDown::Exact,
        Rel::Superset => TableProviderFilterPushDown::Inexact,
        Rel::Unrelated => return None,
    };
    Some(Translation {
        filter: piece.sql,
        pushdown,
        is_or: piece.prec == Prec::Or,
    })
}

/// The pushdown class DataFusion gets for `expr`.
pub fn pushdown(expr: &Expr, schema: &Schema) -> TableProviderFilterPushDown {
    translate(expr, schema).map_or(TableProviderFilterPushDown::Unsupported, |t| t.pushdown)
}

/// The AND of `filters` (each one DataFusion pushed down because
/// [`pushdown`] accepted it) as one libkalam filter; None for no filters.
/// A filter that does not translate is an error naming it: dropping one
/// that was declared `Exact` would return wrong rows.
pub fn conjunction(filters: &[Expr], schema: &Schema) -> Result<Option<String>, String> {
    let mut parts = Vec::with_capacity(filters.len());
    for f in filters {
        let t = translate(f, schema)
            .ok_or_else(|| format!("filter `{f}` cannot be translated for libkalam"))?;
        parts.push(if t.is_or && filters.len() > 1 {
            format!("({})", t.filter)
        } else {
            t.filter
        });
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(parts.join(" AND "))
    })
}

/// Renders a column name as an identifier of the filter grammar: bare when
/// it is a plain identifier and no keyword, else double-quoted.
pub fn quote_ident(name: &str) -> Option<String> {
    if name.is_empty() || name.contains('\0') {
        return None;
    }
    let mut chars = name.chars();
    let first = chars.next()?;
    let plain = (first == '_' || first.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    const KEYWORDS: [&str; 9] = [
        "AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "TRUE", "FALSE",
    ];
    if plain && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        Some(name.to_string())
    } else {
        Some(format!("\"{}\"", name.replace('"', "\"\"")))
    }
}

/// A string literal with '' for a quote; None when it holds a NUL, which
/// cannot cross the C ABI.
fn quote_str(s: &str) -> Option<String> {
    if s.contains('\0') {
        None
    } else {
        Some(format!("'{}'", s.replace('\'', "''")))
    }
}

struct Translator<'a> {
    schema: &'a Schema,
}

/// A literal rendered for a column.
struct Lit {
    sql: String,
    /// The value when the column is a float column and the literal not NULL.
    float: Option<f64>,
    null: bool,
}

impl Translator<'_> {
    fn expr(&self, e: &Expr, depth: usize) -> Option<Piece> {
        if depth > MAX_DEPTH {
            return None;
        }
        match e {
            Expr::BinaryExpr(BinaryExpr {
                op: op @ (Operator::And | Operator::Or),
                ..
            }) => self.connective(e, *op, depth),
            Expr::BinaryExpr(b) => self.comparison(b),
            Expr::Not(inner) => {
                let p = self.expr(inner, depth + 1)?;
                Some(Piece::atom(format!("NOT ({})", p.sql), p.q.not()))
            }
            Expr::Literal(ScalarValue::Boolean(Some(b)), _) => Some(Piece::atom(
                if *b { "TRUE" } else { "FALSE" }.to_string(),
                EXACT,
            )),
            Expr::Literal(ScalarValue::Boolean(None), _) => self.unknown(),
            // A boolean column as a predicate: TRUE where it is true, NULL
            // where it is null, like `c = TRUE`.
            Expr::Column(_) => {
                let (name, ty) = self.column(e)?;
                (ty == &DataType::Boolean).then(|| Piece::atom(format!("{name} = TRUE"), EXACT))
            }
            Expr::IsNull(inner) => Some(Piece::atom(
                format!("{} IS NULL", self.column(inner)?.0),
                EXACT,
            )),
            Expr::IsNotNull(inner) => Some(Piece::atom(
                format!("{} IS NOT NULL", self.column(inner)?.0),
                EXACT,
            )),
            // IS [NOT] TRUE/FALSE/UNKNOWN never yield NULL; spelled with IS
            // [NOT] NULL so that a NULL row gets the same TRUE/FALSE.
            Expr::IsTrue(inner) => self.bool_test(
                inner,
                |c| format!("{c} IS NOT NULL AND {c} = TRUE"),
                Prec::And,
            ),
            Expr::IsFalse(inner) => self.bool_test(
                inner,
                |c| format!("{c} IS NOT NULL AND {c} = FALSE"),
                Prec::And,
            ),
            Expr::IsNotTrue(inner) => {
                self.bool_test(inner, |c| format!("{c} IS NULL OR {c} = FALSE"), Prec::Or)
            }
            Expr::IsNotFalse(inner) => {
                self.bool_test(inner, |c| format!("{c} IS NULL OR {c} = TRUE"), Prec::Or)
            }
            Expr::IsUnknown(inner) => self.bool_test(inner, |c| format!("{c} IS NULL"), Prec::Atom),
            Expr::IsNotUnknown(inner) => {
                self.bool_test(inner, |c| format!("{c} IS NOT NULL"), Prec::Atom)
            }
            Expr::Between(b) => self.between(b),
            Expr::InList(l) => self.in_list(l),
            _ => None,
        }
    }

    /// A chain of one connective, flattened without recursion so that long
    /// AND/OR chains (left-deep trees) cost no stack.
    fn connective(&self, e: &Expr, op: Operator, depth: usize) -> Option<Piece> {
        let mut operands = Vec::new();
        let mut stack = vec![e];
        while let Some(x) = stack.pop() {
            match x {
                Expr::BinaryExpr(BinaryExpr { left, op: o, right }) if *o == op => {
                    stack.push(right);
                    stack.push(left);
                }
                other => operands.push(other),
            }
        }
        let (word, prec) = if op == Operator::And {
            (" AND ", Prec::And)
        } else {
            (" OR ", Prec::Or)
        };
        let mut sql = Vec::with_capacity(operands.len());
        let mut q = EXACT;
        for x in operands {
            let p = self.expr(x, depth + 1)?;
            q = q.join(p.q);
            sql.push(if p.prec < prec {
                format!("({})", p.sql)
            } else {
                p.sql
            });
        }
        Some(Piece {
            sql: sql.join(word),
            prec,
            q,
        })
    }

    /// The quoted name and type of a column reference of this table.
    /// A NULL where a predicate goes — DataFusion simplifies the `x IN (1,
    /// NULL)` it was told is exact to `x = 1 OR NULL` — is unknown for every
    /// row. libkalam's grammar has no bare NULL predicate, so it is written
    /// as a comparison with NULL on the first column it can compare.
    fn unknown(&self) -> Option<Piece> {
        self.schema.fields().iter().find_map(|f| {
            let null = ScalarValue::try_from(f.data_type()).ok()?;
            literal(&null, f.data_type())?;
            Some(Piece::atom(
                format!("{} = NULL", quote_ident(f.name())?),
                EXACT,
            ))
        })
    }

    fn column<'s>(&'s self, e: &Expr) -> Option<(String, &'s DataType)> {
        match e {
            Expr::Column(c) => {
                let field = self.schema.field_with_name(&c.name).ok()?;
                Some((quote_ident(field.name())?, field.data_type()))
            }
            _ => None,
        }
    }

    fn bool_test(&self, inner: &Expr, spell: impl Fn(&str) -> String, prec: Prec) -> Option<Piece> {
        let (name, ty) = self.column(inner)?;
        (ty == &DataType::Boolean).then(|| Piece {
            sql: spell(&name),
            prec,
            q: EXACT,
        })
    }

    fn comparison(&self, b: &BinaryExpr) -> Option<Piece> {
        let (col_expr, lit_expr, op) = match (&*b.left, &*b.right) {
            (Expr::Column(_), Expr::Literal(..)) => (&*b.left, &*b.right, b.op),
            (Expr::Literal(..), Expr::Column(_)) => (&*b.right, &*b.left, b.op.swap()?),
            _ => return None,
        };
        let (name, ty) = self.column(col_expr)?;
        let Expr::Literal(value, _) = lit_expr else {
            return None;
        };
        let lit = literal(value, ty)?;
        match op {
            Operator::IsNotDistinctFrom | Operator::IsDistinctFrom => {
                let distinct = op == Operator::IsDistinctFrom;
                if lit.null {
                    let sql = format!("{name} IS {}NULL", if distinct { "NOT " } else { "" });
                    return Some(Piece::atom(sql, EXACT));
                }
                let eq = float_quality(Operator::Eq, lit.float);
                Some(if distinct {
                    Piece {
                        sql: format!("{name} IS NULL OR {name} <> {}", lit.sql),
                        prec: Prec::Or,
                        q: eq.not(),
                    }
                } else {
                    Piece {
                        sql: format!("{name} IS NOT NULL AND {name} = {}", lit.sql),
                        prec: Prec::And,
                        q: eq,
                    }
                })
            }
            _ => {
                let sym = match op {
                    Operator::Eq => "=",
                    Operator::NotEq => "<>",
                    Operator::Lt => "<",
                    Operator::LtEq => "<=",
                    Operator::Gt => ">",
                    Operator::GtEq => ">=",
                    _ => return None,
                };
                let q = if lit.null {
                    EXACT
                } else {
                    float_quality(op, lit.float)
                };
                Some(Piece::atom(format!("{name} {sym} {}", lit.sql), q))
            }
        }
    }

    fn between(&self, b: &Between) -> Option<Piece> {
        let (name, ty) = self.column(&b.expr)?;
        let (Expr::Literal(lo, _), Expr::Literal(hi, _)) = (&*b.low, &*b.high) else {
            return None;
        };
        let (lo, hi) = (literal(lo, ty)?, literal(hi, ty)?);
        // BETWEEN needs both bounds, so every NaN (either sign) fails it in
        // both engines: only a zero bound (the sign of zero) can differ.
        let q = if lo.null || hi.null {
            Quality::new(Rel::Equal, Rel::Unrelated)
        } else if lo.float == Some(0.0) || hi.float == Some(0.0) {
            Quality::new(Rel::Superset, Rel::Unrelated)
        } else {
            EXACT
        };
        let sql = format!("{name} BETWEEN {} AND {}", lo.sql, hi.sql);
        Some(if b.negated {
            Piece::atom(format!("NOT ({sql})"), q.not())
        } else {
            Piece::atom(sql, q)
        })
    }

    fn in_list(&self, l: &InList) -> Option<Piece> {
        let (name, ty) = self.column(&l.expr)?;
        if l.list.is_empty() {
            return None;
        }
        let mut items = Vec::with_capacity(l.list.len());
        let mut q = EXACT;
        for item in &l.list {
            let Expr::Literal(v, _) = item else {
                return None;
            };
            let lit = literal(v, ty)?;
            if !lit.null {
                q = q.join(float_quality(Operator::Eq, lit.float));
            }
            items.push(lit.sql);
        }
        let (not, q) = if l.negated {
            ("NOT ", q.not())
        } else {
            ("", q)
        };
        Some(Piece::atom(
            format!("{name} {not}IN ({})", items.join(", ")),
            q,
        ))
    }
}

/// How `x op c` on a float column compares between the engines (see the
/// module comment); `c` is None for non-float columns, which are exact.
fn float_quality(op: Operator, c: Option<f64>) -> Quality {
    use Rel::{Superset as S, Unrelated as U};
    let Some(c) = c else { return EXACT };
    let zero = c == 0.0;
    let neg_zero = zero && c.is_sign_negative();
    match op {
        // Only ±0 rows differ (libkalam: -0 = +0).
        Operator::Eq if zero => Quality::new(S, U),
        Operator::NotEq if zero => Quality::new(U, S),
        Operator::Eq | Operator::NotEq => EXACT,
        // libkalam puts every NaN above c, totalOrder only positive ones:
        // `>` finds more rows TRUE, `<` fewer. Against -0, +0 rows differ too.
        Operator::Gt if neg_zero => Quality::new(U, U),
        Operator::Gt | Operator::GtEq => Quality::new(S, U),
        Operator::LtEq if neg_zero => Quality::new(U, U),
        Operator::Lt | Operator::LtEq => Quality::new(U, S),
        _ => Quality::new(U, U),
    }
}

/// Column types whose values libkalam can compare with a literal.
fn comparable(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Int8 | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float32
            | Float64
            | Boolean
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | BinaryView
            | FixedSizeBinary(_)
            | Decimal128(_, _)
            | Date32
            | Date64
            | Time32(_)
            | Time64(_)
            | Timestamp(_, _)
            | Duration(_)
    )
}

/// Whether a literal of type `lit` compares with a column of type `col`
/// exactly as DataFusion compares them. DataFusion's type coercion makes
/// both sides of a comparison one type (or wraps one side in a cast, which
/// is not translated), so only string and binary flavours are allowed to
/// differ: they all compare byte-wise.
fn compatible(lit: &DataType, col: &DataType) -> bool {
    use DataType::*;
    let strings = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let binaries = |t: &DataType| matches!(t, Binary | LargeBinary | BinaryView);
    lit == col || (strings(lit) && strings(col)) || (binaries(lit) && binaries(col))
}

/// Renders `v` for a comparison with a column of type `col`; None when the
/// literal cannot be written exactly in the filter language.
fn literal(v: &ScalarValue, col: &DataType) -> Option<Lit> {
    if let ScalarValue::Dictionary(_, inner) = v {
        return literal(inner, col);
    }
    if !comparable(col) {
        return None;
    }
    if v.is_null() {
        let ok = matches!(v, ScalarValue::Null) || compatible(&v.data_type(), col);
        return ok.then(|| Lit {
            sql: "NULL".to_string(),
            float: None,
            null: true,
        });
    }
    if !compatible(&v.data_type(), col) {
        return None;
    }
    let plain = |sql: String| {
        Some(Lit {
            sql,
            float: None,
            null: false,
        })
    };
    use ScalarValue as S;
    match v {
        S::Boolean(Some(b)) => plain(if *b { "TRUE" } else { "FALSE" }.to_string()),
        S::Int8(Some(x)) => plain(x.to_string()),
        S::Int16(Some(x)) => plain(x.to_string()),
        S::Int32(Some(x)) => plain(x.to_string()),
        S::Int64(Some(x)) => plain(x.to_string()),
        S::UInt8(Some(x)) => plain(x.to_string()),
        S::UInt16(Some(x)) => plain(x.to_string()),
        S::UInt32(Some(x)) => plain(x.to_string()),
        S::UInt64(Some(x)) => plain(x.to_string()),
        // libkalam compares in float64; a float32 widens exactly, and Rust's
        // shortest round-trip rendering parses back to the same float64.
        S::Float32(Some(x)) => float_lit(*x as f64),
        S::Float64(Some(x)) => float_lit(*x),
        S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) => plain(quote_str(s)?),
        // Binary literals are written as strings (libkalam takes their
        // bytes), so only bytes that are UTF-8 can be written.
        S::Binary(Some(b))
        | S::LargeBinary(Some(b))
        | S::BinaryView(Some(b))
        | S::FixedSizeBinary(_, Some(b)) => plain(quote_str(std::str::from_utf8(b).ok()?)?),
        S::Decimal128(Some(x), _, scale) => plain(decimal_text(*x, *scale)),
        S::Date32(Some(d)) => plain(date_text(*d as i64).unwrap_or_else(|| d.to_string())),
        S::Date64(Some(ms)) => {
            let text = if ms.rem_euclid(86_400_000) == 0 {
                date_text(ms.div_euclid(86_400_000))
            } else {
                None
            };
            plain(text.unwrap_or_else(|| ms.to_string()))
        }
        // Raw values in the column's unit: exact, and what libkalam takes
        // for an integer literal against a temporal column.
        S::Time32Second(Some(x)) | S::Time32Millisecond(Some(x)) => plain(x.to_string()),
        S::Time64Microsecond(Some(x)) | S::Time64Nanosecond(Some(x)) => plain(x.to_string()),
        S::DurationSecond(Some(x))
        | S::DurationMillisecond(Some(x))
        | S::DurationMicrosecond(Some(x))
        | S::DurationNanosecond(Some(x)) => plain(x.to_string()),
        S::TimestampSecond(Some(x), tz) => {
            plain(timestamp_text(*x, TimeUnit::Second, tz.is_some()))
        }
        S::TimestampMillisecond(Some(x), tz) => {
            plain(timestamp_text(*x, TimeUnit::Millisecond, tz.is_some()))
        }
        S::TimestampMicrosecond(Some(x), tz) => {
            plain(timestamp_text(*x, TimeUnit::Microsecond, tz.is_some()))
        }
        S::TimestampNanosecond(Some(x), tz) => {
            plain(timestamp_text(*x, TimeUnit::Nanosecond, tz.is_some()))
        }
        _ => None,
    }
}

fn float_lit(x: f64) -> Option<Lit> {
    // libkalam's grammar has no NaN or infinity, and a literal beyond the
    // float64 range means something else there.
    if !x.is_finite() {
        return None;
    }
    Some(Lit {
        sql: format!("{x:?}"),
        float: Some(x),
        null: false,
    })
}

/// The exact decimal text of an unscaled decimal128 value.
fn decimal_text(v: i128, scale: i8) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let digits = v.unsigned_abs().to_string();
    if scale <= 0 {
        let zeros = if v == 0 {
            String::new()
        } else {
            "0".repeat(scale.unsigned_abs() as usize)
        };
        return format!("{sign}{digits}{zeros}");
    }
    let s = scale as usize;
    let padded = if digits.len() <= s {
        format!("{}{}", "0".repeat(s + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - s);
    format!("{sign}{int}.{frac}")
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// 'YYYY-MM-DD' for a day count, when the year has four digits (what
/// libkalam's date syntax takes); None otherwise.
fn date_ymd(days: i64) -> Option<String> {
    let (y, m, d) = civil_from_days(days);
    (1..=9999)
        .contains(&y)
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

fn date_text(days: i64) -> Option<String> {
    date_ymd(days).map(|s| format!("'{s}'"))
}

/// An ISO-8601 literal with every digit of the unit ('Z' for a zoned
/// column: the raw value is a UTC instant; none for a naive one, which
/// libkalam reads as written), or the raw integer outside years 1-9999.
fn timestamp_text(v: i64, unit: TimeUnit, zoned: bool) -> String {
    let (per_sec, digits) = match unit {
        TimeUnit::Second => (1i64, 0usize),
        TimeUnit::Millisecond => (1_000, 3),
        TimeUnit::Microsecond => (1_000_000, 6),
        TimeUnit::Nanosecond => (1_000_000_000, 9),
    };
    let secs = v.div_euclid(per_sec);
    let sub = v.rem_euclid(per_sec);
    let Some(date) = date_ymd(secs.div_euclid(86_400)) else {
        return v.to_string();
    };
    let sod = secs.rem_euclid(86_400);
    let mut s = format!(
        "'{date}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if digits > 0 {
        s.push_str(&format!(".{sub:0digits$}"));
    }
    if zoned {
        s.push('Z');
    }
    s.push('\'');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use TableProviderFilterPushDown::{Exact, Inexact, Unsupported};
    use arrow::datatypes::Field;
    use datafusion_common::Column;
    use datafusion_expr::{col, lit};
    use std::sync::Arc;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("i8", DataType::Int8, true),
            Field::new("u64", DataType::UInt64, true),
            Field::new("f", DataType::Float64, true),
            Field::new("f32", DataType::Float32, true),
            Field::new("f16", DataType::Float16, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("ls", DataType::LargeUtf8, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("bin", DataType::Binary, true),
            Field::new("dec", DataType::Decimal128(10, 2), true),
            Field::new("dneg", DataType::Decimal128(10, -2), true),
            Field::new("d", DataType::Date32, true),
            Field::new("d64", DataType::Date64, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("tsn", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("tss", DataType::Timestamp(TimeUnit::Second, None), true),
            Field::new("t64", DataType::Time64(TimeUnit::Microsecond), true),
            Field::new("dur", DataType::Duration(TimeUnit::Millisecond), true),
            Field::new(
                "lst",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ),
            Field::new("between", DataType::Int32, true),
            Field::new("Mixed Case", DataType::Int32, true),
            Field::new("select", DataType::Int32, true),
            Field::new("q\"uote", DataType::Int32, true),
        ])
    }

    fn c(name: &str) -> Expr {
        Expr::Column(Column::new_unqualified(name))
    }

    fn check(e: Expr, want: &str, class: TableProviderFilterPushDown) {
        let got = translate(&e, &schema()).unwrap_or_else(|| panic!("{e} was not translated"));
        assert_eq!(got.filter, want, "translation of {e}");
        assert_eq!(got.pushdown, class, "pushdown class of {e}");
        assert_eq!(pushdown(&e, &schema()), class);
    }

    fn unsupported(e: Expr) {
        assert_eq!(
            translate(&e, &schema()),
            None,
            "{e} should not be translated"
        );
        assert_eq!(pushdown(&e, &schema()), Unsupported);
    }

    #[test]
    fn comparisons_of_integers() {
        check(col("id").eq(lit(5i64)), "id = 5", Exact);
        check(col("id").not_eq(lit(5i64)), "id <> 5", Exact);
        check(col("id").lt(lit(-5i64)), "id < -5", Exact);
        check(
            col("id").lt_eq(lit(i64::MIN)),
            "id <= -9223372036854775808",
            Exact,
        );
        check(col("id").gt(lit(0i64)), "id > 0", Exact);
        check(col("id").gt_eq(lit(10i64)), "id >= 10", Exact);
        check(
            col("u64").eq(lit(u64::MAX)),
            "u64 = 18446744073709551615",
            Exact,
        );
        check(col("i8").eq(lit(-128i8)), "i8 = -128", Exact);
    }

    #[test]
    fn literal_on_the_left_is_flipped() {
        check(lit(10i64).lt(col("id")), "id > 10", Exact);
        check(lit(10i64).lt_eq(col("id")), "id >= 10", Exact);
        check(lit(10i64).eq(col("id")), "id = 10", Exact);
    }

    #[test]
    fn mismatched_literal_types_are_not_translated() {
        // DataFusion coerces both sides to one type; a mismatch means a
        // cast elsewhere, whose semantics we do not copy.
        unsupported(col("id").eq(lit(5i32)));
        unsupported(col("i8").eq(lit(5i64)));
        unsupported(col("s").eq(lit(5i64)));
        unsupported(col("f").eq(lit(1.5f32)));
        unsupported(col("d").eq(lit(ScalarValue::Date64(Some(0)))));
        unsupported(col("ts").eq(lit(ScalarValue::TimestampMillisecond(Some(0), None))));
        unsupported(col("ts").eq(lit(ScalarValue::TimestampMillisecond(
            Some(0),
            Some("+01:00".into()),
        ))));
    }

    #[test]
    fn strings_and_binaries() {
        check(col("s").eq(lit("x")), "s = 'x'", Exact);
        check(col("s").eq(lit("it's")), "s = 'it''s'", Exact);
        check(col("s").gt_eq(lit("")), "s >= ''", Exact);
        check(col("s").eq(lit("a\nb \"q\"")), "s = 'a\nb \"q\"'", Exact);
        check(col("ls").eq(lit("y")), "ls = 'y'", Exact);
        check(
            col("s").eq(lit(ScalarValue::LargeUtf8(Some("z".into())))),
            "s = 'z'",
            Exact,
        );
        check(
            col("s").eq(lit(ScalarValue::Utf8View(Some("v".into())))),
            "s = 'v'",
            Exact,
        );
        unsupported(col("s").eq(lit("nul\0inside")));
        check(
            col("bin").eq(lit(ScalarValue::Binary(Some(b"ab'c".to_vec())))),
            "bin = 'ab''c'",
            Exact,
        );
        unsupported(col("bin").eq(lit(ScalarValue::Binary(Some(vec![0xff, 0xfe])))));
    }

    #[test]
    fn booleans() {
        check(col("b").eq(lit(true)), "b = TRUE", Exact);
        check(col("b"), "b = TRUE", Exact);
        check(!col("b"), "NOT (b = TRUE)", Exact);
        check(col("b").is_true(), "b IS NOT NULL AND b = TRUE", Exact);
        check(col("b").is_false(), "b IS NOT NULL AND b = FALSE", Exact);
        check(col("b").is_not_true(), "b IS NULL OR b = FALSE", Exact);
        check(col("b").is_not_false(), "b IS NULL OR b = TRUE", Exact);
        check(col("b").is_unknown(), "b IS NULL", Exact);
        check(col("b").is_not_unknown(), "b IS NOT NULL", Exact);
        check(lit(true), "TRUE", Exact);
        check(lit(false), "FALSE", Exact);
        check(lit(ScalarValue::Boolean(None)), "id = NULL", Exact);
        // What DataFusion keeps of `x IN (1, NULL)` and `x NOT IN (1, NULL)`.
        check(
            col("id").eq(lit(1i64)).or(lit(ScalarValue::Boolean(None))),
            "id = 1 OR id = NULL",
            Exact,
        );
        check(!lit(ScalarValue::Boolean(None)), "NOT (id = NULL)", Exact);
        unsupported(col("id").is_true());
        unsupported(col("s"));
    }

    #[test]
    fn nulls() {
        check(col("s").is_null(), "s IS NULL", Exact);
        check(col("lst").is_not_null(), "lst IS NOT NULL", Exact);
        check(
            col("id").eq(lit(ScalarValue::Int64(None))),
            "id = NULL",
            Exact,
        );
        check(col("id").eq(lit(ScalarValue::Null)), "id = NULL", Exact);
        check(
            col("id").in_list(vec![lit(1i64), lit(ScalarValue::Int64(None))], true),
            "id NOT IN (1, NULL)",
            Exact,
        );
        check(
            Expr::BinaryExpr(BinaryExpr::new(
                Box::new(col("id")),
                Operator::IsNotDistinctFrom,
                Box::new(lit(3i64)),
            )),
            "id IS NOT NULL AND id = 3",
            Exact,
        );
        check(
            Expr::BinaryExpr(BinaryExpr::new(
                Box::new(col("id")),
                Operator::IsDistinctFrom,
                Box::new(lit(3i64)),
            )),
            "id IS NULL OR id <> 3",
            Exact,
        );
        check(
            Expr::BinaryExpr(BinaryExpr::new(
                Box::new(col("id")),
                Operator::IsDistinctFrom,
                Box::new(lit(ScalarValue::Int64(None))),
            )),
            "id IS NOT NULL",
            Exact,
        );
        // Nested columns support only IS [NOT] NULL in libkalam.
        unsupported(col("lst").eq(lit(ScalarValue::Int32(Some(1)))));
        unsupported(col("f16").eq(lit(ScalarValue::new_one(&DataType::Float16).unwrap())));
    }

    #[test]
    fn in_lists_and_between() {
        check(
            col("id").in_list(vec![lit(1i64), lit(2i64)], false),
            "id IN (1, 2)",
            Exact,
        );
        check(
            col("s").in_list(vec![lit("a"), lit("b'")], true),
            "s NOT IN ('a', 'b''')",
            Exact,
        );
        check(
            col("id").between(lit(1i64), lit(9i64)),
            "id BETWEEN 1 AND 9",
            Exact,
        );
        check(
            col("id").not_between(lit(1i64), lit(9i64)),
            "NOT (id BETWEEN 1 AND 9)",
            Exact,
        );
        unsupported(col("id").in_list(vec![lit(1i64), col("i8")], false));
        unsupported(col("id").in_list(vec![], false));
        unsupported(col("id").between(lit(1i64), col("id")));
    }

    #[test]
    fn connectives_and_precedence() {
        check(
            col("id").gt(lit(1i64)).and(col("s").eq(lit("x"))),
            "id > 1 AND s = 'x'",
            Exact,
        );
        check(
            col("id")
                .gt(lit(1i64))
                .or(col("id").lt(lit(-1i64)))
                .and(col("s").is_null()),
            "(id > 1 OR id < -1) AND s IS NULL",
            Exact,
        );
        check(
            col("id")
                .eq(lit(1i64))
                .and(col("s").is_null())
                .or(col("id").eq(lit(2i64))),
            "id = 1 AND s IS NULL OR id = 2",
            Exact,
        );
        check(
            !(col("id").eq(lit(1i64)).or(col("id").eq(lit(2i64)))),
            "NOT (id = 1 OR id = 2)",
            Exact,
        );
        check(
            col("b").is_not_true().and(col("id").eq(lit(1i64))),
            "(b IS NULL OR b = FALSE) AND id = 1",
            Exact,
        );
        // One untranslatable operand makes the whole expression unsupported
        // (DataFusion splits top-level ANDs itself before asking).
        unsupported(col("id").gt(lit(1i64)).and(col("id").gt(col("i8"))));
        unsupported(
            col("id")
                .gt(lit(1i64))
                .or(Expr::Column(Column::new_unqualified("nope")).eq(lit(1i64))),
        );
    }

    #[test]
    fn long_chains_are_flat_and_deep_nesting_is_refused() {
        let mut e = col("id").eq(lit(0i64));
        for i in 1..5000i64 {
            e = e.or(col("id").eq(lit(i)));
        }
        let t = translate(&e, &schema()).expect("a long OR chain translates");
        assert!(t.filter.starts_with("id = 0 OR id = 1 OR "));
        assert_eq!(t.filter.matches(" OR ").count(), 4999);
        let mut deep = col("id").eq(lit(0i64));
        for _ in 0..(MAX_DEPTH + 5) {
            deep = !deep;
        }
        unsupported(deep);
    }

    #[test]
    fn identifiers_are_quoted_when_needed() {
        check(c("between").eq(lit(1i32)), "\"between\" = 1", Exact);
        check(c("select").eq(lit(1i32)), "select = 1", Exact);
        check(c("Mixed Case").eq(lit(1i32)), "\"Mixed Case\" = 1", Exact);
        check(c("q\"uote").eq(lit(1i32)), "\"q\"\"uote\" = 1", Exact);
        unsupported(c("missing").eq(lit(1i32)));
        assert_eq!(quote_ident("_x9"), Some("_x9".into()));
        assert_eq!(quote_ident("9x"), Some("\"9x\"".into()));
        assert_eq!(quote_ident("null"), Some("\"null\"".into()));
        assert_eq!(quote_ident("é"), Some("\"é\"".into()));
        assert_eq!(quote_ident(""), None);
    }

    #[test]
    fn floats_follow_total_order_rules() {
        check(col("f").eq(lit(1.5f64)), "f = 1.5", Exact);
        check(col("f").not_eq(lit(-2.25f64)), "f <> -2.25", Exact);
        check(col("f").eq(lit(0.1f64)), "f = 0.1", Exact);
        check(col("f").eq(lit(1e-7f64)), "f = 1e-7", Exact);
        check(col("f").eq(lit(1e300f64)), "f = 1e300", Exact);
        check(
            col("f").in_list(vec![lit(1.0f64), lit(2.0f64)], false),
            "f IN (1.0, 2.0)",
            Exact,
        );
        check(
            col("f").between(lit(1.0f64), lit(2.0f64)),
            "f BETWEEN 1.0 AND 2.0",
            Exact,
        );
        // Every NaN is above c for libkalam, only positive ones for
        // DataFusion: `>` is a superset, `<` would lose negative NaNs.
        check(col("f").gt(lit(20.0f64)), "f > 20.0", Inexact);
        check(col("f").gt_eq(lit(20.0f64)), "f >= 20.0", Inexact);
        unsupported(col("f").lt(lit(20.0f64)));
        unsupported(col("f").lt_eq(lit(20.0f64)));
        // ... and under NOT the roles swap.
        check(!col("f").lt(lit(20.0f64)), "NOT (f < 20.0)", Inexact);
        unsupported(!col("f").gt(lit(20.0f64)));
        // Zero: libkalam has -0 = +0, totalOrder -0 < +0.
        check(col("f").eq(lit(0.0f64)), "f = 0.0", Inexact);
        check(col("f").eq(lit(-0.0f64)), "f = -0.0", Inexact);
        unsupported(col("f").not_eq(lit(0.0f64)));
        check(col("f").gt(lit(0.0f64)), "f > 0.0", Inexact);
        unsupported(col("f").gt(lit(-0.0f64)));
        check(
            col("f").between(lit(0.0f64), lit(1.0f64)),
            "f BETWEEN 0.0 AND 1.0",
            Inexact,
        );
        unsupported(col("f").not_between(lit(0.0f64), lit(1.0f64)));
        check(
            col("f").in_list(vec![lit(0.0f64), lit(2.0f64)], false),
            "f IN (0.0, 2.0)",
            Inexact,
        );
        unsupported(col("f").in_list(vec![lit(0.0f64)], true));
        // A superset inside AND stays a superset; an exact part keeps it so.
        check(
            col("f").gt(lit(1.0f64)).and(col("id").eq(lit(1i64))),
            "f > 1.0 AND id = 1",
            Inexact,
        );
        unsupported(col("f").eq(lit(f64::NAN)));
        unsupported(col("f").lt(lit(f64::INFINITY)));
        // float32: the float64 of the float32 value, exactly.
        check(
            col("f32").eq(lit(0.1f32)),
            "f32 = 0.10000000149011612",
            Exact,
        );
        check(col("f32").eq(lit(2.5f32)), "f32 = 2.5", Exact);
    }

    #[test]
    fn decimals() {
        check(
            col("dec").eq(lit(ScalarValue::Decimal128(Some(12345), 10, 2))),
            "dec = 123.45",
            Exact,
        );
        check(
            col("dec").eq(lit(ScalarValue::Decimal128(Some(-5), 10, 2))),
            "dec = -0.05",
            Exact,
        );
        check(
            col("dec").eq(lit(ScalarValue::Decimal128(Some(0), 10, 2))),
            "dec = 0.00",
            Exact,
        );
        check(
            col("dec").gt(lit(ScalarValue::Decimal128(Some(-100), 10, 2))),
            "dec > -1.00",
            Exact,
        );
        check(
            col("dneg").eq(lit(ScalarValue::Decimal128(Some(7), 10, -2))),
            "dneg = 700",
            Exact,
        );
        unsupported(col("dec").eq(lit(ScalarValue::Decimal128(Some(1), 12, 2))));
        assert_eq!(
            decimal_text(i128::MIN, 0),
            "-170141183460469231731687303715884105728"
        );
        assert_eq!(decimal_text(1, 5), "0.00001");
    }

    #[test]
    fn dates_times_and_timestamps() {
        check(
            col("d").eq(lit(ScalarValue::Date32(Some(0)))),
            "d = '1970-01-01'",
            Exact,
        );
        check(
            col("d").lt(lit(ScalarValue::Date32(Some(19_844)))),
            "d < '2024-05-01'",
            Exact,
        );
        check(
            col("d").eq(lit(ScalarValue::Date32(Some(-719_162)))),
            "d = '0001-01-01'",
            Exact,
        );
        // Outside 4-digit years the raw day count is written.
        check(
            col("d").eq(lit(ScalarValue::Date32(Some(-719_163)))),
            "d = -719163",
            Exact,
        );
        check(
            col("d").eq(lit(ScalarValue::Date32(Some(2_932_897)))),
            "d = 2932897",
            Exact,
        );
        check(
            col("d64").eq(lit(ScalarValue::Date64(Some(86_400_000)))),
            "d64 = '1970-01-02'",
            Exact,
        );
        check(
            col("d64").eq(lit(ScalarValue::Date64(Some(86_400_001)))),
            "d64 = 86400001",
            Exact,
        );
        check(
            col("ts").gt_eq(lit(ScalarValue::TimestampMillisecond(
                Some(1_714_557_600_123),
                Some("UTC".into()),
            ))),
            "ts >= '2024-05-01T10:00:00.123Z'",
            Exact,
        );
        check(
            col("tsn").lt(lit(ScalarValue::TimestampNanosecond(Some(-1), None))),
            "tsn < '1969-12-31T23:59:59.999999999'",
            Exact,
        );
        check(
            col("tss").eq(lit(ScalarValue::TimestampSecond(
                Some(253_402_300_799),
                None,
            ))),
            "tss = '9999-12-31T23:59:59'",
            Exact,
        );
        check(
            col("tss").eq(lit(ScalarValue::TimestampSecond(
                Some(253_402_300_800),
                None,
            ))),
            "tss = 253402300800",
            Exact,
        );
        check(
            col("t64").eq(lit(ScalarValue::Time64Microsecond(Some(3_600_000_000)))),
            "t64 = 3600000000",
            Exact,
        );
        check(
            col("dur").gt(lit(ScalarValue::DurationMillisecond(Some(1500)))),
            "dur > 1500",
            Exact,
        );
    }

    #[test]
    fn unsupported_shapes() {
        use datafusion_expr::expr::Like;
        unsupported(col("id").gt(col("i8")));
        unsupported(lit(1i64).eq(lit(1i64)));
        unsupported(Expr::Like(Like::new(
            false,
            Box::new(col("s")),
            Box::new(lit("a%")),
            None,
            false,
        )));
        unsupported(
            Expr::Cast(datafusion_expr::expr::Cast::new(
                Box::new(col("i8")),
                DataType::Int64,
            ))
            .eq(lit(1i64)),
        );
        unsupported((col("id") + lit(1i64)).eq(lit(2i64)));
        unsupported(Expr::IsNull(Box::new(col("id") + lit(1i64))));
    }

    #[test]
    fn conjunction_ands_and_parenthesises() {
        let s = schema();
        assert_eq!(conjunction(&[], &s), Ok(None));
        assert_eq!(
            conjunction(&[col("id").gt(lit(1i64))], &s),
            Ok(Some("id > 1".into()))
        );
        assert_eq!(
            conjunction(
                &[
                    col("id").gt(lit(1i64)).or(col("id").is_null()),
                    col("s").eq(lit("x"))
                ],
                &s
            ),
            Ok(Some("(id > 1 OR id IS NULL) AND s = 'x'".into()))
        );
        let err = conjunction(&[col("id").gt(col("i8"))], &s).unwrap_err();
        assert!(err.contains("id > i8"), "{err}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_844), (2024, 5, 1));
    }
}
