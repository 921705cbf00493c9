//! A `SELECT` to operators: `WHERE` a filter, `GROUP BY … TUMBLE/HOP/SESSION`
//! a window (its `HAVING` the window's `having`), the select list a
//! projection. Every expression is checked here, against the schema it
//! will meet, so its errors point into the script; the operators carry the
//! expression's text, exactly as a pipeline file would.

use std::ops::ControlFlow;
use std::sync::Arc;

use indexmap::IndexMap;
use sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, SelectItem, SetExpr,
};

use super::aggregates::Aggregates;
use super::from::From;
use super::functions::WasmFunction;
use super::table_args::TableArgument;
use super::SqlError;
use crate::data::Schema;
use crate::expr::{interval_ms, ExprError, Resolver};
use crate::pipeline::build::stage::aggregate_spec;
use crate::pipeline::config::{AggregateConfig, Millis, OperatorConfig, WindowKind};
use crate::window::{AggregateSpec, EventTimeWindows, WindowShape, WindowSpec};

/// What a query compiles to: its operators (each with the byte range of
/// the SQL it came from) and the names and order of its output columns.
pub struct Plan {
    pub operators: Vec<(OperatorConfig, std::ops::Range<usize>)>,
    pub output: Vec<String>,
    /// The rows the query gives, for a query over it (a view).
    pub schema: Arc<Schema>,
    /// Whether the rows are a window's results (no longer raw events).
    pub windowed: bool,
}

pub struct Planner<'a> {
    pub text: &'a str,
    /// Where the script is, for the paths of its functions' components.
    pub base: &'a std::path::Path,
    pub engine: &'a crate::plugin::PluginEngine,
    pub functions: &'a [WasmFunction],
    /// The `TABLE t [PARTITION BY …]` arguments the script's text has.
    pub table_arguments: &'a [TableArgument],
    pub table: &'a str,
    /// The tables lookup joins read (`FOR SYSTEM_TIME AS OF`).
    pub lookups: &'a IndexMap<String, super::tables::Table>,
    /// The processing-time columns (`name AS PROCTIME()`) tables declare.
    pub proc_times: &'a [String],
    /// The script's `FOR SYSTEM_TIME AS OF` clauses, taken out of its text.
    pub as_of: &'a [super::proctime::AsOf],
    pub schema: Arc<Schema>,
    /// The source's event-time column, which windows must be over; `None`
    /// over a view of a window's results.
    pub time_column: Option<&'a str>,
}

