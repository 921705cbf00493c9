//! Flink's lookup join, `FROM s [AS r] [LEFT] JOIN t FOR SYSTEM_TIME AS OF
//! r.proc_time [AS l] ON r.k = l.k`: each row of the stream takes the
//! columns of table `t`'s row with its key, `t` being a file declared with
//! `CREATE TABLE … WITH ('connector' = 'filesystem', …)`. `JOIN` drops a
//! row without a match (to the dead letters, so nothing is lost), `LEFT
//! JOIN` keeps it with the columns' defaults. The query after the join
//! reads the joined rows, its column names unqualified.

use std::ops::ControlFlow;
use std::path::PathBuf;

use sqlparser::ast::{self, JoinConstraint, JoinOperator, Spanned as _, TableFactor};

use super::from::Process;
use super::proctime::AsOf;
use super::query::Planner;
use super::tables::Table;
use super::SqlError;
use crate::data::{Field, Schema};
use crate::pipeline::config::{
    KafkaTableConfig, LookupConfig, OperatorConfig, PostgresTableConfig, UnmatchedRows,
};
use crate::pipeline::operator::joined_schema;

/// A planned lookup join: its operator, the joined rows, and the names
/// that qualify columns in the rest of the query.
pub(super) struct LookupJoin {
    pub process: Process,
    qualifiers: Qualifiers,
}

/// What may stand before a column's name: each side's alias and name.
struct Qualifiers {
    stream: Vec<String>,
    table: Vec<String>,
}

impl Qualifiers {
    fn any(&self, name: &str) -> bool {
        self.stream.iter().chain(&self.table).any(|q| q == name)
    }
}

