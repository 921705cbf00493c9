//! SQL expressions evaluated natively over whole columns: the `WHERE`,
//! `HAVING` and `SELECT` of SQL scripts, and the `where`, `having` and
//! computed fields of pipeline files. Parsed by `sqlparser`, checked against
//! a schema once, then run batch by batch without a per-row interpreter
//! dispatch: each node maps whole columns.
//!
//! weir's fields have no NULL yet, so `IS NULL` is false and a `CASE`
//! needs an `ELSE`. A row whose value cannot be computed (a division by
//! zero, a failed `CAST`) is not given a made-up value: the operator sends
//! it to the dead letters with the reason.

mod compile;
mod eval;
mod text;

use std::collections::BTreeMap;
use std::fmt;

use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

pub use compile::{field_type, interval_ms, Resolver};

use crate::data::{Batch, Column, FieldType, Schema};

/// A checked expression and the type of its values.
#[derive(Debug, Clone)]
pub struct Expr {
    node: Node,
    ty: FieldType,
}

#[derive(Debug, Clone)]
enum Node {
    Column(usize),
    Literal(Scalar),
    Not(Box<Expr>),
    Negate(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Arithmetic(Arithmetic, Box<Expr>, Box<Expr>),
    Compare(Comparison, Box<Expr>, Box<Expr>),
    Case {
        branches: Vec<(Expr, Expr)>,
        otherwise: Box<Expr>,
    },
    Cast(Box<Expr>),
    Like {
        value: Box<Expr>,
        pattern: text::LikePattern,
        negated: bool,
    },
    Call(Function, Vec<Expr>),
}

/// One value, owned: a literal, or a constant folded from literals.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    String(String),
    F64(f64),
    I64(i64),
    Bool(bool),
    Timestamp(i64),
}

