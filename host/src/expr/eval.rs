//! Evaluation over whole columns. Each node takes its operands' columns (or
//! constants) and maps them in one loop the compiler can vectorize; a
//! column read by name is borrowed from the batch, not copied.

use std::borrow::Cow;

use chrono::DateTime;

use super::{Arithmetic, Comparison, Expr, Function, Node, RowFailures, Scalar};
use crate::data::{Batch, Column, ColumnBuilder, FieldType, Value};
use crate::format::timestamp;

/// An operand: a column of the batch's length, or one value for every row.
pub(super) enum Datum<'a> {
    Column(Cow<'a, Column>),
    Scalar(Scalar),
}

impl Datum<'_> {
    pub fn into_column(self, rows: usize) -> Column {
        match self {
            Datum::Column(column) => column.into_owned(),
            Datum::Scalar(value) => {
                let ty = value.ty();
                let mut builder = ColumnBuilder::new(ty, rows);
                for _ in 0..rows {
                    builder.push(scalar_value(&value));
                }
                builder.finish()
            }
        }
    }

    fn value(&self, row: usize) -> Value<'_> {
        match self {
            Datum::Column(column) => column.get(row),
            Datum::Scalar(value) => scalar_value(value),
        }
    }

    fn is_scalar(&self) -> bool {
        matches!(self, Datum::Scalar(_))
    }
}

fn scalar_value(value: &Scalar) -> Value<'_> {
    match value {
        Scalar::String(s) => Value::String(s),
        Scalar::F64(f) => Value::F64(*f),
        Scalar::I64(i) => Value::I64(*i),
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Timestamp(t) => Value::Timestamp(*t),
    }
}

/// Values of one fixed-size type: a slice, or one for all rows.
enum Side<'a, T: Clone> {
    Many(Cow<'a, [T]>),
    One(T),
}

impl<T: Copy> Side<'_, T> {
    fn get(&self, row: usize) -> T {
        match self {
            Side::Many(values) => values[row],
            Side::One(value) => *value,
        }
    }
}

/// `f` over two sides; two constants give a constant.
fn map2<A: Copy, B: Copy, R: Clone>(
    a: &Side<'_, A>,
    b: &Side<'_, B>,
    f: impl Fn(A, B) -> R,
) -> Side<'static, R> {
    Side::Many(Cow::Owned(match (a, b) {
        (Side::Many(x), Side::Many(y)) => x.iter().zip(y.iter()).map(|(&x, &y)| f(x, y)).collect(),
        (Side::Many(x), Side::One(y)) => x.iter().map(|&x| f(x, *y)).collect(),
        (Side::One(x), Side::Many(y)) => y.iter().map(|&y| f(*x, y)).collect(),
        (Side::One(x), Side::One(y)) => return Side::One(f(*x, *y)),
    }))
}

