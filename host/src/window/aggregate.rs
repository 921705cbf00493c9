//! Aggregates computed by the host as rows arrive: one small accumulator per
//! aggregate per (window, key), never a buffer of the window's rows.

use std::fmt;
use std::sync::Arc;

use hashbrown::HashSet;

use super::plugin_accumulator::PluginAccumulator;
use crate::data::{Column, ColumnBuilder, FieldType, Schema, Value};
use crate::data::{Key, KeyRef};
use crate::plugin::{AggregatePlugin, EncodedRows};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFn {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    /// Exact number of distinct values (a set per window and key).
    CountDistinct,
    /// The value of the row with the earliest event time (the first to
    /// arrive among equal times).
    First,
    /// The value of the row with the latest event time (the last to arrive
    /// among equal times).
    Last,
    /// A WebAssembly aggregate plugin.
    Plugin,
}

impl fmt::Display for AggregateFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggregateFn::Count => "count",
            AggregateFn::Sum => "sum",
            AggregateFn::Min => "min",
            AggregateFn::Max => "max",
            AggregateFn::Avg => "avg",
            AggregateFn::CountDistinct => "count_distinct",
            AggregateFn::First => "first",
            AggregateFn::Last => "last",
            AggregateFn::Plugin => "plugin",
        })
    }
}

/// `name = "fn(field)"` from the pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateSpec {
    pub name: String,
    pub function: AggregateFn,
    pub field: Option<String>,
    /// For [`AggregateFn::Plugin`].
    pub plugin: Option<Arc<AggregatePlugin>>,
}

impl AggregateSpec {
    /// Parses `count`, `count()`, or `f(x)` for f in sum, min, max, avg,
    /// count_distinct, first and last.
    pub fn parse(name: &str, expression: &str) -> Result<Self, String> {
        let expression = expression.trim();
        let (function, argument) = match expression.split_once('(') {
            Some((function, rest)) => {
                let argument = rest.strip_suffix(')').ok_or_else(|| {
                    format!("aggregate `{name}`: `{expression}` is missing its closing parenthesis")
                })?;
                (
                    function.trim(),
                    Some(argument.trim()).filter(|a| !a.is_empty()),
                )
            }
            None => (expression, None),
        };
        let function = match function {
            "count" => AggregateFn::Count,
            "sum" => AggregateFn::Sum,
            "min" => AggregateFn::Min,
            "max" => AggregateFn::Max,
            "avg" => AggregateFn::Avg,
            "count_distinct" => AggregateFn::CountDistinct,
            "first" => AggregateFn::First,
            "last" => AggregateFn::Last,
            other => {
                return Err(format!(
                "aggregate `{name}`: unknown function `{other}`; use count, sum, min, max, avg, count_distinct, first or last"
            ))
            }
        };
        match (function, argument) {
            (AggregateFn::Count, Some(arg)) => Err(format!(
                "aggregate `{name}`: count takes no field (write `count`, not `count({arg})`)"
            )),
            (AggregateFn::Count, None) => Ok(Self {
                name: name.into(),
                function,
                field: None,
                plugin: None,
            }),
            (_, None) => Err(format!(
                "aggregate `{name}`: {function} needs a field, e.g. `{function}(temperature)`"
            )),
            (_, Some(field)) => Ok(Self {
                name: name.into(),
                function,
                field: Some(field.into()),
                plugin: None,
            }),
        }
    }

    /// An aggregate computed by a plugin, loaded for the window's input.
    pub fn plugin(name: &str, plugin: Arc<AggregatePlugin>) -> Self {
        Self {
            name: name.into(),
            function: AggregateFn::Plugin,
            field: None,
            plugin: Some(plugin),
        }
    }

    /// The input column it reads and the type it produces, checked against the input schema.
    pub fn resolve(&self, input: &Schema) -> Result<(Option<usize>, FieldType), String> {
        if let Some(plugin) = &self.plugin {
            return Ok((None, plugin.output_type()));
        }
        let Some(field) = &self.field else {
            return Ok((None, FieldType::I64));
        };
        let index = input.index_of(field).ok_or_else(|| {
            format!("aggregate `{}` reads field `{field}`, which is not in the input; available: {input}", self.name)
        })?;
        let ty = input.fields()[index].ty;
        let output = match (self.function, ty) {
            (AggregateFn::Avg, FieldType::F64 | FieldType::I64) => FieldType::F64,
            (AggregateFn::Sum, FieldType::F64 | FieldType::I64) => ty,
            (
                AggregateFn::Min | AggregateFn::Max,
                FieldType::F64 | FieldType::I64 | FieldType::Timestamp,
            ) => ty,
            (AggregateFn::CountDistinct, _) => FieldType::I64,
            (AggregateFn::First | AggregateFn::Last, _) => ty,
            _ => {
                return Err(format!(
                    "aggregate `{}`: {} cannot be applied to `{field}`, a {ty} field",
                    self.name, self.function
                ))
            }
        };
        Ok((Some(index), output))
    }
}

