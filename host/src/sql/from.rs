//! A query's `FROM`: the source table, a window table function over it
//! (`TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL …))`), or a Wasm
//! function over it as a process table function, Flink's form for user
//! operators: `fraud_detector(TABLE payments PARTITION BY user_id)`.

use std::sync::Arc;

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments, TableFactor};

use super::functions::{option_value, WasmFunction};
use super::query::{plain_args, window_function, GroupWindow, Planner};
use super::table_args::named_table;
use super::SqlError;
use crate::data::Schema;
use crate::pipeline::config::{OperatorConfig, WindowKind};
use crate::plugin::{
    Descriptor, FailurePolicy, OperatorKind, PluginInstance, PluginLimits, PluginOperator,
    PreparedPlugin,
};

/// What the query reads.
pub(super) enum From {
    Table,
    /// A window table function: the window the query groups by.
    Window(GroupWindow),
    /// A plugin's rows, which the rest of the query reads.
    Process(Process),
    /// The stream's rows joined with a table's.
    Lookup(super::lookup::LookupJoin),
}

/// A Wasm function applied to the source table: its operator and the
/// schema of the rows it emits.
pub(super) struct Process {
    pub operator: (OperatorConfig, std::ops::Range<usize>),
    pub output: Arc<Schema>,
}