impl Planner<'_> {
    pub(super) fn at(&self, node: &impl ast::Spanned, message: impl Into<String>) -> SqlError {
        SqlError::at(self.text, node.span().start, message)
    }

    pub(super) fn span(&self, node: &impl ast::Spanned) -> std::ops::Range<usize> {
        let span = node.span();
        let start = crate::expr::offset_of(self.text, span.start).unwrap_or(0);
        let end = crate::expr::offset_of(self.text, span.end).unwrap_or(start);
        start..end.max(start)
    }

    fn expr_error(&self, node: &impl ast::Spanned, e: ExprError) -> SqlError {
        match e.offset {
            Some(offset) => SqlError {
                message: e.message,
                span: Some(offset..offset),
            },
            None => self.at(node, e.message),
        }
    }

    pub fn plan(&self, query: &ast::Query) -> Result<Plan, SqlError> {
        if query.order_by.is_some()
            || query.limit_clause.is_some()
            || query.fetch.is_some()
            || query.with.is_some()
        {
            return Err(self.at(
                query,
                "ORDER BY, LIMIT, FETCH and WITH are not supported on a stream yet",
            ));
        }
        let SetExpr::Select(select) = query.body.as_ref() else {
            return Err(self.at(
                query,
                format!(
                    "only SELECT … FROM {} is supported here, not `{}`",
                    self.table, query.body
                ),
            ));
        };
        match self.check_from(select)? {
            From::Table => self.plan_select(select, None),
            From::Window(window) => self.plan_select(select, Some(window)),
            From::Process(process) => {
                let after = Planner {
                    schema: process.output,
                    ..*self
                };
                let mut plan = after.plan_select(select, None)?;
                plan.operators.insert(0, process.operator);
                Ok(plan)
            }
            From::Lookup(join) => {
                let select = join.unqualified(select, &self.schema);
                let after = Planner {
                    schema: join.process.output,
                    ..*self
                };
                let mut plan = after.plan_select(&select, None)?;
                plan.operators.insert(0, join.process.operator);
                Ok(plan)
            }
        }
    }

    /// The clauses after FROM, over the rows `from_window` (if any) or the
    /// planner's schema describes; map plugins called as functions first.
    fn plan_select(
        &self,
        select: &ast::Select,
        from_window: Option<GroupWindow>,
    ) -> Result<Plan, SqlError> {
        let Some(calls) = self.scalar_calls(select)? else {
            return self.plan_clauses(select, from_window);
        };
        let after = Planner {
            schema: calls.schema,
            ..*self
        };
        let mut plan = after.plan_clauses(&calls.select, from_window)?;
        let mut operators = calls.operators;
        operators.append(&mut plan.operators);
        plan.operators = operators;
        Ok(plan)
    }

    fn plan_clauses(
        &self,
        select: &ast::Select,
        from_window: Option<GroupWindow>,
    ) -> Result<Plan, SqlError> {
        if select.distinct.is_some() || select.qualify.is_some() || !select.named_window.is_empty()
        {
            return Err(self.at(
                select,
                "DISTINCT, QUALIFY and WINDOW clauses are not supported yet",
            ));
        }
        let mut operators = Vec::new();
        if let Some(condition) = &select.selection {
            Resolver::new(&self.schema)
                .compile(condition, self.text)
                .map_err(|e| self.expr_error(condition, e))?;
            operators.push((
                OperatorConfig::Filter {
                    from: None,
                    name: Some("where".into()),
                    condition: condition.to_string(),
                },
                self.span(condition),
            ));
        }
        let grouped = match &select.group_by {
            GroupByExpr::Expressions(keys, modifiers) if modifiers.is_empty() => keys.as_slice(),
            other => return Err(self.at(select, format!("`{other}` is not supported"))),
        };
        let aggregates = Aggregates::collect(select, self.text, self.functions)?;
        let windowed = !(grouped.is_empty() && aggregates.calls.is_empty());
        let (resolver_schema, substitutions) = if !windowed {
            if from_window.is_some() {
                return Err(self.at(
                    select,
                    "a window table function is aggregated: add GROUP BY window_start, window_end",
                ));
            }
            if let Some(having) = &select.having {
                return Err(self.at(having, "HAVING needs a GROUP BY"));
            }
            (self.schema.clone(), Vec::new())
        } else {
            let windowed = self.window(select, grouped, &aggregates, from_window)?;
            operators.push(windowed.operator);
            (windowed.output, windowed.substitutions)
        };
        let (fields, output) = self.projection(select, &resolver_schema, &substitutions)?;
        let schema = match &fields {
            Some(fields) => {
                select_schema(fields, &resolver_schema).map_err(|m| self.at(select, m))?
            }
            None => resolver_schema,
        };
        if let Some(fields) = fields {
            operators.push((
                OperatorConfig::Select {
                    from: None,
                    name: Some("select".into()),
                    fields,
                },
                self.span(select),
            ));
        }
        Ok(Plan {
            operators,
            output,
            schema,
            windowed,
        })
    }

    /// The `GROUP BY` as a window operator, the window's output schema, and
    /// what stands for the aggregate calls and window bounds after it.
    fn window(
        &self,
        select: &ast::Select,
        grouped: &[ast::Expr],
        aggregates: &Aggregates,
        from_window: Option<GroupWindow>,
    ) -> Result<Windowed, SqlError> {
        let tvf = from_window.is_some();
        let mut shape = from_window;
        let mut key_by = None;
        let mut bounds = 0;
        for key in grouped {
            match key {
                ast::Expr::Function(f) if window_function(f).is_some() => {
                    if shape.is_some() {
                        return Err(self.at(key, "one window per query: GROUP BY names a second one"));
                    }
                    shape = Some(self.window_call(f, key)?);
                }
                ast::Expr::Identifier(ident) if tvf && matches!(ident.value.as_str(), "window_start" | "window_end") => bounds += 1,
                ast::Expr::Identifier(ident) if self.schema.index_of(&ident.value).is_some() => {
                    if key_by.is_some() {
                        return Err(self.at(key, "grouping by more than one column is not supported yet; group by one column and the window"));
                    }
                    key_by = Some(ident.value.clone());
                }
                ast::Expr::Identifier(ident) => return Err(self.at(key, format!("no column `{}` in `{}`", ident.value, self.table))),
                other => return Err(self.at(other, format!("GROUP BY takes columns and one TUMBLE, HOP or SESSION; `{other}` is not supported"))),
            }
        }
        let Some(GroupWindow {
            kind,
            size,
            slide,
            gap,
            call: window_call,
        }) = shape
        else {
            return Err(self.at(select, "a streaming GROUP BY needs a window: add TUMBLE(ts, INTERVAL '10' SECOND), HOP(…) or SESSION(…) (an unbounded GROUP BY never finishes a result)"));
        };
        if tvf && bounds != 2 {
            return Err(self.at(select, "over a window table function, GROUP BY window_start, window_end (and at most one column)"));
        }
        let mut specs = Vec::new();
        let mut configs = IndexMap::new();
        if aggregates.calls.is_empty() {
            // GROUP BY without aggregates (the distinct keys per window):
            // a window computes at least one, so it counts, unseen.
            specs.push(AggregateSpec::parse("agg$rows", "count").map_err(|m| self.at(select, m))?);
            configs.insert(
                "agg$rows".to_string(),
                AggregateConfig::Expression("count".into()),
            );
        }
        for (index, (call, config)) in aggregates.calls.iter().enumerate() {
            let name = format!("agg${index}");
            let spec = aggregate_spec(self.engine, self.base, &name, config, &self.schema)
                .map_err(|m| {
                    // The message names the hidden column; the user wrote the call.
                    let m = m.replace(&format!("aggregate `{name}`: "), &format!("{call}: "));
                    self.at(call, m)
                })?;
            specs.push(spec);
            configs.insert(name, config.clone());
        }
        let window_shape = match kind {
            WindowKind::Tumbling => WindowShape::Tumbling {
                size_ms: size.unwrap_or(0),
            },
            WindowKind::Sliding => WindowShape::Sliding {
                size_ms: size.unwrap_or(0),
                slide_ms: slide.unwrap_or(0),
            },
            WindowKind::Session => WindowShape::Session {
                gap_ms: gap.unwrap_or(0),
            },
        };
        let spec = WindowSpec {
            key_by: key_by.clone(),
            shape: window_shape,
            allowed_lateness_ms: 0,
            time: crate::window::WindowTime::Event,
            early_fire_every_ms: None,
            aggregates: specs,
        };
        let windows =
            EventTimeWindows::new(&spec, &self.schema).map_err(|m| self.at(&window_call, m))?;
        let output = windows.output_schema().clone();
        let mut substitutions: Vec<(ast::Expr, String)> = aggregates
            .calls
            .iter()
            .enumerate()
            .map(|(index, (call, _))| (call.clone(), format!("agg${index}")))
            .collect();
        for (function, column) in bound_functions(kind) {
            let mut call = window_call.clone();
            if let ast::Expr::Function(f) = &mut call {
                f.name = ast::ObjectName::from(vec![Ident::new(function)]);
            }
            substitutions.push((call, column.to_string()));
        }
        let having = match &select.having {
            Some(having) => {
                self.post_window(having, &output, &substitutions)?;
                Some(rewrite(having, &substitutions))
            }
            None => None,
        };
        let window = OperatorConfig::Window {
            from: None,
            name: Some("window".into()),
            kind,
            size: size.map(Millis),
            slide: slide.map(Millis),
            gap: gap.map(Millis),
            time: Default::default(),
            early_fire_every: None,
            allowed_lateness: None,
            key_by,
            aggregates: configs,
            having,
        };
        Ok(Windowed {
            operator: (window, self.span(&window_call)),
            output,
            substitutions,
        })
    }

    /// `TUMBLE(ts, size)`, `HOP(ts, slide, size)` or `SESSION(ts, gap)` in a GROUP BY.
    fn window_call(&self, f: &ast::Function, call: &ast::Expr) -> Result<GroupWindow, SqlError> {
        let kind = window_function(f).expect("checked by the caller");
        let args = plain_args(f)
            .ok_or_else(|| self.at(call, format!("{} takes plain arguments", f.name)))?;
        let Some((time, intervals)) = args.split_first() else {
            return Err(self.at(
                call,
                format!("{} takes the event-time column and INTERVALs", f.name),
            ));
        };
        self.group_window(kind, &f.name.to_string(), call, time, intervals)
    }

    pub(super) fn group_window(
        &self,
        kind: WindowKind,
        name: &str,
        call: &ast::Expr,
        time: &ast::Expr,
        intervals: &[&ast::Expr],
    ) -> Result<GroupWindow, SqlError> {
        let expected = if kind == WindowKind::Sliding { 2 } else { 1 };
        if intervals.len() != expected {
            return Err(self.at(
                call,
                format!(
                    "{name} takes the event-time column and {expected} INTERVAL(s), got {}",
                    intervals.len()
                ),
            ));
        }
        let Some(time_column) = self.time_column else {
            return Err(self.at(call, format!("{name} over `{}`, a view of a window's results: a window of windows is not supported yet", self.table)));
        };
        match time {
            ast::Expr::Identifier(column) if column.value == time_column => {}
            other => return Err(self.at(other, format!("windows are over the event-time column `{time_column}` (the one with the WATERMARK), not `{other}`"))),
        }
        let interval = |e: &ast::Expr| match e {
            ast::Expr::Interval(i) => match interval_ms(i) {
                Ok(0) => Err(self.at(e, "a window interval must be above zero")),
                Ok(ms) => Ok(ms),
                Err(m) => Err(self.at(e, m)),
            },
            other => Err(self.at(
                other,
                format!("`{other}` is not an INTERVAL, e.g. INTERVAL '10' SECOND"),
            )),
        };
        let mut window = GroupWindow {
            kind,
            size: None,
            slide: None,
            gap: None,
            call: call.clone(),
        };
        match kind {
            WindowKind::Tumbling => window.size = Some(interval(intervals[0])?),
            // Flink's order: HOP(ts, slide, size).
            WindowKind::Sliding => {
                window.slide = Some(interval(intervals[0])?);
                window.size = Some(interval(intervals[1])?);
            }
            WindowKind::Session => window.gap = Some(interval(intervals[0])?),
        }
        Ok(window)
    }

    fn post_window(
        &self,
        expr: &ast::Expr,
        output: &Schema,
        substitutions: &[(ast::Expr, String)],
    ) -> Result<crate::expr::Expr, SqlError> {
        let mut resolver = Resolver::new(output);
        for (e, column) in substitutions {
            resolver.substitute(e.clone(), column.clone());
        }
        resolver.compile(expr, self.text).map_err(|e| {
            let mut error = self.expr_error(expr, e);
            if error.message.starts_with("no field") {
                error.message = format!("{}: after GROUP BY, a query can use the grouped column, aggregates and the window's bounds (TUMBLE_START/TUMBLE_END, window_start/window_end)", error.message.split(';').next().unwrap_or_default());
            }
            let bound = ["TUMBLE_", "HOP_", "SESSION_"]
                .iter()
                .any(|p| error.message.starts_with(&format!("unknown function {p}")));
            if bound {
                error.message = format!("{}: a window's bound repeats the GROUP BY's window exactly, e.g. TUMBLE_END(ts, INTERVAL '10' SECOND) with GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)", error.message);
            }
            error
        })
    }

    /// The select list as a projection's fields (`None`: `SELECT *`), and
    /// the output column names, Flink's `EXPR$n` for unnamed expressions.
    #[allow(clippy::type_complexity)]
    fn projection(
        &self,
        select: &ast::Select,
        input: &Arc<Schema>,
        substitutions: &[(ast::Expr, String)],
    ) -> Result<(Option<IndexMap<String, String>>, Vec<String>), SqlError> {
        if let [SelectItem::Wildcard(_)] = select.projection.as_slice() {
            if !substitutions.is_empty() {
                return Err(self.at(
                    select,
                    "SELECT * with GROUP BY is not supported; name the columns",
                ));
            }
            return Ok((
                None,
                input.fields().iter().map(|f| f.name.clone()).collect(),
            ));
        }
        let mut fields = IndexMap::new();
        for (index, item) in select.projection.iter().enumerate() {
            let (expr, name) = match item {
                SelectItem::UnnamedExpr(expr) => {
                    let name = match expr {
                        ast::Expr::Identifier(ident) => ident.value.clone(),
                        ast::Expr::CompoundIdentifier(parts) => {
                            parts.last().map_or(String::new(), |p| p.value.clone())
                        }
                        _ => format!("EXPR${index}"),
                    };
                    (expr, name)
                }
                SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value.clone()),
                other => {
                    return Err(self.at(
                        other,
                        format!("`{other}` is not supported in the select list; name each column"),
                    ))
                }
            };
            self.post_window(expr, input, substitutions)?;
            if fields
                .insert(name.clone(), rewrite(expr, substitutions))
                .is_some()
            {
                return Err(self.at(
                    expr,
                    format!("two output columns are named `{name}`; give one an alias (AS …)"),
                ));
            }
        }
        let output = fields.keys().cloned().collect();
        Ok((Some(fields), output))
    }
}