/// The running state of one aggregate for one (window, key).
///
/// The variants that own memory are boxed so that the common ones stay
/// two words wide: an accumulator array per (window, key) is the bulk of
/// window state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Accumulator {
    Count(i64),
    SumF(f64),
    SumI(i64),
    MinF(f64),
    MaxF(f64),
    MinI(i64),
    MaxI(i64),
    Avg {
        sum: f64,
        count: i64,
    },
    /// Floats are told apart by their bits, as keys are.
    Distinct(Box<HashSet<Key>>),
    /// (event time, value) of the earliest row; `None` before any row.
    First(Option<Box<(i64, Key)>>),
    Last(Option<Box<(i64, Key)>>),
    Plugin(Box<PluginAccumulator>),
}

/// What an aggregate reads from a batch.
pub enum AggregateInput<'b> {
    /// Host aggregates: one column (none for count).
    Column(Option<&'b Column>),
    /// Plugins: the fields they read, encoded once per batch.
    Encoded(EncodedRows),
}

impl Accumulator {
    pub fn new(function: AggregateFn, input: Option<FieldType>) -> Self {
        let float = input == Some(FieldType::F64);
        match function {
            AggregateFn::Count => Accumulator::Count(0),
            AggregateFn::Sum if float => Accumulator::SumF(0.0),
            AggregateFn::Sum => Accumulator::SumI(0),
            AggregateFn::Min if float => Accumulator::MinF(f64::INFINITY),
            AggregateFn::Min => Accumulator::MinI(i64::MAX),
            AggregateFn::Max if float => Accumulator::MaxF(f64::NEG_INFINITY),
            AggregateFn::Max => Accumulator::MaxI(i64::MIN),
            AggregateFn::Avg => Accumulator::Avg { sum: 0.0, count: 0 },
            AggregateFn::CountDistinct => Accumulator::Distinct(Box::default()),
            AggregateFn::First => Accumulator::First(None),
            AggregateFn::Last => Accumulator::Last(None),
            AggregateFn::Plugin => unreachable!("plugin accumulators are made with their plugin"),
        }
    }

    /// Adds row `row` of `input`, whose event time is `time`.
    #[inline]
    pub fn add(&mut self, input: &AggregateInput<'_>, row: usize, time: i64) {
        let column = match (&mut *self, input) {
            (_, AggregateInput::Column(column)) => *column,
            (Accumulator::Plugin(accumulator), AggregateInput::Encoded(rows)) => {
                accumulator.add(rows.row(row));
                return;
            }
            (acc, AggregateInput::Encoded(_)) => {
                unreachable!("{acc:?} given plugin input; inputs follow the layout")
            }
        };
        let value = column.map(|c| c.get(row));
        match (self, value) {
            (Accumulator::Count(n), _) => *n += 1,
            (Accumulator::SumF(s), Some(Value::F64(v))) => *s += v,
            (Accumulator::SumI(s), Some(Value::I64(v))) => *s = s.wrapping_add(v),
            (Accumulator::MinF(m), Some(Value::F64(v))) => *m = m.min(v),
            (Accumulator::MaxF(m), Some(Value::F64(v))) => *m = m.max(v),
            (Accumulator::MinI(m), Some(Value::I64(v) | Value::Timestamp(v))) => *m = (*m).min(v),
            (Accumulator::MaxI(m), Some(Value::I64(v) | Value::Timestamp(v))) => *m = (*m).max(v),
            (Accumulator::Avg { sum, count }, Some(Value::F64(v))) => {
                *sum += v;
                *count += 1;
            }
            (Accumulator::Avg { sum, count }, Some(Value::I64(v))) => {
                *sum += v as f64;
                *count += 1;
            }
            (Accumulator::Distinct(set), Some(value)) => {
                let key = KeyRef::of(value);
                if !set.contains(&key) {
                    set.insert(key.to_owned());
                }
            }
            (Accumulator::First(first), Some(value)) => {
                if first.as_ref().is_none_or(|f| time < f.0) {
                    *first = Some(Box::new((time, KeyRef::of(value).to_owned())));
                }
            }
            (Accumulator::Last(last), Some(value)) => {
                if last.as_ref().is_none_or(|l| time >= l.0) {
                    *last = Some(Box::new((time, KeyRef::of(value).to_owned())));
                }
            }
            (acc, value) => {
                unreachable!("{acc:?} given {value:?}; types are checked when the window is built")
            }
        }
    }