impl Planner<'_> {
    pub(super) fn check_from(&self, select: &ast::Select) -> Result<From, SqlError> {
        let [from] = select.from.as_slice() else {
            return Err(self.at(
                select,
                "a query reads one table, or joins it with a lookup table: FROM s AS r JOIN t FOR SYSTEM_TIME AS OF r.proc_time AS l ON r.key = l.key",
            ));
        };
        if !from.joins.is_empty() {
            return self.lookup_join(from).map(From::Lookup);
        }
        match &from.relation {
            TableFactor::Table { name, args: None, .. } if name.to_string() == self.table => Ok(From::Table),
            TableFactor::Table { name, args: None, .. } => Err(self.at(name, format!("`{name}` is not a source table of this script; the source is `{}`", self.table))),
            TableFactor::Table { name, args: Some(args), alias: None, .. } => {
                self.process_function(&name.to_string(), &args.args, &from.relation).map(From::Process)
            }
            TableFactor::TableFunction { expr: call @ ast::Expr::Function(f), alias: None } => {
                if window_function(f).is_some() {
                    return self.table_function(f, call).map(From::Window);
                }
                let FunctionArguments::List(list) = &f.args else {
                    return Err(self.at(call, format!("{} takes TABLE {}", f.name, self.table)));
                };
                self.process_function(&f.name.to_string(), &list.args, call).map(From::Process)
            }
            other => Err(self.at(other, format!("`{other}` is not supported; read FROM {} or FROM TABLE(TUMBLE(TABLE {0}, DESCRIPTOR(ts), INTERVAL …))", self.table))),
        }
    }

    /// `TUMBLE(TABLE t, DESCRIPTOR(ts), size)` or `HOP(TABLE t,
    /// DESCRIPTOR(ts), slide, size)`, its `TABLE` keyword blanked out before
    /// parsing (see `table_args`).
    fn table_function(&self, f: &ast::Function, call: &ast::Expr) -> Result<GroupWindow, SqlError> {
        let kind = match window_function(f) {
            Some(kind @ (WindowKind::Tumbling | WindowKind::Sliding)) => kind,
            _ => return Err(self.at(call, format!("the table function {} is not supported; use TUMBLE or HOP (or GROUP BY SESSION(…))", f.name))),
        };
        let args = plain_args(f)
            .ok_or_else(|| self.at(call, format!("{} takes plain arguments", f.name)))?;
        match args.first() {
            Some(ast::Expr::Identifier(table)) if table.value == self.table => {}
            Some(other) => {
                return Err(self.at(
                    *other,
                    format!("{} reads TABLE {}, the script's source", f.name, self.table),
                ))
            }
            None => {
                return Err(self.at(
                    call,
                    format!(
                        "{} takes TABLE {}, DESCRIPTOR(ts) and INTERVALs",
                        f.name, self.table
                    ),
                ))
            }
        }
        let time = match args.get(1) {
            Some(ast::Expr::Function(descriptor))
                if descriptor
                    .name
                    .to_string()
                    .eq_ignore_ascii_case("DESCRIPTOR") =>
            {
                match plain_args(descriptor).as_deref() {
                    Some([column]) => (*column).clone(),
                    _ => {
                        return Err(self.at(
                            args[1],
                            "DESCRIPTOR names one column: the event-time column",
                        ))
                    }
                }
            }
            _ => {
                return Err(self.at(
                    call,
                    format!("{}'s second argument is DESCRIPTOR(ts)", f.name),
                ))
            }
        };
        self.group_window(kind, &f.name.to_string(), call, &time, &args[2..])
    }

    /// `f(TABLE t [PARTITION BY key], option => value, …)`: a filter, map
    /// or flat-map plugin over each row of `t` (Flink's row semantics), a
    /// keyed plugin over each key's rows (set semantics). Named arguments
    /// add to the options of the function's `WITH (…)`.
    fn process_function(
        &self,
        name: &str,
        args: &[FunctionArg],
        call: &impl ast::Spanned,
    ) -> Result<Process, SqlError> {
        let function = self.function(name, call)?;
        let shape = format!(
            "call it as {name}(TABLE {} [PARTITION BY key], option => value, …)",
            self.table
        );
        let Some((table, rest)) = args.split_first() else {
            return Err(self.at(call, shape));
        };
        let Some(table) = named_table(table) else {
            return Err(self.at(
                table,
                format!("{name}'s first argument is the table it reads; {shape}"),
            ));
        };
        if table.value != self.table {
            return Err(SqlError::at(
                self.text,
                table.span.start,
                format!(
                    "{name} reads TABLE {}, the script's source; {shape}",
                    self.table
                ),
            ));
        }
        let at = crate::expr::offset_of(self.text, table.span.start);
        let Some(argument) = self.table_arguments.iter().find(|a| Some(a.name_at) == at) else {
            return Err(SqlError::at(
                self.text,
                table.span.start,
                format!(
                    "write the table argument as TABLE {0}: {name}(TABLE {0} …)",
                    self.table
                ),
            ));
        };
        let mut config = function.config.clone();
        for option in rest {
            let (key, value) = self.option(option, &shape)?;
            config.insert(key, value);
        }
        let (prepared, descriptor) = self.prepare_function(function, call)?;
        let fail = |e: crate::plugin::PluginError| self.at(call, format!("{name}: {e}"));
        let key_by = match (descriptor.kind, &argument.partition_by) {
            (OperatorKind::Aggregate, _) => return Err(self.at(call, format!("{name} is an aggregate function: call it in the select list, e.g. SELECT {name}(column) … GROUP BY …"))),
            (OperatorKind::Keyed, None) => return Err(self.at(call, format!("{name} is a keyed function: it keeps state per key, so give its table a key: {name}(TABLE {} PARTITION BY key)", self.table))),
            (OperatorKind::Keyed, Some((columns, span))) => match columns.as_slice() {
                [column] => Some(column.clone()),
                _ => return Err(SqlError { message: format!("{name} is keyed by one column; PARTITION BY names {}", columns.len()), span: Some(span.clone()) }),
            },
            (kind, Some((_, span))) => return Err(SqlError { message: format!("{name} is a {kind} function: it takes each row on its own, so its table has no PARTITION BY"), span: Some(span.clone()) }),
            (_, None) => None,
        };
        let config_json = serde_json::to_string(&config).map_err(|e| {
            self.at(
                call,
                format!("{name}: options cannot be passed as JSON: {e}"),
            )
        })?;
        let plugin = PluginOperator::new(
            prepared,
            &config_json,
            &self.schema,
            PluginLimits::default(),
            FailurePolicy::default(),
        )
        .and_then(|p| p.keyed_by(key_by.as_deref(), &self.schema))
        .map_err(fail)?;
        let operator = function.operator(function.name.clone(), config, key_by);
        Ok(Process {
            operator: (operator, self.span(call)),
            output: plugin.output_schema().clone(),
        })
    }

    /// The function's component, compiled, and what it says of itself.
    pub(super) fn prepare_function(
        &self,
        function: &WasmFunction,
        call: &impl ast::Spanned,
    ) -> Result<(PreparedPlugin, Descriptor), SqlError> {
        let fail = |e: crate::plugin::PluginError| self.at(call, format!("{}: {e}", function.name));
        let prepared = self
            .engine
            .prepare(&self.base.join(&function.path))
            .map_err(fail)?;
        let descriptor = PluginInstance::new(&prepared, PluginLimits::default())
            .map_err(fail)?
            .descriptor()
            .clone();
        Ok((prepared, descriptor))
    }

    fn function(&self, name: &str, call: &impl ast::Spanned) -> Result<&WasmFunction, SqlError> {
        self.functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| self.at(call, format!("`{name}` is not a function this script created; add CREATE FUNCTION {name} AS 'plugins/dist/….wasm' LANGUAGE WASM")))
    }

    /// `key => 'value'`: one option for the plugin.
    fn option(&self, option: &FunctionArg, shape: &str) -> Result<(String, toml::Value), SqlError> {
        let FunctionArg::Named {
            name,
            arg: FunctionArgExpr::Expr(ast::Expr::Value(value)),
            ..
        } = option
        else {
            return Err(self.at(
                option,
                format!("after the table come named options, e.g. threshold => 100; {shape}"),
            ));
        };
        let value = match &value.value {
            ast::Value::Number(n, _) => option_value(n),
            ast::Value::SingleQuotedString(s) => option_value(s),
            ast::Value::Boolean(b) => toml::Value::Boolean(*b),
            other => {
                return Err(self.at(
                    option,
                    format!("option `{name}`: {other} is not a number, string or boolean"),
                ))
            }
        };
        Ok((name.value.clone(), value))
    }
}
