//! The aggregate calls of a query: host aggregates (COUNT, COUNT(DISTINCT),
//! SUM, AVG, MIN, MAX, FIRST_VALUE, LAST_VALUE) and aggregate plugins the
//! script created, each found once in the select list and HAVING.

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, FunctionArguments, SelectItem, Spanned as _,
};

use super::functions::WasmFunction;
use super::query::plain_args;
use super::SqlError;
use crate::pipeline::config::{AggregateConfig, PluginAggregateConfig};

/// The aggregate calls of a query, each once, as a window aggregate.
pub(super) struct Aggregates {
    pub calls: Vec<(ast::Expr, AggregateConfig)>,
}

impl Aggregates {
    pub fn collect(
        select: &ast::Select,
        text: &str,
        functions: &[WasmFunction],
    ) -> Result<Self, SqlError> {
        let mut calls: Vec<(ast::Expr, AggregateConfig)> = Vec::new();
        let mut error = None;
        let mut visit = |expr: &ast::Expr| {
            if let ast::Expr::Function(f) = expr {
                match aggregate(f, functions) {
                    Some(Ok(spec)) if !calls.iter().any(|(e, _)| e == expr) => {
                        calls.push((expr.clone(), spec));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(message)) => {
                        error.get_or_insert((expr.span(), message));
                    }
                    None => {}
                }
            }
            ControlFlow::<()>::Continue(())
        };
        for item in &select.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                let _ = ast::visit_expressions(e, &mut visit);
            }
        }
        if let Some(having) = &select.having {
            let _ = ast::visit_expressions(having, &mut visit);
        }
        if let Some((span, message)) = error {
            return Err(SqlError::at(text, span.start, message));
        }
        Ok(Self { calls })
    }
}

/// `Some` when `f` is an aggregate: the window aggregate it is, or why it
/// cannot be. A function the script created is an aggregate plugin.
fn aggregate(
    f: &ast::Function,
    functions: &[WasmFunction],
) -> Option<Result<AggregateConfig, String>> {
    if let Some(function) = functions
        .iter()
        .find(|w| w.name.eq_ignore_ascii_case(&f.name.to_string()))
    {
        if function.settings.beyond_aggregate_limits() {
            return Some(Err(format!(
                "{}: an aggregate plugin takes 'weir.memory-mib' and 'weir.batch-deadline' only",
                function.name
            )));
        }
        return Some(match plain_args(f).as_deref() {
            Some([ast::Expr::Identifier(column)]) => {
                Ok(AggregateConfig::Plugin(PluginAggregateConfig {
                    plugin: function.path.clone(),
                    field: Some(column.value.clone()),
                    config: function.config.clone(),
                    memory_mib: function.settings.memory_mib,
                    batch_deadline: function.settings.batch_deadline,
                }))
            }
            _ => Err(format!(
                "{} is an aggregate plugin: it takes one column",
                function.name
            )),
        });
    }
    host_aggregate(f).map(|spec| spec.map(AggregateConfig::Expression))
}

/// `Some` when `f` is a host aggregate: weir's spec for it, or why it cannot be.
fn host_aggregate(f: &ast::Function) -> Option<Result<String, String>> {
    let name = f.name.to_string().to_ascii_uppercase();
    let weir = match name.as_str() {
        "COUNT" => "count",
        "SUM" => "sum",
        "AVG" => "avg",
        "MIN" => "min",
        "MAX" => "max",
        "FIRST_VALUE" => "first",
        "LAST_VALUE" => "last",
        _ => return None,
    };
    let FunctionArguments::List(list) = &f.args else {
        return Some(Err(format!("{name} takes an argument")));
    };
    let distinct = matches!(
        list.duplicate_treatment,
        Some(ast::DuplicateTreatment::Distinct)
    );
    let column = match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if weir == "count" && !distinct => {
            return Some(Ok("count".into()))
        }
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(ast::Expr::Identifier(column)))] => {
            column.value.clone()
        }
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(other))] => {
            return Some(Err(format!(
            "{name}({other}): aggregates of expressions are not supported yet; aggregate a column"
        )))
        }
        _ => return Some(Err(format!("{name} takes one column"))),
    };
    Some(Ok(match (weir, distinct) {
        // Fields have no NULL yet, so COUNT(col) counts every row.
        ("count", false) => "count".into(),
        ("count", true) => format!("count_distinct({column})"),
        (_, true) => {
            return Some(Err(format!(
                "{name}(DISTINCT …) is not supported; only COUNT(DISTINCT …) is"
            )))
        }
        (weir, false) => format!("{weir}({column})"),
    }))
}