fn map1<A: Copy, R: Clone>(a: &Side<'_, A>, f: impl Fn(A) -> R) -> Side<'static, R> {
    match a {
        Side::Many(x) => Side::Many(Cow::Owned(x.iter().map(|&x| f(x)).collect())),
        Side::One(x) => Side::One(f(*x)),
    }
}

fn floats(datum: Datum<'_>) -> Side<'_, f64> {
    match datum {
        Datum::Column(Cow::Borrowed(Column::F64(v))) => Side::Many(Cow::Borrowed(v)),
        Datum::Column(Cow::Owned(Column::F64(v))) => Side::Many(Cow::Owned(v)),
        Datum::Scalar(Scalar::F64(f)) => Side::One(f),
        other => unreachable!("a {} operand where a float was checked", describe(&other)),
    }
}

fn ints(datum: Datum<'_>) -> Side<'_, i64> {
    match datum {
        Datum::Column(Cow::Borrowed(Column::I64(v) | Column::Timestamp(v))) => {
            Side::Many(Cow::Borrowed(v))
        }
        Datum::Column(Cow::Owned(Column::I64(v) | Column::Timestamp(v))) => {
            Side::Many(Cow::Owned(v))
        }
        Datum::Scalar(Scalar::I64(i) | Scalar::Timestamp(i)) => Side::One(i),
        other => unreachable!(
            "a {} operand where an integer was checked",
            describe(&other)
        ),
    }
}

fn bools(datum: Datum<'_>) -> Side<'_, bool> {
    match datum {
        Datum::Column(Cow::Borrowed(Column::Bool(v))) => Side::Many(Cow::Borrowed(v)),
        Datum::Column(Cow::Owned(Column::Bool(v))) => Side::Many(Cow::Owned(v)),
        Datum::Scalar(Scalar::Bool(b)) => Side::One(b),
        other => unreachable!("a {} operand where a boolean was checked", describe(&other)),
    }
}

fn describe(datum: &Datum<'_>) -> String {
    match datum {
        Datum::Column(c) => c.field_type().to_string(),
        Datum::Scalar(s) => s.ty().to_string(),
    }
}

fn string_at<'d>(datum: &'d Datum<'_>, row: usize) -> &'d str {
    match datum.value(row) {
        Value::String(s) => s,
        other => unreachable!("{other:?} where a string was checked"),
    }
}

fn from_side<T: Clone>(
    side: Side<'_, T>,
    column: fn(Vec<T>) -> Column,
    scalar: fn(T) -> Scalar,
) -> Datum<'static> {
    match side {
        Side::Many(values) => Datum::Column(Cow::Owned(column(values.into_owned()))),
        Side::One(value) => Datum::Scalar(scalar(value)),
    }
}

/// 64-bit integers as a datum of `ty`: BIGINT, or TIMESTAMP (epoch millis).
fn of_type(side: Side<'_, i64>, ty: FieldType) -> Datum<'static> {
    if ty == FieldType::Timestamp {
        from_side(side, Column::Timestamp, Scalar::Timestamp)
    } else {
        from_side(side, Column::I64, Scalar::I64)
    }
}

impl Scalar {
    fn retype(self, ty: FieldType) -> Scalar {
        match (self, ty) {
            (Scalar::I64(i), FieldType::Timestamp) => Scalar::Timestamp(i),
            (value, _) => value,
        }
    }
}

/// Integer results that may fail per row: failed rows get 0 and a reason.
fn checked_ints(
    side: Side<'static, Option<i64>>,
    failures: &mut RowFailures,
    reason: &dyn Fn() -> String,
) -> Side<'static, i64> {
    match side {
        Side::One(Some(v)) => Side::One(v),
        Side::One(None) => {
            failures.fail_every_row(reason());
            Side::One(0)
        }
        Side::Many(values) => Side::Many(Cow::Owned(
            values
                .iter()
                .enumerate()
                .map(|(row, v)| {
                    v.unwrap_or_else(|| {
                        failures.fail(row, reason);
                        0
                    })
                })
                .collect(),
        )),
    }
}

pub(super) struct Frame<'b> {
    batch: &'b Batch,
}

impl<'b> Frame<'b> {
    pub fn new(batch: &'b Batch) -> Self {
        Self { batch }
    }

    fn rows(&self) -> usize {
        self.batch.len()
    }

    pub fn evaluate(&self, expr: &Expr, failures: &mut RowFailures) -> Datum<'b> {
        let datum = self.node(expr, failures);
        failures.spread(self.rows());
        datum
    }

    fn node(&self, expr: &Expr, failures: &mut RowFailures) -> Datum<'b> {
        match &expr.node {
            Node::Column(index) => Datum::Column(Cow::Borrowed(&self.batch.columns[*index])),
            Node::Literal(value) => Datum::Scalar(value.clone()),
            Node::Not(value) => {
                let value = bools(self.node(value, failures));
                from_side(map1(&value, |b| !b), Column::Bool, Scalar::Bool)
            }
            Node::Negate(value) => match expr.ty {
                FieldType::F64 => from_side(
                    map1(&floats(self.node(value, failures)), |f| -f),
                    Column::F64,
                    Scalar::F64,
                ),
                _ => {
                    let negated = map1(&ints(self.node(value, failures)), i64::checked_neg);
                    of_type(
                        checked_ints(negated, failures, &|| {
                            "integer overflow in a negation".into()
                        }),
                        expr.ty,
                    )
                }
            },
            Node::And(left, right) => self.logic(left, right, true, failures),
            Node::Or(left, right) => self.logic(left, right, false, failures),
            Node::Arithmetic(op, left, right) => {
                self.arithmetic(*op, left, right, expr.ty, failures)
            }
            Node::Compare(op, left, right) => self.compare(*op, left, right, failures),
            Node::Case {
                branches,
                otherwise,
            } => self.case(branches, otherwise, expr.ty, failures),
            Node::Cast(value) => self.cast(value, expr.ty, failures),
            Node::Like {
                value,
                pattern,
                negated,
            } => {
                let value = self.node(value, failures);
                self.per_row(&[&value], FieldType::Bool, failures, |row| {
                    Ok(Scalar::Bool(
                        pattern.matches(string_at(&value, row)) != *negated,
                    ))
                })
            }
            Node::Call(function, args) => self.call(*function, args, expr.ty, failures),
        }
    }

    /// `AND` (`all`) or `OR`: the right side's failures count only for rows
    /// whose answer the left side did not settle.
    fn logic(&self, left: &Expr, right: &Expr, all: bool, failures: &mut RowFailures) -> Datum<'b> {
        let left = bools(self.node(left, failures));
        let mut right_failures = RowFailures::default();
        let right = bools(self.evaluate(right, &mut right_failures));
        failures.absorb_where(right_failures, |row| left.get(row) == all);
        let combined = if all {
            map2(&left, &right, |a, b| a && b)
        } else {
            map2(&left, &right, |a, b| a || b)
        };
        from_side(combined, Column::Bool, Scalar::Bool)
    }

    fn arithmetic(
        &self,
        op: Arithmetic,
        left: &Expr,
        right: &Expr,
        ty: FieldType,
        failures: &mut RowFailures,
    ) -> Datum<'b> {
        if ty == FieldType::F64 {
            let (a, b) = (
                floats(self.node(left, failures)),
                floats(self.node(right, failures)),
            );
            let out = match op {
                Arithmetic::Add => map2(&a, &b, |x, y| x + y),
                Arithmetic::Subtract => map2(&a, &b, |x, y| x - y),
                Arithmetic::Multiply => map2(&a, &b, |x, y| x * y),
                Arithmetic::Divide => map2(&a, &b, |x, y| x / y),
                Arithmetic::Modulo => map2(&a, &b, |x, y| x % y),
            };
            return from_side(out, Column::F64, Scalar::F64);
        }
        let (a, b) = (
            ints(self.node(left, failures)),
            ints(self.node(right, failures)),
        );
        let (out, reason): (_, &dyn Fn() -> String) = match op {
            Arithmetic::Add => (map2(&a, &b, i64::checked_add), &|| {
                "integer overflow in an addition".into()
            }),
            Arithmetic::Subtract => (map2(&a, &b, i64::checked_sub), &|| {
                "integer overflow in a subtraction".into()
            }),
            Arithmetic::Multiply => (map2(&a, &b, i64::checked_mul), &|| {
                "integer overflow in a multiplication".into()
            }),
            Arithmetic::Divide => (map2(&a, &b, i64::checked_div), &|| {
                "division by zero".into()
            }),
            Arithmetic::Modulo => (map2(&a, &b, i64::checked_rem), &|| {
                "division by zero (in a modulo)".into()
            }),
        };
        of_type(checked_ints(out, failures, reason), ty)
    }

    fn compare(
        &self,
        op: Comparison,
        left: &Expr,
        right: &Expr,
        failures: &mut RowFailures,
    ) -> Datum<'b> {
        macro_rules! compare {
            ($a:expr, $b:expr) => {{
                let (a, b) = (&$a, &$b);
                match op {
                    Comparison::Eq => map2(a, b, |x, y| x == y),
                    Comparison::NotEq => map2(a, b, |x, y| x != y),
                    Comparison::Lt => map2(a, b, |x, y| x < y),
                    Comparison::LtEq => map2(a, b, |x, y| x <= y),
                    Comparison::Gt => map2(a, b, |x, y| x > y),
                    Comparison::GtEq => map2(a, b, |x, y| x >= y),
                }
            }};
        }
        let out = match left.ty {
            FieldType::F64 => compare!(
                floats(self.node(left, failures)),
                floats(self.node(right, failures))
            ),
            FieldType::I64 | FieldType::Timestamp => {
                compare!(
                    ints(self.node(left, failures)),
                    ints(self.node(right, failures))
                )
            }
            FieldType::Bool => compare!(
                bools(self.node(left, failures)),
                bools(self.node(right, failures))
            ),
            FieldType::String => {
                let (a, b) = (self.node(left, failures), self.node(right, failures));
                return self.per_row(&[&a, &b], FieldType::Bool, failures, |row| {
                    let ordering = string_at(&a, row).cmp(string_at(&b, row));
                    Ok(Scalar::Bool(match op {
                        Comparison::Eq => ordering.is_eq(),
                        Comparison::NotEq => ordering.is_ne(),
                        Comparison::Lt => ordering.is_lt(),
                        Comparison::LtEq => ordering.is_le(),
                        Comparison::Gt => ordering.is_gt(),
                        Comparison::GtEq => ordering.is_ge(),
                    }))
                });
            }
        };
        from_side(out, Column::Bool, Scalar::Bool)
    }

    fn case(
        &self,
        branches: &[(Expr, Expr)],
        otherwise: &Expr,
        ty: FieldType,
        failures: &mut RowFailures,
    ) -> Datum<'b> {
        let rows = self.rows();
        let undecided = branches.len();
        let mut choice = vec![undecided; rows];
        let mut results = Vec::with_capacity(branches.len() + 1);
        for (index, (condition, result)) in branches.iter().enumerate() {
            let mut condition_failures = RowFailures::default();
            let condition = bools(self.evaluate(condition, &mut condition_failures));
            failures.absorb_where(condition_failures, |row| choice[row] == undecided);
            for (row, chosen) in choice.iter_mut().enumerate() {
                if *chosen == undecided && condition.get(row) {
                    *chosen = index;
                }
            }
            results.push(self.branch(result, failures, |row| choice[row] == index));
        }
        results.push(self.branch(otherwise, failures, |row| choice[row] == undecided));
        let mut out = ColumnBuilder::new(ty, rows);
        for (row, &chosen) in choice.iter().enumerate() {
            out.push(results[chosen].value(row));
        }
        Datum::Column(Cow::Owned(out.finish()))
    }

    fn branch(
        &self,
        result: &Expr,
        failures: &mut RowFailures,
        taken: impl Fn(usize) -> bool,
    ) -> Datum<'b> {
        let mut branch_failures = RowFailures::default();
        let value = self.evaluate(result, &mut branch_failures);
        failures.absorb_where(branch_failures, taken);
        value
    }

    fn cast(&self, value: &Expr, to: FieldType, failures: &mut RowFailures) -> Datum<'b> {
        let from = value.ty;
        let value = self.node(value, failures);
        match (from, to) {
            (FieldType::I64, FieldType::F64) => {
                from_side(map1(&ints(value), |i| i as f64), Column::F64, Scalar::F64)
            }
            (FieldType::I64, FieldType::Timestamp) | (FieldType::Timestamp, FieldType::I64) => {
                of_type(ints(value), to)
            }
            (FieldType::F64, FieldType::I64) => {
                let truncated = map1(&floats(value), |f| {
                    (f.is_finite() && f.abs() < 9.2e18).then(|| f.trunc() as i64)
                });
                of_type(
                    checked_ints(truncated, failures, &|| {
                        "a float outside the range of a 64-bit integer cannot be CAST to BIGINT"
                            .into()
                    }),
                    to,
                )
            }
            (FieldType::I64, FieldType::Bool) => {
                from_side(map1(&ints(value), |i| i != 0), Column::Bool, Scalar::Bool)
            }
            (FieldType::Bool, FieldType::String)
            | (FieldType::F64 | FieldType::I64 | FieldType::Timestamp, FieldType::String) => self
                .per_row(&[&value], to, failures, |row| {
                    Ok(Scalar::String(to_text(value.value(row))))
                }),
            (FieldType::String, _) => self.per_row(&[&value], to, failures, |row| {
                let text = string_at(&value, row);
                parse_text(text.trim(), to)
                    .ok_or_else(|| format!("`{text}` cannot be CAST to {to}"))
            }),
            (from, to) => unreachable!("a CAST from {from} to {to} the compiler refuses"),
        }
    }

    fn call(
        &self,
        function: Function,
        args: &[Expr],
        ty: FieldType,
        failures: &mut RowFailures,
    ) -> Datum<'b> {
        let values: Vec<Datum<'b>> = args.iter().map(|a| self.node(a, failures)).collect();
        let refs: Vec<&Datum<'b>> = values.iter().collect();
        let int = |row: usize, i: usize| match values[i].value(row) {
            Value::I64(v) | Value::Timestamp(v) => v,
            other => unreachable!("{other:?} where an integer was checked"),
        };
        match function {
            Function::Lower => self.per_row(&refs, ty, failures, |row| {
                Ok(Scalar::String(string_at(&values[0], row).to_lowercase()))
            }),
            Function::Upper => self.per_row(&refs, ty, failures, |row| {
                Ok(Scalar::String(string_at(&values[0], row).to_uppercase()))
            }),
            Function::CharLength => self.per_row(&refs, ty, failures, |row| {
                Ok(Scalar::I64(
                    string_at(&values[0], row).chars().count() as i64
                ))
            }),
            Function::Trim(side) => self.per_row(&refs, ty, failures, |row| {
                Ok(Scalar::String(
                    side.trim(string_at(&values[0], row)).to_string(),
                ))
            }),
            Function::Concat => self.per_row(&refs, ty, failures, |row| {
                Ok(Scalar::String(
                    values.iter().map(|v| to_text(v.value(row))).collect(),
                ))
            }),
            Function::Substring => self.per_row(&refs, ty, failures, |row| {
                let text = string_at(&values[0], row);
                let start = int(row, 1);
                let length = (values.len() > 2).then(|| int(row, 2));
                substring(text, start, length).map(Scalar::String)
            }),
            Function::Abs | Function::Floor | Function::Ceil | Function::Round
                if ty == FieldType::F64 =>
            {
                let f: fn(f64) -> f64 = match function {
                    Function::Abs => f64::abs,
                    Function::Floor => f64::floor,
                    Function::Ceil => f64::ceil,
                    _ => f64::round,
                };
                let value = values.into_iter().next().expect("one argument");
                from_side(map1(&floats(value), f), Column::F64, Scalar::F64)
            }
            Function::Abs => {
                let value = values.into_iter().next().expect("one argument");
                let out = map1(&ints(value), i64::checked_abs);
                of_type(
                    checked_ints(out, failures, &|| "integer overflow in ABS".into()),
                    ty,
                )
            }
            Function::Floor | Function::Ceil | Function::Round => {
                values.into_iter().next().expect("one argument")
            }
            Function::Extract(part) => self.per_row(&refs, ty, failures, |row| {
                part.of(int(row, 0))
                    .map(Scalar::I64)
                    .ok_or_else(|| "a timestamp outside the calendar".to_string())
            }),
            Function::DateFormat => self.per_row(&refs, ty, failures, |row| {
                let format = string_at(&values[1], row);
                DateTime::from_timestamp_millis(int(row, 0))
                    .map(|t| Scalar::String(t.format(format).to_string()))
                    .ok_or_else(|| "a timestamp outside the calendar".to_string())
            }),
        }
    }

    /// A row-at-a-time node (strings, casts): computed once when every
    /// operand is a constant.
    fn per_row(
        &self,
        operands: &[&Datum<'_>],
        ty: FieldType,
        failures: &mut RowFailures,
        f: impl Fn(usize) -> Result<Scalar, String>,
    ) -> Datum<'b> {
        if operands.iter().all(|d| d.is_scalar()) {
            return match f(0) {
                Ok(value) => Datum::Scalar(value.retype(ty)),
                Err(reason) => {
                    failures.fail_every_row(reason);
                    Datum::Scalar(placeholder(ty))
                }
            };
        }
        let rows = self.rows();
        let mut out = ColumnBuilder::new(ty, rows);
        let fallback = placeholder(ty);
        for row in 0..rows {
            match f(row) {
                Ok(value) => out.push(scalar_value(&value.retype(ty))),
                Err(reason) => {
                    failures.fail(row, || reason);
                    out.push(scalar_value(&fallback));
                }
            }
        }
        Datum::Column(Cow::Owned(out.finish()))
    }
}