impl LookupJoin {
    /// `select` with `r.col` and `l.col` read as `col`, `r.*` and `l.*` as
    /// their columns.
    pub fn unqualified(&self, select: &ast::Select, stream: &Schema) -> ast::Select {
        let mut select = select.clone();
        let qualified = |parts: &[ast::Ident]| match parts {
            [qualifier, column] if self.qualifiers.any(&qualifier.value) => Some(column.clone()),
            _ => None,
        };
        let _ = ast::visit_expressions_mut(&mut select, |expr| {
            if let ast::Expr::CompoundIdentifier(parts) = expr {
                if let Some(column) = qualified(parts) {
                    *expr = ast::Expr::Identifier(column);
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let mut items = Vec::with_capacity(select.projection.len());
        for item in std::mem::take(&mut select.projection) {
            let ast::SelectItem::QualifiedWildcard(
                ast::SelectItemQualifiedWildcardKind::ObjectName(name),
                _,
            ) = &item
            else {
                items.push(item);
                continue;
            };
            let fields = if self.qualifiers.stream.contains(&name.to_string()) {
                stream.fields()
            } else {
                &self.process.output.fields()[stream.len()..]
            };
            let columns = fields.iter().map(|f| f.name.as_str());
            items.extend(
                columns.map(|c| {
                    ast::SelectItem::UnnamedExpr(ast::Expr::Identifier(ast::Ident::new(c)))
                }),
            );
        }
        select.projection = items;
        select
    }
}

impl Planner<'_> {
    /// `from` with one join: a lookup join of the stream and a table.
    pub(super) fn lookup_join(&self, from: &ast::TableWithJoins) -> Result<LookupJoin, SqlError> {
        let [join] = from.joins.as_slice() else {
            return Err(self.at(
                &from.joins[1],
                "one join per query: a lookup join of the stream and one table",
            ));
        };
        let stream_alias = match &from.relation {
            TableFactor::Table { name, args: None, alias, version: None, .. } if name.to_string() == self.table => {
                alias.as_ref().map(|a| a.name.value.clone())
            }
            other => return Err(self.at(other, format!("a lookup join reads the stream `{}` on the left: FROM {0} AS r JOIN table FOR SYSTEM_TIME AS OF r.proc_time AS t ON r.key = t.key", self.table))),
        };
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = &join.relation
        else {
            return Err(self.at(
                &join.relation,
                "a join reads a table declared with CREATE TABLE",
            ));
        };
        let table_name = name.to_string();
        let table = self.looked_up_table(name)?;
        let inner = match &join.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => (true, c),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (false, c),
            _ => return Err(self.at(name, "a lookup join is JOIN (unmatched rows are dead-lettered) or LEFT JOIN (kept with defaults)")),
        };
        let (inner, JoinConstraint::On(on)) = inner else {
            return Err(self.at(name, "a lookup join says how rows match: ON r.key = t.key"));
        };
        // A side is named by its alias and by its name.
        let qualifiers = Qualifiers {
            stream: stream_alias
                .into_iter()
                .chain([self.table.to_string()])
                .collect(),
            table: alias
                .as_ref()
                .map(|a| a.name.value.clone())
                .into_iter()
                .chain([table_name])
                .collect(),
        };
        let (key, table_key) = self.join_key(on, &qualifiers.stream, table)?;
        let added = self.added_columns(table, &table_key)?;
        let output = joined_schema(&self.schema, &added).map_err(|e| self.at(name, e))?;
        let config = table.clone().lookup(key, table_key, inner, &added)?;
        Ok(LookupJoin {
            process: Process {
                operator: (OperatorConfig::Lookup(config), self.span(join)),
                output,
            },
            qualifiers,
        })
    }

    /// The table `name` joins, after a `FOR SYSTEM_TIME AS OF` that says
    /// it is looked up.
    fn looked_up_table(&self, name: &ast::ObjectName) -> Result<&Table, SqlError> {
        let table_name = name.to_string();
        let after_name = crate::expr::offset_of(self.text, name.span().end).unwrap_or(0);
        let Some(as_of) = self.as_of.iter().find(|c| {
            c.table == table_name
                && c.at > after_name
                && self.text[after_name..c.at].trim_start().starts_with("FOR")
        }) else {
            return Err(self.at(name, format!("weir joins a stream with a table it looks rows up in: write JOIN {table_name} FOR SYSTEM_TIME AS OF r.proc_time (stream-to-stream joins are not supported yet)")));
        };
        self.check_as_of(as_of)?;
        self.lookups.get(&table_name).ok_or_else(|| {
            self.at(name, format!("`{table_name}` is not a table of this script; declare it with CREATE TABLE {table_name} (…) WITH ('connector' = 'filesystem', 'path' = …)"))
        })
    }

    /// The table's columns besides its key, which the join adds: none may
    /// share a name with the stream's.
    fn added_columns(&self, table: &Table, table_key: &str) -> Result<Vec<Field>, SqlError> {
        let mut added = Vec::new();
        for (column, ty) in &table.columns {
            if column == table_key {
                continue;
            }
            if self.schema.index_of(column).is_some() {
                return Err(SqlError { message: format!("column `{column}` is in both `{}` and `{}`; the join adds the table's columns to the stream's, so rename one", self.table, table.name), span: Some(table.span.clone()) });
            }
            added.push(Field::new(column.clone(), *ty));
        }
        Ok(added)
    }

    /// `FOR SYSTEM_TIME AS OF` a processing-time column (or PROCTIME()):
    /// the table as it is when the row arrives.
    fn check_as_of(&self, as_of: &AsOf) -> Result<(), SqlError> {
        let what = as_of.what.replace(' ', "");
        if what.eq_ignore_ascii_case("PROCTIME()") {
            return Ok(());
        }
        let column = what.rsplit('.').next().unwrap_or_default().to_string();
        let at = |message: String| SqlError {
            message,
            span: Some(as_of.at..as_of.at),
        };
        match column {
            column if self.proc_times.contains(&column) => Ok(()),
            column if self.time_column == Some(column.as_str()) => Err(at(format!("`{column}` is the event time: a join on a versioned table as of each row's event time is not supported yet; weir looks the table up as it is when the row arrives — declare `proc_time AS PROCTIME()` in the stream's table and write FOR SYSTEM_TIME AS OF r.proc_time"))),
            _ => Err(at("FOR SYSTEM_TIME AS OF names the stream's processing-time column: declare `proc_time AS PROCTIME()` in its CREATE TABLE and write FOR SYSTEM_TIME AS OF r.proc_time".into())),
        }
    }

    /// The stream's and the table's key columns, from `ON r.k = t.k`.
    fn join_key(
        &self,
        on: &ast::Expr,
        stream_names: &[String],
        table: &Table,
    ) -> Result<(String, String), SqlError> {
        let shape = "a lookup join matches one column of each: ON r.key = t.key";
        let ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Eq,
            right,
        } = on
        else {
            return Err(self.at(on, shape));
        };
        // Which side a column is of: by its qualifier, else by its name.
        let side = |e: &ast::Expr| -> Option<(bool, String)> {
            match e {
                ast::Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                    let stream = stream_names.contains(&parts[0].value);
                    Some((stream, parts[1].value.clone()))
                }
                ast::Expr::Identifier(column) => Some((
                    self.schema.index_of(&column.value).is_some(),
                    column.value.clone(),
                )),
                _ => None,
            }
        };
        let (Some(a), Some(b)) = (side(left), side(right)) else {
            return Err(self.at(on, shape));
        };
        let ((_, key), (_, table_key)) = match (a.0, b.0) {
            (true, false) => (a, b),
            (false, true) => (b, a),
            _ => return Err(self.at(on, shape)),
        };
        if self.schema.index_of(&key).is_none() {
            return Err(self.at(on, format!("`{key}` is not a column of `{}`", self.table)));
        }
        if !table.columns.contains_key(&table_key) {
            return Err(self.at(
                on,
                format!("`{table_key}` is not a column of `{}`", table.name),
            ));
        }
        Ok((key, table_key))
    }
}

