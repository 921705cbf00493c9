//! `CREATE [TEMPORARY] FUNCTION name AS 'plugin.wasm' LANGUAGE WASM [WITH
//! ('key' = 'value', …)]`: Flink's form for user functions, with a Wasm
//! component where Flink names a class. sqlparser does not take it, so it
//! is read from the tokens here and blanked out of the script in place.

use std::path::PathBuf;

use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::SqlError;
use crate::expr::offset_of;
use crate::pipeline::config::{Millis, OperatorConfig};
use crate::pipeline::{OnFailure, Unload};

/// A function the script declared.
#[derive(Debug, Clone)]
pub struct WasmFunction {
    pub name: String,
    /// As written: relative to the script's directory.
    pub path: PathBuf,
    /// The WITH options, passed to the plugin's `init` as JSON (numbers and
    /// booleans as such, the rest as strings).
    pub config: toml::Table,
    /// The `'weir.…'` options: how the host runs the plugin.
    pub settings: HostSettings,
}

impl WasmFunction {
    /// The pipeline-file operator that runs this function as stage `stage`.
    pub fn operator(
        &self,
        stage: String,
        config: toml::Table,
        key_by: Option<String>,
    ) -> OperatorConfig {
        let settings = &self.settings;
        OperatorConfig::Plugin {
            from: None,
            name: Some(stage),
            path: self.path.clone(),
            config,
            key_by,
            memory_mib: settings.memory_mib,
            batch_deadline: settings.batch_deadline,
            max_output_mib: settings.max_output_mib,
            max_fan_out: settings.max_fan_out,
            max_timers: settings.max_timers,
            on_failure: settings.on_failure,
            quarantine_after: settings.quarantine_after,
            unload: settings.unload,
        }
    }
}

/// What a pipeline file sets beside a plugin's `config`, given in SQL as
/// `'weir.memory-mib' = '64'` and the like among the function's options.
#[derive(Debug, Clone, Default)]
pub struct HostSettings {
    pub memory_mib: Option<usize>,
    pub batch_deadline: Option<Millis>,
    pub max_output_mib: Option<usize>,
    pub max_fan_out: Option<usize>,
    pub max_timers: Option<usize>,
    pub on_failure: OnFailure,
    pub quarantine_after: Option<u32>,
    pub unload: Unload,
}

impl HostSettings {
    const KEYS: &'static str = "weir.memory-mib, weir.batch-deadline, weir.max-output-mib, weir.max-fan-out, weir.max-timers, weir.on-failure, weir.quarantine-after, weir.unload";

    /// Sets `weir.<key>` from the option's value.
    fn set(&mut self, key: &str, value: toml::Value) -> Result<(), String> {
        fn read<T: serde::de::DeserializeOwned>(
            key: &str,
            value: toml::Value,
        ) -> Result<T, String> {
            let shown = value.to_string();
            T::deserialize(value).map_err(|e| format!("'weir.{key}' = {shown}: {}", e.message()))
        }
        match key {
            "memory-mib" => self.memory_mib = Some(read(key, value)?),
            "batch-deadline" => self.batch_deadline = Some(read(key, value)?),
            "max-output-mib" => self.max_output_mib = Some(read(key, value)?),
            "max-fan-out" => self.max_fan_out = Some(read(key, value)?),
            "max-timers" => self.max_timers = Some(read(key, value)?),
            "on-failure" => self.on_failure = read(key, value)?,
            "quarantine-after" => self.quarantine_after = Some(read(key, value)?),
            "unload" => self.unload = read(key, value)?,
            other => {
                return Err(format!(
                    "'weir.{other}' is not a host setting; they are {}",
                    Self::KEYS
                ))
            }
        }
        Ok(())
    }

    /// Whether anything beyond the two limits aggregate plugins take is set.
    pub fn beyond_aggregate_limits(&self) -> bool {
        self.max_output_mib.is_some()
            || self.max_fan_out.is_some()
            || self.max_timers.is_some()
            || self.on_failure != OnFailure::default()
            || self.quarantine_after.is_some()
            || self.unload != Unload::default()
    }
}

