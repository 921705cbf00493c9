//! One `[[operators]]` entry to a stage: plugins compiled, windows shaped,
//! expressions checked against the schema the stage receives.

use std::path::Path;
use std::sync::Arc;

use toml::Spanned;

use super::Context;
use crate::data::{FieldType, Schema};
use crate::expr::Expr;
use crate::pipeline::config::{AggregateConfig, Millis, OperatorConfig, WindowKind, WindowTime};
use crate::pipeline::error::PipelineError;
use crate::pipeline::operator::{FilterStage, PluginStage, SelectStage, WindowStage};
use crate::pipeline::stage::{Stage, Unload};
use crate::plugin::{AggregatePlugin, FailurePolicy, PluginEngine, PluginLimits, PluginOperator};
use crate::window::{self, AggregateSpec, EventTimeWindows, WindowShape, WindowSpec};

/// Operator #`number` of the file, receiving rows of `current`.
pub(super) fn build(
    spanned: Spanned<OperatorConfig>,
    number: usize,
    current: &Arc<Schema>,
    cx: &Context<'_>,
) -> Result<Stage, PipelineError> {
    let span = spanned.span();
    let at = |span: std::ops::Range<usize>, message: String| cx.at(span, message);
    let (base, engine) = (cx.base, cx.engine);
    Ok(match spanned.into_inner() {
        OperatorConfig::Plugin {
            name,
            from: _,
            path: plugin_path,
            config,
            key_by,
            memory_mib,
            batch_deadline,
            max_output_mib,
            max_fan_out,
            max_timers,
            on_failure,
            quarantine_after,
            unload,
        } => {
            let config_json = serde_json::to_string(&config).map_err(|e| {
                at(
                    span.clone(),
                    format!("operator #{number}: config cannot be passed as JSON: {e}"),
                )
            })?;
            let limits = plugin_limits(&LimitSettings {
                memory_mib,
                batch_deadline,
                max_output_mib,
                max_fan_out,
                max_timers,
            })
            .map_err(|e| at(span.clone(), format!("operator #{number}: {e}")))?;
            let mut policy = FailurePolicy::default();
            if let Some(after) = quarantine_after {
                policy.quarantine_after = after;
            }
            let path = base.join(&plugin_path);
            let plugin = PluginOperator::load(engine, &path, &config_json, current, limits, policy)
                .and_then(|p| p.keyed_by(key_by.as_deref(), current))
                .map_err(|e| at(span.clone(), format!("operator #{number}: {e}")))?;
            let name = name.unwrap_or_else(|| plugin.descriptor().name.clone());
            if unload == Unload::Bypass && plugin.output_schema() != current {
                return Err(at(
                    span.clone(),
                    format!(
                        "operator #{number} (`{name}`): unload = \"bypass\" needs a stage that passes rows on with the same fields (a filter); this one outputs {}",
                        plugin.output_schema()
                    ),
                ));
            }
            let mut stage = Stage::new(
                name,
                Box::new(PluginStage::new(Box::new(plugin), on_failure)),
                current.clone(),
            );
            stage.unload = unload;
            stage
        }
        OperatorConfig::Window {
            name,
            from: _,
            kind,
            size,
            slide,
            gap,
            time,
            early_fire_every,
            allowed_lateness,
            key_by,
            aggregates,
            having,
        } => {
            let name = name.unwrap_or_else(|| format!("window-{number}"));
            let shape = window_shape(kind, size, slide, gap)
                .map_err(|e| at(span.clone(), format!("operator #{number} (`{name}`): {e}")))?;
            let aggregates = aggregates
                .iter()
                .map(|(aggregate, config)| aggregate_spec(engine, base, aggregate, config, current))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| at(span.clone(), format!("operator #{number} (`{name}`): {e}")))?;
            let spec = WindowSpec {
                key_by,
                shape,
                allowed_lateness_ms: allowed_lateness.map_or(0, |l| l.0),
                time: match time {
                    WindowTime::Event => window::WindowTime::Event,
                    WindowTime::Processing => window::WindowTime::Processing,
                },
                early_fire_every_ms: early_fire_every.map(|every| every.0),
                aggregates,
            };
            let window = EventTimeWindows::new(&spec, current)
                .map_err(|e| at(span.clone(), format!("operator #{number} (`{name}`): {e}")))?;
            let having = match having {
                Some(text) => {
                    let at = value_span(cx.text, span.clone(), "having", &text);
                    Some(predicate(
                        text,
                        at,
                        window.output_schema(),
                        cx,
                        &name,
                        "having",
                    )?)
                }
                None => None,
            };
            Stage::new(
                name,
                Box::new(WindowStage::new(Box::new(window), having)),
                current.clone(),
            )
        }
        OperatorConfig::Lookup(lookup) => {
            let name = lookup
                .name
                .clone()
                .unwrap_or_else(|| format!("lookup-{number}"));
            let operator = super::lookup::lookup_operator(lookup, current, base)
                .map_err(|e| at(span.clone(), format!("operator #{number} (`{name}`): {e}")))?;
            Stage::new(name, Box::new(operator), current.clone())
        }
        OperatorConfig::Filter {
            name, condition, ..
        } => {
            let name = name.unwrap_or_else(|| format!("filter-{number}"));
            let at = value_span(cx.text, span.clone(), "where", &condition);
            let (text, predicate) = predicate(condition, at, current, cx, &name, "where")?;
            Stage::new(
                name,
                Box::new(FilterStage::new(text, predicate, current.clone())),
                current.clone(),
            )
        }
        OperatorConfig::Select { name, fields, .. } => {
            let name = name.unwrap_or_else(|| format!("select-{number}"));
            let mut computed = Vec::new();
            for (field, text) in fields {
                let span = value_span(cx.text, span.clone(), &field, &text);
                let expr = Expr::parse(&text, current).map_err(|e| {
                    cx.at_expression(
                        span,
                        e,
                        &format!("operator #{number} (`{name}`), field `{field}`"),
                    )
                })?;
                computed.push((field, expr));
            }
            let select = SelectStage::new(computed, current)
                .map_err(|e| at(span.clone(), format!("operator #{number} (`{name}`): {e}")))?;
            Stage::new(name, Box::new(select), current.clone())
        }
    })
}

