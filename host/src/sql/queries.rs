//! A script's queries: each `SELECT` (printed) or `INSERT INTO t SELECT …`
//! becomes a branch of operators over the one source, ending in its sink.
//! One query is a line, as a pipeline file's operators are; several share
//! the source's read, each a branch whose stages are named after its sink
//! table (`alerts.where`), as a Flink statement set runs as one job.

use indexmap::IndexMap;
use sqlparser::ast::{self, Spanned as _, Statement};

use super::query::{self, Plan};
use super::table_args;
use super::tables::Table;
use super::SqlError;
use crate::pipeline::config::{OperatorConfig, SinkConfig};

/// One query of the script.
pub struct Query<'s> {
    pub select: &'s ast::Query,
    /// The `INSERT INTO` table; `None`: printed.
    pub target: Option<String>,
    pub statement: &'s Statement,
}

/// The script's queries, checked as a set, and whether they were written
/// as `EXPLAIN …`.
pub fn sort<'s>(
    statements: &[&'s Statement],
    text: &str,
) -> Result<(Vec<Query<'s>>, bool), SqlError> {
    if statements.is_empty() {
        return Err(SqlError {
            message: "the script has no query: add SELECT … or INSERT INTO … SELECT …".into(),
            span: Some(text.len()..text.len()),
        });
    }
    let mut explain = false;
    let mut queries: Vec<Query<'s>> = Vec::new();
    for &statement in statements {
        let mut query = statement;
        if let Statement::Explain { statement, .. } = statement {
            if statements.len() > 1 {
                // An EXPLAIN's own span is empty; the query's is not.
                return Err(SqlError::at(text, statement.span().start, "EXPLAIN of one query of several: run `weir explain` on the script to see the plan of all of them"));
            }
            explain = true;
            query = statement.as_ref();
        }
        let query = read(query, text)?;
        check_against_others(&query, &queries, text)?;
        queries.push(query);
    }
    Ok((queries, explain))
}

fn read<'s>(statement: &'s Statement, text: &str) -> Result<Query<'s>, SqlError> {
    let at = |message: &str| SqlError::at(text, statement.span().start, message);
    match statement {
        Statement::Query(select) => Ok(Query {
            select,
            target: None,
            statement,
        }),
        Statement::Insert(insert) => {
            let Some(select) = &insert.source else {
                return Err(at("INSERT INTO takes a SELECT"));
            };
            if !insert.columns.is_empty() {
                return Err(at("INSERT INTO with a column list is not supported yet; select the table's columns in order"));
            }
            Ok(Query {
                select,
                target: Some(insert.table.to_string()),
                statement,
            })
        }
        other => Err(at(&format!("`EXPLAIN {other}` is not supported"))),
    }
}

fn check_against_others(
    query: &Query<'_>,
    others: &[Query<'_>],
    text: &str,
) -> Result<(), SqlError> {
    let at = |message: String| SqlError::at(text, query.statement.span().start, message);
    match &query.target {
        None if others.iter().any(|o| o.target.is_none()) => Err(at(
            "a second SELECT: one query of a script prints its rows; write the others as INSERT INTO a table"
                .into(),
        )),
        Some(target) if others.iter().any(|o| o.target.as_ref() == Some(target)) => Err(at(format!(
            "a second INSERT INTO `{target}`: each sink table takes one query's rows (UNION ALL is not supported yet)"
        ))),
        _ => Ok(()),
    }
}

/// The script's views in order, each able to read the tables and the views
/// created before it.
pub type Views<'v, 's> = &'v [(&'v String, &'v &'s ast::Query)];