/// A query's window operator, the schema of its results, and what stands
/// for the aggregate calls and window bounds after it.
struct Windowed {
    operator: (OperatorConfig, std::ops::Range<usize>),
    output: Arc<Schema>,
    substitutions: Vec<(ast::Expr, String)>,
}

/// The window a query groups by, from GROUP BY or a window table function.
pub(super) struct GroupWindow {
    kind: WindowKind,
    size: Option<i64>,
    slide: Option<i64>,
    gap: Option<i64>,
    /// Where it is written; the auxiliary functions (`TUMBLE_END(…)`) repeat it.
    call: ast::Expr,
}

pub(super) fn window_function(f: &ast::Function) -> Option<WindowKind> {
    match f.name.to_string().to_ascii_uppercase().as_str() {
        "TUMBLE" => Some(WindowKind::Tumbling),
        "HOP" => Some(WindowKind::Sliding),
        "SESSION" => Some(WindowKind::Session),
        _ => None,
    }
}

/// Flink's group-window auxiliary functions and the window result's columns.
fn bound_functions(kind: WindowKind) -> [(&'static str, &'static str); 2] {
    match kind {
        WindowKind::Tumbling => [
            ("TUMBLE_START", "window_start"),
            ("TUMBLE_END", "window_end"),
        ],
        WindowKind::Sliding => [("HOP_START", "window_start"), ("HOP_END", "window_end")],
        WindowKind::Session => [
            ("SESSION_START", "window_start"),
            ("SESSION_END", "window_end"),
        ],
    }
}