/// The script without its CREATE FUNCTION statements, and the functions.
pub fn extract(text: &str) -> Result<(String, Vec<WasmFunction>), SqlError> {
    let tokens = super::tokens(text)?;
    let mut blanked = text.to_string();
    let mut functions = Vec::new();
    let mut statement_start = 0;
    for i in 0..tokens.len() {
        if i != statement_start {
            if tokens[i].token == Token::SemiColon {
                statement_start = i + 1;
            }
            continue;
        }
        let words: Vec<String> = tokens[i..]
            .iter()
            .take(4)
            .map(|t| match &t.token {
                Token::Word(w) => w.value.to_ascii_uppercase(),
                _ => String::new(),
            })
            .collect();
        let skip = match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["CREATE", "FUNCTION", ..] => 2,
            ["CREATE", "TEMPORARY", "FUNCTION", ..] => 3,
            ["CREATE", "TEMPORARY", "SYSTEM", "FUNCTION"] => 4,
            _ => continue,
        };
        let end = tokens[i..]
            .iter()
            .position(|t| matches!(t.token, Token::SemiColon | Token::EOF))
            .map_or(tokens.len(), |p| i + p);
        functions.push(parse(text, &tokens[i + skip..end], &tokens[i])?);
        let from = offset_of(text, tokens[i].span.start).unwrap_or(0);
        let to = tokens
            .get(end)
            .filter(|t| t.token == Token::SemiColon)
            .and_then(|t| offset_of(text, t.span.end))
            .unwrap_or(text.len());
        let blank: String = text[from..to]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        blanked.replace_range(from..to, &blank);
        statement_start = end + 1;
    }
    Ok((blanked, functions))
}

/// `name AS 'path' LANGUAGE WASM [WITH (…)]`.
fn parse(
    text: &str,
    tokens: &[TokenWithSpan],
    create: &TokenWithSpan,
) -> Result<WasmFunction, SqlError> {
    let shape = "write CREATE FUNCTION name AS 'plugins/dist/f.wasm' LANGUAGE WASM [WITH ('key' = 'value')]";
    let error = |at: Option<&TokenWithSpan>, message: String| {
        SqlError::at(text, at.unwrap_or(create).span.start, message)
    };
    let word = |i: usize, w: &str| matches!(tokens.get(i).map(|t| &t.token), Some(Token::Word(x)) if x.value.eq_ignore_ascii_case(w));
    let name = match tokens.first().map(|t| &t.token) {
        Some(Token::Word(name)) => name.value.clone(),
        _ => {
            return Err(error(
                tokens.first(),
                format!("a function needs a name; {shape}"),
            ))
        }
    };
    if !word(1, "AS") {
        return Err(error(tokens.get(1), shape.into()));
    }
    let path = match tokens.get(2).map(|t| &t.token) {
        Some(Token::SingleQuotedString(path)) => PathBuf::from(path),
        _ => {
            return Err(error(
                tokens.get(2),
                format!("the function's component is a quoted path; {shape}"),
            ))
        }
    };
    if !word(3, "LANGUAGE") {
        return Err(error(tokens.get(3), shape.into()));
    }
    match tokens.get(4).map(|t| &t.token) {
        Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("WASM") => {}
        Some(other) => return Err(error(tokens.get(4), format!("LANGUAGE {other} is not supported: weir's functions are WebAssembly components (LANGUAGE WASM)"))),
        None => return Err(error(None, shape.into())),
    }
    let mut config = toml::Table::new();
    let mut settings = HostSettings::default();
    if tokens.len() > 5 {
        if !word(5, "WITH") || tokens.get(6).map(|t| &t.token) != Some(&Token::LParen) {
            return Err(error(
                tokens.get(5),
                format!("after LANGUAGE WASM only WITH (…) may follow; {shape}"),
            ));
        }
        let mut i = 7;
        loop {
            match (
                tokens.get(i).map(|t| &t.token),
                tokens.get(i + 1).map(|t| &t.token),
                tokens.get(i + 2).map(|t| &t.token),
            ) {
                (
                    Some(Token::SingleQuotedString(key)),
                    Some(Token::Eq),
                    Some(Token::SingleQuotedString(value) | Token::Number(value, _)),
                ) => {
                    match key.strip_prefix("weir.") {
                        Some(setting) => settings
                            .set(setting, option_value(value))
                            .map_err(|m| error(tokens.get(i), m))?,
                        None => {
                            config.insert(key.clone(), option_value(value));
                        }
                    }
                    i += 3;
                }
                _ => {
                    return Err(error(
                        tokens.get(i),
                        "function options are 'key' = 'value' pairs".into(),
                    ))
                }
            }
            match tokens.get(i).map(|t| &t.token) {
                Some(Token::Comma) => i += 1,
                Some(Token::RParen) if i + 1 == tokens.len() => break,
                _ => {
                    return Err(error(
                        tokens.get(i),
                        "expected `,` or the closing `)` of WITH (…)".into(),
                    ))
                }
            }
        }
    }
    Ok(WasmFunction {
        name,
        path,
        config,
        settings,
    })
}