fn placeholder(ty: FieldType) -> Scalar {
    match ty {
        FieldType::String => Scalar::String(String::new()),
        FieldType::F64 => Scalar::F64(0.0),
        FieldType::I64 => Scalar::I64(0),
        FieldType::Bool => Scalar::Bool(false),
        FieldType::Timestamp => Scalar::Timestamp(0),
    }
}

/// A value as `CAST(… AS STRING)` writes it, as Flink does: `100.0`,
/// `TRUE`, `2023-12-31 23:59:58.890`.
pub(super) fn to_text(value: Value<'_>) -> String {
    match value {
        Value::String(s) => s.to_string(),
        Value::F64(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.1}"),
        Value::F64(f) => f.to_string(),
        Value::I64(i) => i.to_string(),
        Value::Bool(b) => if b { "TRUE" } else { "FALSE" }.to_string(),
        Value::Timestamp(t) => DateTime::from_timestamp_millis(t).map_or_else(
            || t.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        ),
    }
}

fn parse_text(text: &str, to: FieldType) -> Option<Scalar> {
    Some(match to {
        FieldType::String => Scalar::String(text.to_string()),
        FieldType::F64 => Scalar::F64(text.parse().ok()?),
        FieldType::I64 => Scalar::I64(text.parse().ok()?),
        FieldType::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Scalar::Bool(true),
            "false" => Scalar::Bool(false),
            _ => return None,
        },
        FieldType::Timestamp => Scalar::Timestamp(timestamp::parse(text)?),
    })
}

/// SQL's `SUBSTRING`: 1-based, a start before 1 eats into the length.
fn substring(text: &str, start: i64, length: Option<i64>) -> Result<String, String> {
    if length.is_some_and(|l| l < 0) {
        return Err(format!(
            "SUBSTRING with a negative length ({})",
            length.unwrap_or(0)
        ));
    }
    let end = length.map_or(i64::MAX, |l| start.saturating_add(l));
    let from = start.max(1);
    if end <= from {
        return Ok(String::new());
    }
    Ok(text
        .chars()
        .skip((from - 1) as usize)
        .take(usize::try_from(end - from).unwrap_or(usize::MAX))
        .collect())
}
