//! SQL scripts in Flink's dialect (`weir run query.sql`): `CREATE TABLE`
//! for sources and sinks, then one `SELECT` (printed) or `INSERT INTO sink
//! SELECT …`. A script compiles to the same [`PipelineFile`] a TOML
//! pipeline parses to, so both build one plan and run the same way; the
//! spans point into the script, so errors show its line and a caret.

mod aggregates;
mod from;
mod functions;
mod query;
mod settings;
mod statements;
mod table_args;
mod tables;
mod watermark;

use std::path::Path;

use indexmap::IndexMap;
use sqlparser::ast::{self, Spanned as _, Statement};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use toml::Spanned;

use crate::expr::offset_of;
use crate::pipeline::build::{build, Context};
use crate::pipeline::config::{EventTimeConfig, Millis, OperatorConfig, PipelineFile};
use crate::pipeline::{Pipeline, PipelineError};
use crate::plugin::PluginEngine;
use statements::Statements;
use tables::Table;

/// A mistake in a script and where it is (a byte range of the script).
#[derive(Debug)]
pub struct SqlError {
    pub message: String,
    pub span: Option<std::ops::Range<usize>>,
}

impl SqlError {
    fn at(text: &str, at: sqlparser::tokenizer::Location, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            span: offset_of(text, at).map(|o| o..o),
        }
    }

    fn into_pipeline_error(self, path: &Path, text: &str) -> PipelineError {
        PipelineError::at(path, text, self.span, self.message)
    }
}

/// The script's tokens without whitespace, each with its place: what the
/// clauses sqlparser does not take (`WATERMARK FOR`, `CREATE FUNCTION`) are
/// found in.
fn tokens(text: &str) -> Result<Vec<sqlparser::tokenizer::TokenWithSpan>, SqlError> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    Ok(Tokenizer::new(&GenericDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| SqlError {
            message: e.message.clone(),
            span: offset_of(text, e.location).map(|o| o..o),
        })?
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect())
}

/// Checks and builds the pipeline a SQL script describes.
pub fn parse(path: &Path, text: &str, engine: &PluginEngine) -> Result<Pipeline, PipelineError> {
    let cx = Context {
        path,
        text,
        base: path.parent().unwrap_or(Path::new("")),
        engine,
    };
    let script = Script::compile(&cx).map_err(|e| e.into_pipeline_error(path, text))?;
    let mut pipeline = build(script.file, &cx)?;
    pipeline.explain_only = script.explain;
    Ok(pipeline)
}

/// A script compiled to a pipeline file's form.
struct Script {
    file: PipelineFile,
    /// The query was written as `EXPLAIN …`.
    explain: bool,
}