/// The table every query reads: named in FROM, or the first argument of a
/// table function there (`TUMBLE(TABLE t, …)`, `f(TABLE t PARTITION BY k)`),
/// or read by the view named there.
pub fn source_table(
    queries: &[Query<'_>],
    tables: &IndexMap<String, Table>,
    views: Views<'_, '_>,
    text: &str,
) -> Result<String, SqlError> {
    let mut source: Option<String> = None;
    for query in queries {
        let name = base_table(query.select, tables, views).ok_or_else(|| {
            SqlError::at(
                text,
                query.select.span().start,
                "the query reads FROM no table or view this script created before it",
            )
        })?;
        match &source {
            Some(first) if *first != name => {
                return Err(SqlError::at(
                    text,
                    query.select.span().start,
                    format!("this query reads `{name}` and another reads `{first}`: the queries of a script read one source table (joins and several sources are not supported yet)"),
                ))
            }
            _ => source = Some(name),
        }
    }
    Ok(source.expect("sort() refuses a script without queries"))
}

/// The source table `query` reads, directly or through views.
fn base_table(
    query: &ast::Query,
    tables: &IndexMap<String, Table>,
    views: Views<'_, '_>,
) -> Option<String> {
    let name = read_from(query)?;
    if tables.contains_key(&name) {
        return Some(name);
    }
    let i = views.iter().position(|(view, _)| **view == name)?;
    base_table(views[i].1, tables, &views[..i])
}

/// The name in FROM: a table's or a view's.
fn read_from(query: &ast::Query) -> Option<String> {
    let ast::SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let first_argument =
        |args: &[ast::FunctionArg]| table_args::named_table(args.first()?).map(|t| t.value.clone());
    match &select.from.first()?.relation {
        ast::TableFactor::Table {
            name, args: None, ..
        } => Some(name.to_string()),
        ast::TableFactor::Table {
            args: Some(args), ..
        } => first_argument(&args.args),
        ast::TableFactor::TableFunction {
            expr: ast::Expr::Function(f),
            ..
        } => match &f.args {
            ast::FunctionArguments::List(list) => first_argument(&list.args),
            _ => None,
        },
        _ => None,
    }
}

/// Plans `query`; over a view, the view's operators (named after it,
/// `hot.window`) come first and the query reads their rows.
fn plan_over_views(
    query: &ast::Query,
    planner: &query::Planner<'_>,
    views: Views<'_, '_>,
) -> Result<Plan, SqlError> {
    let view = read_from(query).and_then(|name| views.iter().position(|(v, _)| **v == name));
    let Some(i) = view else {
        return planner.plan(query);
    };
    let (name, view_query) = views[i];
    let inner = plan_over_views(view_query, planner, &views[..i])?;
    let time_column = planner
        .time_column
        .filter(|column| !inner.windowed && inner.schema.index_of(column).is_some());
    let outer = query::Planner {
        table: name,
        schema: inner.schema.clone(),
        time_column,
        ..*planner
    };
    let mut plan = outer.plan(query)?;
    let mut operators = inner.operators;
    for (operator, _) in &mut operators {
        let (stage, _) = operator.name_and_from_mut();
        *stage = Some(format!("{name}.{}", stage.as_deref().unwrap_or("stage")));
    }
    operators.append(&mut plan.operators);
    plan.operators = operators;
    plan.windowed |= inner.windowed;
    Ok(plan)
}

/// A query planned: its operators and where its rows go.
pub struct Branch {
    pub operators: Vec<(OperatorConfig, std::ops::Range<usize>)>,
    /// The names of the rows' columns, in order.
    output: Vec<String>,
    pub sink: SinkConfig,
}

impl Branch {
    /// Plans `query` and takes its sink from `tables`.
    pub fn plan(
        query: &Query<'_>,
        planner: &query::Planner<'_>,
        views: Views<'_, '_>,
        tables: &mut IndexMap<String, Table>,
        text: &str,
    ) -> Result<Branch, SqlError> {
        let mut plan = plan_over_views(query.select, planner, views)?;
        let at = |message: String| SqlError::at(text, query.statement.span().start, message);
        let sink = match &query.target {
            None => SinkConfig::Console { from: None },
            Some(target) => {
                let table = tables.get_mut(target).ok_or_else(|| at(format!("INSERT INTO `{target}`: no such table; create it with CREATE TABLE {target} (…) WITH ('connector' = …)")))?;
                query::check_insert(&plan.output, table).map_err(at)?;
                rename_output(&mut plan, table.columns.keys().cloned().collect());
                table.sink()?
            }
        };
        Ok(Branch {
            operators: plan.operators,
            output: plan.output,
            sink,
        })
    }

    /// Makes this one branch of several: its stages named after its sink
    /// table, its first stage reading the source, its sink the last stage.
    pub fn into_branch_of_many(mut self, target: Option<&str>) -> Branch {
        let prefix = target.unwrap_or("print");
        if self.operators.is_empty() {
            self.operators.push((pass_through(&self.output), 0..0));
        }
        let count = self.operators.len();
        for (i, (operator, _)) in self.operators.iter_mut().enumerate() {
            let (name, from) = operator.name_and_from_mut();
            let named = format!("{prefix}.{}", name.as_deref().unwrap_or("stage"));
            if i == 0 {
                *from = Some(crate::pipeline::SOURCE.to_string());
            }
            if i + 1 == count {
                self.sink.set_from(named.clone());
            }
            *name = Some(named);
        }
        self
    }
}

/// `INSERT INTO` names the output columns after the sink table's.
fn rename_output(plan: &mut Plan, columns: Vec<String>) {
    let renamed = |fields: &IndexMap<String, String>| -> IndexMap<String, String> {
        columns
            .iter()
            .cloned()
            .zip(fields.values().cloned())
            .collect()
    };
    match plan.operators.last_mut() {
        Some((OperatorConfig::Select { fields, .. }, _)) => *fields = renamed(fields),
        _ => {
            let mut select = pass_through(&plan.output);
            if let OperatorConfig::Select { fields, .. } = &mut select {
                *fields = renamed(fields);
            }
            plan.operators.push((select, 0..0));
        }
    }
    plan.output = columns;
}

/// A `select` stage that passes `columns` on as they are.
fn pass_through(columns: &[String]) -> OperatorConfig {
    OperatorConfig::Select {
        from: None,
        name: Some("select".into()),
        fields: columns
            .iter()
            .map(|name| (name.clone(), format!("\"{name}\"")))
            .collect(),
    }
}
