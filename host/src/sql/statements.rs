//! A script's statements sorted out: its tables, its settings and its
//! queries, each statement checked on its own.

use indexmap::IndexMap;
use sqlparser::ast::{self, Spanned as _, Statement};

use super::settings::Settings;
use super::tables::Table;
use super::watermark::Watermark;
use super::SqlError;
use crate::expr::offset_of;

pub struct Statements<'s> {
    pub tables: IndexMap<String, Table>,
    /// `CREATE [TEMPORARY] VIEW name AS query`, in the script's order.
    pub views: IndexMap<String, &'s ast::Query>,
    /// The queries, in the script's order.
    pub queries: Vec<&'s Statement>,
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
        let mut queries = Vec::new();
        let mut views: IndexMap<String, &'s ast::Query> = IndexMap::new();
        for statement in statements {
            match statement {
                Statement::CreateTable(create) => {
                    let span = span_of(statement);
                    let watermark = watermarks
                        .iter()
                        .position(|w| span.contains(&w.span.start))
                        .map(|i| watermarks.remove(i));
                    let table = Table::new(create, watermark, span, text)?;
                    if tables.contains_key(&table.name) || views.contains_key(&table.name) {
                        return Err(SqlError::at(
                            text,
                            create.name.span().start,
                            format!("table `{}` is created twice", table.name),
                        ));
                    }
                    tables.insert(table.name.clone(), table);
                }
                Statement::CreateView(view) => {
                    let at = |message: String| SqlError::at(text, view.name.span().start, message);
                    if view.materialized || !view.columns.is_empty() || view.to.is_some() {
                        return Err(at("a view is `CREATE [TEMPORARY] VIEW name AS SELECT …`; MATERIALIZED, a column list and TO are not supported".into()));
                    }
                    let name = view.name.to_string();
                    if tables.contains_key(&name) || views.contains_key(&name) {
                        return Err(at(format!("`{name}` is created twice")));
                    }
                    views.insert(name, view.query.as_ref());
                }
                Statement::Set(set) => settings.apply(set, span_of(statement))?,
                Statement::Query(_) | Statement::Insert(_) | Statement::Explain { .. } => {
                    queries.push(statement);
                }
                other => {
                    let kind = other
                        .to_string()
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ");
                    return Err(SqlError::at(text, other.span().start, format!("`{kind} …` is not supported; a script holds CREATE TABLE, CREATE VIEW, CREATE FUNCTION and SET statements, and SELECT or INSERT INTO … SELECT queries")));
                }
            }
        }
        Ok(Self {
            tables,
            views,
            queries,
            settings,
        })
    }
}