/// `'0.95'` is the number 0.95 to the plugin, `'true'` a boolean.
pub(super) fn option_value(text: &str) -> toml::Value {
    if let Ok(i) = text.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = text.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = text.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_read_and_blanked() {
        let sql = "CREATE TEMPORARY FUNCTION p95 AS 'plugins/dist/percentile.wasm' LANGUAGE WASM WITH ('quantile' = '0.95', 'label' = 'x');\nSELECT 1";
        let (blanked, functions) = extract(sql).unwrap();
        assert_eq!(blanked.len(), sql.len());
        assert_eq!(blanked.trim(), "SELECT 1");
        assert_eq!(functions.len(), 1);
        assert_eq!(functions[0].name, "p95");
        assert_eq!(
            functions[0].path,
            PathBuf::from("plugins/dist/percentile.wasm")
        );
        assert_eq!(functions[0].config["quantile"], toml::Value::Float(0.95));
        assert_eq!(
            functions[0].config["label"],
            toml::Value::String("x".into())
        );
    }

    #[test]
    fn weir_options_set_the_host_not_the_plugin() {
        let sql = "CREATE FUNCTION f AS 'f.wasm' LANGUAGE WASM WITH ('weir.memory-mib' = '64', 'weir.batch-deadline' = '50ms', 'weir.on-failure' = 'skip', 'weir.unload' = 'bypass', 'limit' = '3')";
        let (_, functions) = extract(sql).unwrap();
        let f = &functions[0];
        assert_eq!(f.config.keys().collect::<Vec<_>>(), ["limit"]);
        assert_eq!(f.settings.memory_mib, Some(64));
        assert_eq!(f.settings.batch_deadline, Some(Millis(50)));
        assert_eq!(f.settings.on_failure, OnFailure::Skip);
        assert_eq!(f.settings.unload, Unload::Bypass);
        for (option, expected) in [
            (
                "'weir.memory' = '64'",
                "'weir.memory' is not a host setting",
            ),
            (
                "'weir.on-failure' = 'retry'",
                "'weir.on-failure' = \"retry\": unknown variant `retry`",
            ),
            ("'weir.memory-mib' = 'lots'", "'weir.memory-mib' = \"lots\""),
        ] {
            let sql = format!("CREATE FUNCTION f AS 'f.wasm' LANGUAGE WASM WITH ({option})");
            let e = extract(&sql).unwrap_err();
            assert!(e.message.contains(expected), "{option}: {}", e.message);
        }
    }

    #[test]
    fn another_language_is_refused_by_name() {
        let e = extract("CREATE FUNCTION f AS 'com.acme.F' LANGUAGE JAVA").unwrap_err();
        assert!(
            e.message.contains("LANGUAGE JAVA is not supported"),
            "{}",
            e.message
        );
        assert_eq!(e.span.map(|s| s.start), Some(43));
    }
}