/// The schema of a `select` stage's columns, computed from `input`.
pub(super) fn select_schema(
    fields: &IndexMap<String, String>,
    input: &Schema,
) -> Result<Arc<Schema>, String> {
    let mut columns = Vec::new();
    for (name, text) in fields {
        let expr = crate::expr::Expr::parse(text, input)
            .map_err(|e| format!("column `{name}`: {}", e.message))?;
        columns.push(crate::data::Field::new(name.clone(), expr.ty()));
    }
    Schema::new(columns).map_err(|e| e.to_string())
}

pub(super) fn plain_args(f: &ast::Function) -> Option<Vec<&ast::Expr>> {
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// The expression's text with each substituted part replaced by its column
/// (quoted: `"agg$0"`), as the operator after the window reads it.
fn rewrite(expr: &ast::Expr, substitutions: &[(ast::Expr, String)]) -> String {
    let mut expr = expr.clone();
    let _ = ast::visit_expressions_mut(&mut expr, |e| {
        if let Some((_, column)) = substitutions.iter().find(|(s, _)| s == e) {
            *e = ast::Expr::Identifier(Ident::with_quote('"', column.clone()));
        }
        ControlFlow::<()>::Continue(())
    });
    expr.to_string()
}

/// Whether the query gives as many columns as the sink table has: Flink's
/// `INSERT INTO` maps them by position (the names are the table's).
pub fn check_insert(output: &[String], sink: &super::tables::Table) -> Result<(), String> {
    if output.len() != sink.columns.len() {
        return Err(format!(
            "the query gives {} columns ({}), the table `{}` has {} ({})",
            output.len(),
            output.join(", "),
            sink.name,
            sink.columns.len(),
            sink.columns.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}