impl Scalar {
    fn ty(&self) -> FieldType {
        match self {
            Scalar::String(_) => FieldType::String,
            Scalar::F64(_) => FieldType::F64,
            Scalar::I64(_) => FieldType::I64,
            Scalar::Bool(_) => FieldType::Bool,
            Scalar::Timestamp(_) => FieldType::Timestamp,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arithmetic {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Lower,
    Upper,
    CharLength,
    Concat,
    /// `SUBSTRING(s FROM start [FOR length])`, 1-based as SQL counts.
    Substring,
    Trim(text::TrimSide),
    Abs,
    Floor,
    Ceil,
    Round,
    Extract(text::TimePart),
    DateFormat,
}

/// Where and why an expression was refused: `offset` is a byte offset into
/// the expression's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    pub offset: Option<usize>,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Rows whose value could not be computed, each with the first reason.
#[derive(Debug, Default)]
pub struct RowFailures {
    rows: BTreeMap<u32, String>,
    /// A constant that cannot be computed (`1 / 0`) fails every row.
    every_row: Option<String>,
}

impl RowFailures {
    fn fail(&mut self, row: usize, reason: impl FnOnce() -> String) {
        self.rows.entry(row as u32).or_insert_with(reason);
    }

    fn fail_every_row(&mut self, reason: String) {
        self.every_row.get_or_insert(reason);
    }

    /// Turns a failure of every row into one per row of a batch of `rows`.
    fn spread(&mut self, rows: usize) {
        if let Some(reason) = self.every_row.take() {
            for row in 0..rows {
                self.fail(row, || reason.clone());
            }
        }
    }

    /// Keeps the failures of rows for which `keep` is true: a branch not
    /// taken (`CASE`, `AND`, `OR`) must not fail its row.
    fn absorb_where(&mut self, other: RowFailures, keep: impl Fn(usize) -> bool) {
        for (row, reason) in other.rows {
            if keep(row as usize) {
                self.rows.entry(row).or_insert(reason);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The failed rows, ascending.
    pub fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.rows.keys().map(|&row| row as usize)
    }

    /// The failed rows, ascending, with their reasons.
    pub fn into_rows(self) -> impl Iterator<Item = (usize, String)> {
        self.rows
            .into_iter()
            .map(|(row, reason)| (row as usize, reason))
    }
}

impl Expr {
    /// Parses and checks `text` against `schema`.
    pub fn parse(text: &str, schema: &Schema) -> Result<Expr, ExprError> {
        let ast = parse_ast(text)?;
        Resolver::new(schema).compile(&ast, text)
    }

    pub fn ty(&self) -> FieldType {
        self.ty
    }

    /// The input column it reads, when it is nothing but that column.
    pub fn as_column(&self) -> Option<usize> {
        match self.node {
            Node::Column(index) => Some(index),
            _ => None,
        }
    }

    /// The column of its values for every row of `batch`; rows it cannot
    /// compute are added to `failures` (their value in the column is a
    /// placeholder).
    pub fn evaluate(&self, batch: &Batch, failures: &mut RowFailures) -> Column {
        eval::Frame::new(batch)
            .evaluate(self, failures)
            .into_column(batch.len())
    }

    /// The rows for which a boolean expression is true, ascending, without
    /// the rows that failed (those are in `failures`).
    pub fn select(&self, batch: &Batch, failures: &mut RowFailures) -> Vec<u32> {
        debug_assert_eq!(self.ty, FieldType::Bool);
        let keep = self.evaluate(batch, failures);
        let Column::Bool(keep) = keep else {
            unreachable!("a predicate evaluates to booleans")
        };
        keep.iter()
            .enumerate()
            .filter(|&(row, &keep)| keep && !failures.rows.contains_key(&(row as u32)))
            .map(|(row, _)| row as u32)
            .collect()
    }
}

/// An expression's syntax tree, from text.
pub fn parse_ast(text: &str) -> Result<sqlparser::ast::Expr, ExprError> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| syntax_error(text, &e))?;
    let expr = parser.parse_expr().map_err(|e| syntax_error(text, &e))?;
    let rest = parser.peek_token();
    if rest.token != sqlparser::tokenizer::Token::EOF {
        return Err(ExprError {
            message: format!("unexpected `{}` after the expression", rest.token),
            offset: offset_of(text, rest.span.start),
        });
    }
    Ok(expr)
}

/// A parser error, with the place sqlparser names in its message
/// ("… at Line: 1, Column: 7") turned into an offset.
pub fn syntax_error(text: &str, error: &sqlparser::parser::ParserError) -> ExprError {
    let message = error.to_string();
    let message = message
        .strip_prefix("sql parser error: ")
        .unwrap_or(&message)
        .to_string();
    let place = message.rfind(" at Line: ").and_then(|at| {
        let rest = &message[at + " at Line: ".len()..];
        let (line, column) = rest.split_once(", Column: ")?;
        Some((at, line.trim().parse().ok()?, column.trim().parse().ok()?))
    });
    match place {
        // sqlparser places the end of input at line 0.
        Some((at, 0, _)) => ExprError {
            message: message[..at].to_string(),
            offset: Some(text.trim_end().len()),
        },
        Some((at, line, column)) => ExprError {
            message: message[..at].to_string(),
            offset: offset_of(text, sqlparser::tokenizer::Location::of(line, column)),
        },
        // A statement cut short names no place: it is the end of the text.
        None if message.ends_with("found: EOF") => ExprError {
            offset: Some(text.trim_end().len()),
            message,
        },
        None => ExprError {
            message,
            offset: None,
        },
    }
}

/// The byte offset of a 1-based line and column (in characters) of `text`.
pub fn offset_of(text: &str, at: sqlparser::tokenizer::Location) -> Option<usize> {
    if at.line == 0 {
        return None;
    }
    let line_start = if at.line == 1 {
        0
    } else {
        text.match_indices('\n').nth(at.line as usize - 2)?.0 + 1
    };
    let line = &text[line_start..];
    let column = line
        .char_indices()
        .nth(at.column.saturating_sub(1) as usize)
        .map_or(line.len(), |(i, _)| i);
    Some(line_start + column)
}

#[cfg(test)]
mod tests;