impl Script {
    fn compile(cx: &Context<'_>) -> Result<Script, SqlError> {
        let (path, text) = (cx.path, cx.text);
        let (without_functions, functions) = functions::extract(text)?;
        let (without_watermarks, watermarks) = watermark::extract(&without_functions)?;
        let (blanked, table_arguments) = table_args::extract(&without_watermarks)?;
        let statements = Parser::parse_sql(&GenericDialect {}, &blanked).map_err(|e| {
            let e = crate::expr::syntax_error(text, &e);
            SqlError {
                message: e.message,
                span: e.offset.map(|o| o..o),
            }
        })?;
        let Statements {
            mut tables,
            query,
            mut settings,
        } = Statements::read(&statements, watermarks, text)?;
        let Some(mut query) = query else {
            return Err(SqlError {
                message: "the script has no query: add SELECT … or INSERT INTO … SELECT …".into(),
                span: Some(text.len()..text.len()),
            });
        };
        let mut explain = false;
        if let Statement::Explain { statement, .. } = query {
            explain = true;
            query = statement.as_ref();
        }
        let (select, sink_table) = match query {
            Statement::Query(select) => (select.as_ref(), None),
            Statement::Insert(insert) => {
                let target = insert.table.to_string();
                let Some(source) = &insert.source else {
                    return Err(SqlError::at(
                        text,
                        query.span().start,
                        "INSERT INTO takes a SELECT",
                    ));
                };
                if !insert.columns.is_empty() {
                    return Err(SqlError::at(text, query.span().start, "INSERT INTO with a column list is not supported yet; select the table's columns in order"));
                }
                (source.as_ref(), Some(target))
            }
            other => {
                return Err(SqlError::at(
                    text,
                    other.span().start,
                    format!("`EXPLAIN {other}` is not supported"),
                ))
            }
        };
        let source_name = source_table(select, &tables).ok_or_else(|| {
            SqlError::at(
                text,
                select.span().start,
                "the query reads FROM no table this script created",
            )
        })?;
        let mut source = tables.shift_remove(&source_name).expect("found above");
        let watermark = source.watermark.clone().ok_or_else(|| SqlError {
            message: format!("table `{}` has no WATERMARK FOR clause; weir runs on event time: add e.g. WATERMARK FOR ts AS ts - INTERVAL '5' SECOND", source.name),
            span: Some(source.span.clone()),
        })?;
        let schema = crate::data::Schema::new(
            source
                .columns
                .iter()
                .map(|(n, t)| crate::data::Field::new(n.clone(), *t))
                .collect(),
        )
        .map_err(|e| SqlError {
            message: e.to_string(),
            span: Some(source.span.clone()),
        })?;
        let planner = query::Planner {
            text,
            base: cx.base,
            engine: cx.engine,
            functions: &functions,
            table_arguments: &table_arguments,
            table: &source.name,
            schema,
            time_column: &watermark.column,
        };
        let mut plan = planner.plan(select)?;
        let sink = match &sink_table {
            None => crate::pipeline::config::SinkConfig::Console { from: None },
            Some(target) => {
                let table = tables.get_mut(target).ok_or_else(|| SqlError::at(text, query.span().start, format!("INSERT INTO `{target}`: no such table; create it with CREATE TABLE {target} (…) WITH ('connector' = …)")))?;
                query::check_insert(&plan.output, table)
                    .map_err(|m| SqlError::at(text, query.span().start, m))?;
                rename_output(&mut plan, table.columns.keys().cloned().collect());
                table.sink()?
            }
        };
        let whole = 0..text.len();
        let name = settings.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or("query".into(), |s| s.to_string_lossy().into_owned())
        });
        let mut source_config = source.source(&name)?;
        settings.apply_to_source(&mut source_config);
        let file = PipelineFile {
            name: Some(name.clone()),
            batch_size: settings.batch_size.unwrap_or(1024),
            source: Spanned::new(source.span.clone(), source_config),
            schema: Spanned::new(source.span.clone(), source.columns.clone()),
            event_time: EventTimeConfig {
                field: Spanned::new(watermark.span.clone(), watermark.column.clone()),
                max_out_of_orderness: Spanned::new(
                    watermark.span.clone(),
                    Millis(watermark.delay_ms),
                ),
                max_future: None,
            },
            operators: plan
                .operators
                .into_iter()
                .map(|(op, span)| Spanned::new(span, op))
                .collect(),
            sink: Some(Spanned::new(whole, sink)),
            sinks: Vec::new(),
            dead_letter: settings.dead_letter.take(),
            checkpoint: settings.checkpoint(),
            shutdown_timeout: None,
            parallelism: settings.parallelism.take(),
        };
        Ok(Script { file, explain })
    }
}

/// The table the query reads: named in FROM, or the first argument of a
/// table function there (`TUMBLE(TABLE t, …)`, `f(TABLE t PARTITION BY k)`).
fn source_table(query: &ast::Query, tables: &IndexMap<String, Table>) -> Option<String> {
    let ast::SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let first_argument =
        |args: &[ast::FunctionArg]| table_args::named_table(args.first()?).map(|t| t.value.clone());
    let name = match &select.from.first()?.relation {
        ast::TableFactor::Table {
            name, args: None, ..
        } => name.to_string(),
        ast::TableFactor::Table {
            args: Some(args), ..
        } => first_argument(&args.args)?,
        ast::TableFactor::TableFunction {
            expr: ast::Expr::Function(f),
            ..
        } => match &f.args {
            ast::FunctionArguments::List(list) => first_argument(&list.args)?,
            _ => return None,
        },
        _ => return None,
    };
    tables.contains_key(&name).then_some(name)
}

/// `INSERT INTO` names the output columns after the sink table's.
fn rename_output(plan: &mut query::Plan, columns: Vec<String>) {
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
            let fields = plan
                .output
                .iter()
                .map(|name| (name.clone(), format!("\"{name}\"")))
                .collect();
            plan.operators.push((
                OperatorConfig::Select {
                    name: Some("select".into()),
                    fields: renamed(&fields),
                },
                0..0,
            ));
        }
    }
    plan.output = columns;
}
