//! SQL scripts in Flink's dialect (`weir run query.sql`): `CREATE TABLE`
//! for sources and sinks, then one `SELECT` (printed) or `INSERT INTO sink
//! SELECT …`. A script compiles to the same [`PipelineFile`] a TOML
//! pipeline parses to, so both build one plan and run the same way; the
//! spans point into the script, so errors show its line and a caret.

mod aggregates;
mod from;
mod functions;
mod lookup;
mod proctime;
mod queries;
mod query;
mod scalar;
mod settings;
mod statement_set;
mod statements;
mod table_args;
mod tables;
mod watermark;

use std::path::Path;

use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use toml::Spanned;

use crate::expr::offset_of;
use crate::pipeline::build::{build, Context};
use crate::pipeline::config::{EventTimeConfig, Millis, PipelineFile};
use crate::pipeline::interpolate::Expanded;
use crate::pipeline::{Pipeline, PipelineError};
use crate::plugin::PluginEngine;
use queries::Branch;
use statements::Statements;

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

    fn into_pipeline_error(self, path: &Path, source: &Expanded) -> PipelineError {
        PipelineError::in_source(path, source, self.span, self.message)
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
pub fn parse(
    path: &Path,
    source: &Expanded,
    engine: &PluginEngine,
) -> Result<Pipeline, PipelineError> {
    let cx = Context {
        path,
        text: &source.text,
        source,
        base: path.parent().unwrap_or(Path::new("")),
        engine,
    };
    let script = Script::compile(&cx).map_err(|e| e.into_pipeline_error(path, source))?;
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
        let without_sets = statement_set::extract(text)?;
        let (without_functions, functions) = functions::extract(&without_sets)?;
        let (without_watermarks, watermarks) = watermark::extract(&without_functions)?;
        let (without_proc_times, proc_times) = proctime::extract(&without_watermarks)?;
        let (without_as_of, as_of) = proctime::extract_as_of(&without_proc_times)?;
        let (blanked, table_arguments) = table_args::extract(&without_as_of)?;
        let statements = Parser::parse_sql(&GenericDialect {}, &blanked).map_err(|e| {
            let e = crate::expr::syntax_error(text, &e);
            SqlError {
                message: e.message,
                span: e.offset.map(|o| o..o),
            }
        })?;
        let Statements {
            mut tables,
            views,
            queries,
            mut settings,
        } = Statements::read(&statements, watermarks, text)?;
        let lookups: indexmap::IndexMap<_, _> = as_of
            .iter()
            .filter_map(|clause| tables.shift_remove_entry(&clause.table))
            .collect();
        let (queries, explain) = queries::sort(&queries, text)?;
        let views: Vec<_> = views.iter().collect();
        let source_name = queries::source_table(&queries, &tables, &views, text)?;
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
            lookups: &lookups,
            proc_times: &proc_times,
            as_of: &as_of,
            schema,
            time_column: Some(&watermark.column),
        };
        let mut operators = Vec::new();
        let mut sinks = Vec::new();
        for query in &queries {
            let mut branch = Branch::plan(query, &planner, &views, &mut tables, text)?;
            if queries.len() > 1 {
                branch = branch.into_branch_of_many(query.target.as_deref());
            }
            operators.extend(branch.operators);
            sinks.push(branch.sink);
        }
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
            operators: operators
                .into_iter()
                .map(|(op, span)| Spanned::new(span, op))
                .collect(),
            sink: None,
            sinks: sinks
                .into_iter()
                .map(|sink| Spanned::new(whole.clone(), sink))
                .collect(),
            dead_letter: settings.dead_letter.take(),
            checkpoint: settings.checkpoint(),
            shutdown_timeout: None,
            parallelism: settings.parallelism.take(),
        };
        Ok(Script { file, explain })
    }
}
