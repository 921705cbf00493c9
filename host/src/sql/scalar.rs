//! Map plugins as scalar functions: `SELECT sensor_id, to_celsius(temperature)
//! AS c FROM t`. A map plugin reads some fields of a row and adds its own;
//! called with columns, it runs as a stage before the query's others, its
//! arguments bound to the fields it reads (by a `select` stage when their
//! names differ), and the call stands for the one field it adds.

use std::ops::ControlFlow;
use std::sync::Arc;

use indexmap::IndexMap;
use sqlparser::ast::{self, Ident};

use super::functions::WasmFunction;
use super::query::{plain_args, Planner};
use super::SqlError;
use crate::data::Schema;
use crate::pipeline::config::OperatorConfig;
use crate::plugin::{Descriptor, OperatorKind};

/// The stages the calls need, the rows after them, and the query with each
/// call replaced by the column holding its value.
pub struct ScalarCalls {
    pub operators: Vec<(OperatorConfig, std::ops::Range<usize>)>,
    pub schema: Arc<Schema>,
    pub select: ast::Select,
}

impl Planner<'_> {
    /// `None` when the query calls no map plugin.
    pub(super) fn scalar_calls(
        &self,
        select: &ast::Select,
    ) -> Result<Option<ScalarCalls>, SqlError> {
        let mut rewritten = select.clone();
        if let [ast::SelectItem::Wildcard(_)] = rewritten.projection.as_slice() {
            // A call in WHERE adds a column; `*` still means the table's.
            rewritten.projection = self
                .schema
                .fields()
                .iter()
                .map(|f| ast::SelectItem::UnnamedExpr(ast::Expr::Identifier(Ident::new(&f.name))))
                .collect();
        }
        let mut calls = Calls {
            planner: self,
            schema: self.schema.clone(),
            operators: Vec::new(),
            done: IndexMap::new(),
        };
        let flow = ast::visit_expressions_mut(&mut rewritten, |expr| match calls.replace(expr) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        });
        if let ControlFlow::Break(e) = flow {
            return Err(e);
        }
        Ok((!calls.operators.is_empty()).then_some(ScalarCalls {
            operators: calls.operators,
            schema: calls.schema,
            select: rewritten,
        }))
    }
}

struct Calls<'p, 'a> {
    planner: &'p Planner<'a>,
    /// The rows after the stages so far.
    schema: Arc<Schema>,
    operators: Vec<(OperatorConfig, std::ops::Range<usize>)>,
    /// Each call planned (as written) and the column of its value.
    done: IndexMap<String, String>,
}

impl<'a> Calls<'_, 'a> {
    fn replace(&mut self, expr: &mut ast::Expr) -> Result<(), SqlError> {
        let ast::Expr::Function(f) = &*expr else {
            return Ok(());
        };
        let Some(function) = self.map_function(f, expr)? else {
            return Ok(());
        };
        let key = expr.to_string();
        let column = match self.done.get(&key) {
            Some(column) => column.clone(),
            None => {
                let column = self.plan(function, f, expr)?;
                self.done.insert(key, column.clone());
                column
            }
        };
        *expr = ast::Expr::Identifier(Ident::new(column));
        Ok(())
    }

    /// The declared map function `f` calls, with what it says of itself;
    /// `None` for other calls (host functions, aggregate plugins).
    fn map_function(
        &self,
        f: &ast::Function,
        call: &ast::Expr,
    ) -> Result<Option<(&'a WasmFunction, Descriptor)>, SqlError> {
        let planner = self.planner;
        let functions: &'a [WasmFunction] = planner.functions;
        let Some(function) = functions
            .iter()
            .find(|w| w.name.eq_ignore_ascii_case(&f.name.to_string()))
        else {
            return Ok(None);
        };
        let (_, descriptor) = planner.prepare_function(function, call)?;
        match descriptor.kind {
            OperatorKind::Map => Ok(Some((function, descriptor))),
            OperatorKind::Aggregate => Ok(None),
            kind => Err(planner.at(call, format!(
                "{0} is a {kind} function: it gives a table, not a value; call it in FROM, as {0}(TABLE {1})",
                function.name, planner.table
            ))),
        }
    }

    /// A stage for the call; returns the column its value is in.
    fn plan(
        &mut self,
        (function, descriptor): (&'a WasmFunction, Descriptor),
        f: &ast::Function,
        call: &ast::Expr,
    ) -> Result<String, SqlError> {
        let planner = self.planner;
        let name = &function.name;
        let at = |message: String| planner.at(call, message);
        let [value] = descriptor.emits.as_slice() else {
            return Err(at(format!("{name} adds {} fields; a function's value is one: call it in FROM, as {name}(TABLE {})", descriptor.emits.len(), planner.table)));
        };
        if self.schema.index_of(&value.name).is_some() {
            return Err(at(format!("{name} writes `{}`, which the rows already have; call it in FROM, as {name}(TABLE {})", value.name, planner.table)));
        }
        let args = plain_args(f).unwrap_or_default();
        if args.len() != descriptor.reads.len() {
            let reads: Vec<&str> = descriptor.reads.iter().map(|r| r.name.as_str()).collect();
            return Err(at(format!(
                "{name} takes {} column(s), its fields {}; got {}",
                reads.len(),
                reads.join(", "),
                args.len()
            )));
        }
        let mut bound = IndexMap::new();
        for (arg, read) in args.iter().zip(&descriptor.reads) {
            let ast::Expr::Identifier(column) = arg else {
                return Err(planner.at(
                    *arg,
                    format!("{name}'s arguments are columns; compute `{arg}` in a view first"),
                ));
            };
            if self.schema.index_of(&column.value).is_none() {
                return Err(planner.at(
                    *arg,
                    format!(
                        "no column `{}`; the columns are: {}",
                        column.value, self.schema
                    ),
                ));
            }
            if column.value != read.name && self.schema.index_of(&read.name).is_some() {
                return Err(planner.at(*arg, format!("{name} reads its field `{0}` from `{1}`, which would hide the column `{0}`; call it as {name}({0})", read.name, column.value)));
            }
            bound.insert(read.name.clone(), column.value.clone());
        }
        let stage = match self.done.len() {
            0 => name.clone(),
            n => format!("{name}-{}", n + 1),
        };
        let span = planner.span(call);
        if bound.iter().any(|(read, column)| read != column) {
            let mut fields: IndexMap<String, String> = self
                .schema
                .fields()
                .iter()
                .map(|f| (f.name.clone(), format!("\"{}\"", f.name)))
                .collect();
            for (read, column) in &bound {
                fields.insert(read.clone(), format!("\"{column}\""));
            }
            self.schema = super::query::select_schema(&fields, &self.schema).map_err(at)?;
            self.operators.push((
                OperatorConfig::Select {
                    from: None,
                    name: Some(format!("{stage}.arguments")),
                    fields,
                },
                span.clone(),
            ));
        }
        self.schema = self.schema.merged_with(&descriptor.emits);
        self.operators.push((
            function.operator(stage, function.config.clone(), None),
            span,
        ));
        Ok(value.name.clone())
    }
}