    /// Adds what `other` (an accumulator of the same aggregate) holds, to
    /// combine the panes of a sliding window or merge sessions. `other` holds
    /// rows that arrived after `self`'s where their event times tie.
    #[inline]
    pub fn merge(&mut self, other: &Accumulator) {
        match (self, other) {
            (Accumulator::Count(n), Accumulator::Count(m)) => *n += m,
            (Accumulator::SumF(s), Accumulator::SumF(t)) => *s += t,
            (Accumulator::SumI(s), Accumulator::SumI(t)) => *s = s.wrapping_add(*t),
            (Accumulator::MinF(a), Accumulator::MinF(b)) => *a = a.min(*b),
            (Accumulator::MaxF(a), Accumulator::MaxF(b)) => *a = a.max(*b),
            (Accumulator::MinI(a), Accumulator::MinI(b)) => *a = (*a).min(*b),
            (Accumulator::MaxI(a), Accumulator::MaxI(b)) => *a = (*a).max(*b),
            (Accumulator::Avg { sum, count }, Accumulator::Avg { sum: s, count: c }) => {
                *sum += s;
                *count += c;
            }
            (Accumulator::Distinct(a), Accumulator::Distinct(b)) => {
                a.extend(b.iter().cloned());
            }
            (Accumulator::First(a), Accumulator::First(Some(b))) => {
                if a.as_ref().is_none_or(|a| b.0 < a.0) {
                    *a = Some(b.clone());
                }
            }
            (Accumulator::Last(a), Accumulator::Last(Some(b))) => {
                if a.as_ref().is_none_or(|a| b.0 >= a.0) {
                    *a = Some(b.clone());
                }
            }
            (Accumulator::Plugin(a), Accumulator::Plugin(b)) => a.merge(b),
            (Accumulator::First(_), Accumulator::First(None))
            | (Accumulator::Last(_), Accumulator::Last(None)) => {}
            (a, b) => unreachable!("merging {a:?} with {b:?}: panes of one window agree"),
        }
    }

    /// Whether [`unmerge`](Self::unmerge) can take a merged part back out exactly.
    pub fn invertible(&self) -> bool {
        matches!(self, Accumulator::Count(_) | Accumulator::SumI(_))
    }

    /// Takes out what [`merge`](Self::merge) added (invertible accumulators only).
    #[inline]
    pub fn unmerge(&mut self, other: &Accumulator) {
        match (self, other) {
            (Accumulator::Count(n), Accumulator::Count(m)) => *n -= m,
            (Accumulator::SumI(s), Accumulator::SumI(t)) => *s = s.wrapping_sub(*t),
            (a, b) => unreachable!("unmerging {a:?} with {b:?}: only counts and integer sums"),
        }
    }

    pub fn emit(&self, out: &mut ColumnBuilder, ty: FieldType) {
        let value = match self {
            Accumulator::Count(n) | Accumulator::SumI(n) => Value::I64(*n),
            Accumulator::MinI(v) | Accumulator::MaxI(v) if ty == FieldType::Timestamp => {
                Value::Timestamp(*v)
            }
            Accumulator::MinI(v) | Accumulator::MaxI(v) => Value::I64(*v),
            Accumulator::SumF(v) | Accumulator::MinF(v) | Accumulator::MaxF(v) => Value::F64(*v),
            Accumulator::Avg { sum, count } => Value::F64(sum / *count as f64),
            Accumulator::Distinct(set) => Value::I64(set.len() as i64),
            Accumulator::First(Some(held)) | Accumulator::Last(Some(held)) => held.1.value(ty),
            Accumulator::First(None) | Accumulator::Last(None) => {
                unreachable!("a window holds a row for every key it emits")
            }
            Accumulator::Plugin(_) => {
                unreachable!("plugin results are computed a batch at a time by the layout")
            }
        };
        out.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            AggregateSpec::parse("n", "count").unwrap().function,
            AggregateFn::Count
        );
        assert_eq!(AggregateSpec::parse("n", " count() ").unwrap().field, None);
        let spec = AggregateSpec::parse("hi", "max( temperature )").unwrap();
        assert_eq!(
            (spec.function, spec.field.as_deref()),
            (AggregateFn::Max, Some("temperature"))
        );
    }

    #[test]
    fn explains_bad_expressions() {
        assert!(AggregateSpec::parse("x", "median(t)")
            .unwrap_err()
            .contains("unknown function `median`"));
        assert!(AggregateSpec::parse("x", "sum")
            .unwrap_err()
            .contains("needs a field"));
        assert!(AggregateSpec::parse("x", "count(t)")
            .unwrap_err()
            .contains("takes no field"));
        assert!(AggregateSpec::parse("x", "sum(t")
            .unwrap_err()
            .contains("closing parenthesis"));
    }
}
