//! Request bodies from a template: `{field}` is replaced by the result's
//! value of that field, so a Slack-style body is
//! `{"text": "sensor {sensor_id}: {count} hot readings"}`.
//!
//! A brace that does not open `{name}` for a result field is literal text,
//! so the template's own JSON braces need no escaping. Values are written
//! JSON-string-escaped (timestamps as RFC 3339), which is what a value
//! inside a JSON string literal needs and is plain text for numbers.

use std::fmt::Write;

use crate::data::{Schema, Value};
use crate::format::timestamp;

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Field(usize),
}

#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text` for results of `schema`. A `{name}` that names no
    /// result field is refused, and so is a template whose rendering is not
    /// JSON (checked with typical values).
    pub fn parse(text: &str, schema: &Schema) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if name_len > 0 && after[name_len..].starts_with('}') {
                let name = &after[..name_len];
                let field = schema.index_of(name).ok_or_else(|| {
                    format!("the template names `{{{name}}}`, which the results do not have; they have: {schema}")
                })?;
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Field(field));
                rest = &after[name_len + 1..];
            } else {
                literal.push('{');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        let template = Self { pieces };
        let sample = template.render_with(|_, out| out.push('1'));
        serde_json::from_str::<serde_json::Value>(&sample)
            .map_err(|e| format!("the template does not give JSON ({e}), e.g. {sample}"))?;
        Ok(template)
    }

    /// The body for one result: `value(field)` gives the row's values.
    pub fn render<'a>(&self, value: impl Fn(usize) -> Value<'a>) -> String {
        self.render_with(|field, out| write_value(value(field), out))
    }

    fn render_with(&self, mut fill: impl FnMut(usize, &mut String)) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field(field) => fill(*field, &mut out),
            }
        }
        out
    }
}

fn write_value(value: Value<'_>, out: &mut String) {
    let text = match value {
        Value::String(s) => s.to_string(),
        Value::F64(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::Bool(v) => v.to_string(),
        Value::Timestamp(v) => timestamp::format(v),
    };
    // The JSON string encoding minus its quotes.
    let quoted = serde_json::to_string(&text).unwrap_or_default();
    let _ = write!(out, "{}", &quoted[1..quoted.len() - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Field, FieldType};

    fn schema() -> std::sync::Arc<Schema> {
        Schema::new(vec![
            Field::new("sensor_id", FieldType::String),
            Field::new("count", FieldType::I64),
        ])
        .unwrap()
    }

    #[test]
    fn fills_fields_and_keeps_the_json_braces() {
        let t = Template::parse(r#"{"text": "{sensor_id} had {count} {x}"}"#, &schema());
        assert!(t.unwrap_err().contains("`{x}`"));
        let t = Template::parse(
            r#"{"text": "{sensor_id} had {count}", "n": {count}}"#,
            &schema(),
        )
        .unwrap();
        let body = t.render(|f| [Value::String("a\"b"), Value::I64(7)][f]);
        assert_eq!(body, r#"{"text": "a\"b had 7", "n": 7}"#);
    }

    #[test]
    fn a_template_that_is_not_json_is_refused() {
        let err = Template::parse(r#"{"text": {sensor_id}"#, &schema()).unwrap_err();
        assert!(err.contains("does not give JSON"), "{err}");
    }
}