/// A boolean expression (`where`, `having`) checked against `schema`, with
/// its text for `weir explain`.
fn predicate(
    text: String,
    span: std::ops::Range<usize>,
    schema: &Schema,
    cx: &Context<'_>,
    stage: &str,
    key: &str,
) -> Result<(String, Expr), PipelineError> {
    let what = format!("`{stage}`: {key}");
    let expr = Expr::parse(&text, schema).map_err(|e| cx.at_expression(span.clone(), e, &what))?;
    if expr.ty() != FieldType::Bool {
        return Err(cx.at(
            span,
            format!(
                "{what} = \"{text}\" is a {}, not a condition; compare it, e.g. `… > 0`",
                expr.ty()
            ),
        ));
    }
    Ok((text, expr))
}

/// Where the quoted value of `key` is inside the entry at `entry` (serde
/// keeps no place for values inside a tagged table), or the entry's start
/// when it cannot be found (an escaped string).
fn value_span(
    text: &str,
    entry: std::ops::Range<usize>,
    key: &str,
    value: &str,
) -> std::ops::Range<usize> {
    // An array-of-tables entry's span may be its header alone.
    let entry = if text[entry.start.min(text.len())..].starts_with('[') {
        crate::pipeline::hint::table_extent(text, &entry)
    } else {
        entry
    };
    let within = text.get(entry.clone()).unwrap_or("");
    within
        .find(key)
        .and_then(|at| within[at..].find(value).map(|v| at + v))
        .filter(|&v| v > 0)
        .map_or(entry.start..entry.start, |v| {
            // From the opening quote, which the error placement expects.
            let start = entry.start + v - 1;
            start..start + value.len() + 2
        })
}