impl Table {
    /// Flink's JDBC options, for PostgreSQL: 'url' =
    /// 'jdbc:postgresql://host:port/db', 'table-name', 'username',
    /// 'password'; the table is read whole.
    fn jdbc(&mut self) -> Result<PostgresTableConfig, SqlError> {
        let url = self.required("url")?;
        let shape = "'url' = 'jdbc:postgresql://host[:port]/database'";
        let Some(rest) = url.strip_prefix("jdbc:postgresql://") else {
            return Err(self.error(format!("weir's JDBC tables are PostgreSQL: {shape}")));
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => (host, Some(port)),
            _ => (authority, None),
        };
        if host.is_empty() || host.contains('@') {
            return Err(self.error(format!(
                "{shape}, with 'username' and 'password' as options"
            )));
        }
        let quoted = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        let mut parts = vec![format!("host={}", quoted(host))];
        if let Some(port) = port {
            parts.push(format!("port={port}"));
        }
        if !database.is_empty() {
            parts.push(format!("dbname={}", quoted(database)));
        }
        if let Some(user) = self.take("username") {
            parts.push(format!("user={}", quoted(&user)));
        }
        if let Some(password) = self.take("password") {
            parts.push(format!("password={}", quoted(&password)));
        }
        // pgjdbc's TLS parameters, which mean what libpq's do.
        let query = query.split('#').next().unwrap_or_default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if matches!(&*key, "sslmode" | "sslrootcert" | "sslcert" | "sslkey") {
                parts.push(format!("{key}={}", quoted(&value)));
            }
        }
        let table = self.required("table-name")?;
        let name = table
            .split('.')
            .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(".");
        Ok(PostgresTableConfig {
            url: parts.join(" "),
            query: format!("SELECT * FROM {name}"),
        })
    }

    /// Flink's `upsert-kafka`: 'topic', 'properties.bootstrap.servers' (and
    /// other 'properties.*'), keys as text ('key.format' = 'raw'), values
    /// JSON objects ('value.format' = 'json').
    fn upsert_kafka(&mut self) -> Result<KafkaTableConfig, SqlError> {
        let topic = self.required("topic")?;
        let bootstrap_servers = self.required("properties.bootstrap.servers")?;
        for (option, expected) in [("key.format", "raw"), ("value.format", "json")] {
            match self.take(option) {
                None => {}
                Some(format) if format == expected => {}
                Some(other) => return Err(self.error(format!("'{option}' = '{other}': a changelog table's keys are 'raw' text and its values 'json'"))),
            }
        }
        let keys: Vec<String> = self
            .option_keys()
            .filter(|k| k.starts_with("properties."))
            .collect();
        let mut properties = indexmap::IndexMap::new();
        for key in keys {
            let value = self.take(&key).expect("listed above");
            properties.insert(key["properties.".len()..].to_string(), value);
        }
        Ok(KafkaTableConfig {
            bootstrap_servers,
            topic,
            properties,
        })
    }

    /// The table as a lookup join's reference data: a file, its key column
    /// `table_key`, matched with the stream's `key`, adding `added`.
    fn lookup(
        mut self,
        key: String,
        table_key: String,
        inner: bool,
        added: &[Field],
    ) -> Result<LookupConfig, SqlError> {
        let (table, postgres, kafka) = match self.connector.as_str() {
            "filesystem" => {
                let path = PathBuf::from(self.required("path")?);
                match self.take("format").as_deref() {
                    None | Some("csv" | "json") => {}
                    Some(other) => return Err(self.error(format!("a lookup table is 'csv' (with a header line) or 'json' (JSON lines), not '{other}'"))),
                }
                (Some(path), None, None)
            }
            "jdbc" => (None, Some(self.jdbc()?), None),
            "upsert-kafka" => (None, None, Some(self.upsert_kafka()?)),
            other => return Err(self.error(format!("a lookup join reads its table from a file ('connector' = 'filesystem'), PostgreSQL ('connector' = 'jdbc') or a Kafka changelog ('connector' = 'upsert-kafka'), not '{other}'"))),
        };
        let reload_every = self.parsed("lookup.join.cache.ttl")?;
        let mut defaults = toml::Table::new();
        for field in added {
            if let Some(value) = self.take(&format!("default.{}", field.name)) {
                defaults.insert(field.name.clone(), toml::Value::String(value));
            }
        }
        self.no_more_options()?;
        Ok(LookupConfig {
            name: Some(format!("join-{}", self.name)),
            from: None,
            table,
            postgres,
            kafka,
            key,
            table_key: Some(table_key),
            fields: added.iter().map(|f| (f.name.clone(), f.ty)).collect(),
            unmatched: if inner {
                UnmatchedRows::DeadLetter
            } else {
                UnmatchedRows::Keep
            },
            defaults,
            reload_every,
        })
    }
}
