//! A script's statements sorted out: its tables, its settings and its one
//! query, each statement checked on its own.

use indexmap::IndexMap;
use sqlparser::ast::{self, Spanned as _, Statement};

use super::settings::Settings;
use super::tables::Table;
use super::watermark::Watermark;
use super::SqlError;
use crate::expr::offset_of;

pub struct Statements<'s> {
    pub tables: IndexMap<String, Table>,
    pub query: Option<&'s Statement>,
    pub settings: Settings,
}

impl<'s> Statements<'s> {
    /// `watermarks` are the clauses taken out of the text, each given to
    /// the CREATE TABLE it was in.
    pub fn read(
        statements: &'s [Statement],
        mut watermarks: Vec<Watermark>,
        text: &str,
    ) -> Result<Self, SqlError> {
        let mut settings = Settings::default();
        let span_of = |node: &dyn ast::Spanned| {
            let span = node.span();
            let start = offset_of(text, span.start).unwrap_or(0);
            start..offset_of(text, span.end).unwrap_or(start).max(start)
        };
        let mut tables: IndexMap<String, Table> = IndexMap::new();
        let mut query = None;
        for statement in statements {
            match statement {
                Statement::CreateTable(create) => {
                    let span = span_of(statement);
                    let watermark = watermarks
                        .iter()
                        .position(|w| span.contains(&w.span.start))
                        .map(|i| watermarks.remove(i));
                    let table = Table::new(create, watermark, span, text)?;
                    if tables.contains_key(&table.name) {
                        return Err(SqlError::at(
                            text,
                            create.name.span().start,
                            format!("table `{}` is created twice", table.name),
                        ));
                    }
                    tables.insert(table.name.clone(), table);
                }
                Statement::Set(set) => settings.apply(set, span_of(statement))?,
                Statement::Query(_) | Statement::Insert(_) | Statement::Explain { .. } => {
                    if query.is_some() {
                        return Err(SqlError::at(text, statement.span().start, "one query per script for now: several INSERTs sharing a source are not supported yet"));
                    }
                    query = Some(statement);
                }
                other => {
                    let kind = other
                        .to_string()
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ");
                    return Err(SqlError::at(text, other.span().start, format!("`{kind} …` is not supported; a script holds CREATE TABLE statements and one SELECT or INSERT INTO … SELECT")));
                }
            }
        }
        Ok(Self {
            tables,
            query,
            settings,
        })
    }
}