/// The window's shape from the settings its kind takes; a setting of
/// another kind is refused rather than ignored.
fn window_shape(
    kind: WindowKind,
    size: Option<Millis>,
    slide: Option<Millis>,
    gap: Option<Millis>,
) -> Result<WindowShape, String> {
    match (kind, size, slide, gap) {
        (WindowKind::Tumbling, Some(size), None, None) => Ok(WindowShape::Tumbling { size_ms: size.0 }),
        (WindowKind::Sliding, Some(size), Some(slide), None) => Ok(WindowShape::Sliding {
            size_ms: size.0,
            slide_ms: slide.0,
        }),
        (WindowKind::Session, None, None, Some(gap)) => Ok(WindowShape::Session { gap_ms: gap.0 }),
        (WindowKind::Tumbling | WindowKind::Sliding, None, _, _) => {
            Err("a tumbling or sliding window needs `size`, e.g. size = \"10s\"".into())
        }
        (WindowKind::Tumbling, _, Some(_), _) => Err(
            "`slide` is for kind = \"sliding\"; a tumbling window slides by its size".into(),
        ),
        (WindowKind::Sliding, _, None, _) => Err(
            "a sliding window needs `slide`, e.g. size = \"60s\", slide = \"10s\"".into(),
        ),
        (WindowKind::Tumbling | WindowKind::Sliding, _, _, Some(_)) => {
            Err("`gap` is for kind = \"session\"".into())
        }
        (WindowKind::Session, Some(_), _, _) | (WindowKind::Session, _, Some(_), _) => Err(
            "a session window has no `size` or `slide`: it lasts while rows come at most `gap` apart".into(),
        ),
        (WindowKind::Session, None, None, None) => {
            Err("a session window needs `gap`, e.g. gap = \"30s\"".into())
        }
    }
}

/// A window aggregate from its pipeline-file entry; plugins are loaded here,
/// for the rows the window receives.
pub(crate) fn aggregate_spec(
    engine: &PluginEngine,
    base: &Path,
    name: &str,
    config: &AggregateConfig,
    input: &Schema,
) -> Result<AggregateSpec, String> {
    let plugin = match config {
        AggregateConfig::Expression(expression) => return AggregateSpec::parse(name, expression),
        AggregateConfig::Plugin(plugin) => plugin,
    };
    let config_json = serde_json::to_string(&plugin.config)
        .map_err(|e| format!("aggregate `{name}`: config cannot be passed as JSON: {e}"))?;
    let limits = plugin_limits(&LimitSettings {
        memory_mib: plugin.memory_mib,
        batch_deadline: plugin.batch_deadline,
        ..LimitSettings::default()
    })
    .map_err(|e| format!("aggregate `{name}`: {e}"))?;
    let loaded = AggregatePlugin::load(
        engine,
        &base.join(&plugin.plugin),
        &config_json,
        plugin.field.as_deref(),
        input,
        limits,
    )
    .map_err(|e| format!("aggregate `{name}`: {e}"))?;
    Ok(AggregateSpec::plugin(name, loaded))
}

/// A plugin's limits as the pipeline file gives them.
#[derive(Default)]
struct LimitSettings {
    memory_mib: Option<usize>,
    batch_deadline: Option<Millis>,
    max_output_mib: Option<usize>,
    max_fan_out: Option<usize>,
    max_timers: Option<usize>,
}

/// The limits, each checked against its range: a limit exists to bound the
/// host, so a value that would not (or would overflow) is refused.
fn plugin_limits(settings: &LimitSettings) -> Result<PluginLimits, String> {
    let defaults = PluginLimits::default();
    let within =
        |key: &str, value: Option<usize>, range: std::ops::RangeInclusive<usize>| match value {
            Some(v) if !range.contains(&v) => Err(format!(
                "`{key} = {v}` is out of range; it takes {} to {}",
                range.start(),
                range.end()
            )),
            other => Ok(other),
        };
    let memory_mib = within("memory_mib", settings.memory_mib, 1..=4096)?;
    let output_mib = within("max_output_mib", settings.max_output_mib, 1..=1024)?;
    let deadline_ms = settings.batch_deadline.map(|d| d.0 as usize);
    within("batch_deadline", deadline_ms, 10..=600_000)?;
    Ok(PluginLimits {
        memory_bytes: memory_mib.map_or(defaults.memory_bytes, |mib| mib << 20),
        batch_deadline: settings
            .batch_deadline
            .map_or(defaults.batch_deadline, Millis::duration),
        max_output_bytes: output_mib.map_or(defaults.max_output_bytes, |mib| mib << 20),
        max_fan_out: within("max_fan_out", settings.max_fan_out, 1..=1_000_000)?
            .unwrap_or(defaults.max_fan_out),
        max_timers: within("max_timers", settings.max_timers, 1..=100_000_000)?
            .unwrap_or(defaults.max_timers),
    })
}
