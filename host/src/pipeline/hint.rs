//! What `weir validate` and `weir run` add to an error in a pipeline file: a
//! hint at the likely fix (the nearest valid name, where a key belongs), and
//! the exact key an "unknown field" error is about, where the TOML parser
//! only knows the table it is in.

use std::ops::Range;
use std::path::Path;

/// Keys of the top level of a pipeline file.
const TOP_LEVEL: &[&str] = &[
    "name",
    "batch_size",
    "source",
    "schema",
    "event_time",
    "operators",
    "sink",
    "dead_letter",
    "checkpoint",
];

/// The name in backticks right after `prefix` in `message`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    let rest = rest.strip_prefix('`')?;
    Some(&rest[..rest.find('`')?])
}

/// The names a message offers: serde's "expected one of `a`, `b`" or
/// "expected `a` or `b`", or weir's "available: a (string), b (f64)" and
/// "use a, b or c".
fn offered(message: &str) -> Vec<&str> {
    if let Some(at) = message.find("available: ") {
        return message[at + "available: ".len()..]
            .split(", ")
            .filter_map(|item| item.split_whitespace().next())
            .collect();
    }
    if let Some(at) = message.find("; use ") {
        return message[at + "; use ".len()..]
            .split([',', ' '])
            .filter(|word| !word.is_empty() && *word != "or")
            .collect();
    }
    let Some(at) = message.find("expected ") else {
        return Vec::new();
    };
    message[at..].split('`').skip(1).step_by(2).collect()
}

/// The offered name nearest to `wrong`, if it is near enough to be a typo
/// or an abbreviation.
fn nearest<'a>(wrong: &str, offered: &[&'a str]) -> Option<&'a str> {
    offered
        .iter()
        .filter(|&&name| name != wrong)
        .map(|&name| (strsim::jaro_winkler(wrong, name), name))
        .filter(|&(similarity, name)| {
            similarity >= 0.85 || strsim::damerau_levenshtein(wrong, name) <= 1
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// A hint for `message`, an error about a pipeline file at `path`.
pub fn hint(message: &str, path: &Path) -> Option<String> {
    if let Some(key) = quoted_after(message, "unknown field ") {
        let names = offered(message);
        if TOP_LEVEL.contains(&key) && !names.contains(&key) {
            return Some(format!(
                "`{key}` belongs at the top level: in TOML every key after a [table] header \
                 is part of that table, so move it above the first [table] or write it as \
                 its own [{key}] table"
            ));
        }
        return Some(match nearest(key, &names) {
            Some(name) => format!("did you mean `{name}`?"),
            None => "remove it, or see docs/pipeline-reference.md for the \
                     keys of this table"
                .into(),
        });
    }
    // Type names from other languages.
    if let Some(wrong) = quoted_after(message, "unknown variant ") {
        let ty = match wrong {
            "float" | "double" | "f32" | "number" => Some("f64"),
            "int" | "integer" | "long" | "i32" => Some("i64"),
            "boolean" => Some("bool"),
            "str" | "text" => Some("string"),
            "datetime" | "time" | "date" => Some("timestamp"),
            _ => None,
        };
        if let Some(ty) = ty.filter(|ty| offered(message).contains(ty)) {
            return Some(format!(
                "field types are string, f64, i64, bool and timestamp: did you mean `{ty}`?"
            ));
        }
    }
    for prefix in ["unknown variant ", "unknown function ", "field "] {
        if let Some(wrong) = quoted_after(message, prefix) {
            if let Some(name) = nearest(wrong, &offered(message)) {
                return Some(format!("did you mean `{name}`?"));
            }
        }
    }
    if message.contains("cannot read plugin") {
        return plugin_hint(message, path);
    }
    if message.contains("duplicate key") {
        return Some(
            "a key may be given once per table; a [table] header also defines its key".into(),
        );
    }
    if message.contains("expected a boolean") {
        return Some("write true or false, without quotes".into());
    }
    None
}

fn plugin_hint(message: &str, pipeline: &Path) -> Option<String> {
    let component = message
        .split("cannot read plugin ")
        .nth(1)?
        .split(": ")
        .next()?;
    let component = Path::new(component);
    let dir = component.parent()?;
    let wanted = component.file_name()?.to_str()?;
    let present: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".wasm"))
                .collect()
        })
        .unwrap_or_default();
    let names: Vec<&str> = present.iter().map(String::as_str).collect();
    if let Some(name) = nearest(wanted, &names) {
        return Some(format!("did you mean {}?", dir.join(name).display()));
    }
    let relative = pipeline.parent().map_or(String::new(), |base| {
        format!(" (relative paths start from {})", base.display())
    });
    match dir.ends_with("plugins/dist") {
        true => Some(format!(
            "the example plugins are built into plugins/dist by scripts/build-plugins{relative}"
        )),
        false => Some(format!(
            "build the plugin with `weir plugin build DIR --out {}`{relative}",
            dir.display()
        )),
    }
}

/// A more exact place for an error the parser or the loader reports at the
/// start of a table (`span`): the unknown key itself, or the first place in
/// the table where a name the message is about is written.
pub fn exact_offset(message: &str, text: &str, span: &Range<usize>) -> Option<usize> {
    // A span on a value or key is exact already; one on a table is not.
    let whole_table = span.start == 0 || text[span.start.min(text.len())..].starts_with(['[', '{']);
    if !whole_table {
        return None;
    }
    let span = table_extent(text, span);
    if let Some(key) = quoted_after(message, "unknown field ") {
        return key_offset(text, &span, key);
    }
    // Only the names the error is about, not the ones it offers instead.
    let about = ["expected", "available:", "; use "]
        .iter()
        .filter_map(|marker| message.find(marker))
        .fold(message.len(), usize::min);
    let names: Vec<&str> = message[..about].split('`').skip(1).step_by(2).collect();
    names
        .iter()
        .rev()
        .find_map(|name| word_offset(&text[span.clone()], name))
        .map(|at| span.start + at)
}

/// `span` widened to the end of the table it starts: the parser's span of a
/// table may be its header alone, and an error in an array of tables comes
/// at its first header. So: up to the next header other than this one.
pub(crate) fn table_extent(text: &str, span: &Range<usize>) -> Range<usize> {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let own_header = text[line_start..].lines().next().unwrap_or("").trim();
    let own_header = own_header.starts_with('[').then_some(own_header);
    let mut end = line_start;
    for line in text[line_start..].split_inclusive('\n').skip(1) {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && Some(trimmed) != own_header {
            break;
        }
        end += line.len();
    }
    let first_line = text[line_start..]
        .split_inclusive('\n')
        .next()
        .map_or(0, str::len);
    start
        ..(end + first_line)
            .max(span.end.min(text.len()))
            .min(text.len())
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Where `word` first stands alone (not inside a longer name) in `text`.
fn word_offset(text: &str, word: &str) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back().is_none_or(|c| !is_word(c));
        let after = text[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !is_word(c));
        before && after
    })
}

/// Where `key` is written as a key (`key =`) within `span` of `text`.
fn key_offset(text: &str, span: &Range<usize>, key: &str) -> Option<usize> {
    // From the beginning of the line the span starts on.
    let mut offset = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    for line in text[offset..span.end].split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        // An inline table on this line: look inside it too.
        for (at, _) in line.match_indices(key) {
            let before = line[..at].chars().next_back();
            let after = line[at + key.len()..].trim_start();
            let starts_key = at == indent || matches!(before, Some('{' | ',' | ' '));
            if starts_key && after.starts_with('=') {
                return Some(offset + at);
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint_of(message: &str) -> String {
        hint(message, Path::new("p.toml")).unwrap_or_default()
    }

    #[test]
    fn suggests_the_nearest_name() {
        assert_eq!(
            hint_of("unknown field `sise`, expected one of `name`, `kind`, `size`, `slide`"),
            "did you mean `size`?"
        );
        assert_eq!(
            hint_of("unknown variant `tumble`, expected one of `tumbling`, `sliding`, `session`"),
            "did you mean `tumbling`?"
        );
        assert_eq!(
            hint_of("unknown variant `windw`, expected `plugin` or `window`"),
            "did you mean `window`?"
        );
        assert_eq!(
            hint_of("operator #2: key_by field `sensor` is not in the input; available: sensor_id (string), temperature (f64)"),
            "did you mean `sensor_id`?"
        );
        assert!(hint_of("unknown field `zzzzzz`, expected `a` or `b`").starts_with("remove it"));
    }

    #[test]
    fn says_where_a_top_level_key_belongs() {
        let message = "unknown field `sink`, expected one of `field`, `max_out_of_orderness`";
        assert!(hint_of(message).contains("belongs at the top level"));
    }

    #[test]
    fn finds_the_key_or_name_inside_the_table() {
        let text = "[a]\nx = 1\n\n[b]\nkind = \"tumble\"\nsise = 2\nagg = { cont = \"max(temp)\" }\n[c]\nsise = 3\n";
        let b = text.find("[b]").unwrap()..text.find("[c]").unwrap();
        let at = |message: &str| exact_offset(message, text, &b);
        assert_eq!(
            at("unknown field `sise`, expected `size`"),
            text.find("sise")
        );
        assert_eq!(
            at("unknown field `cont`, expected `count`"),
            text.find("cont")
        );
        assert_eq!(at("unknown field `x`, expected `y`"), None, "not in [b]");
        assert_eq!(
            at("unknown variant `tumble`, expected one of `tumbling`, `sliding`"),
            text.find("tumble")
        );
        assert_eq!(
            at("operator #2 (`agg`): aggregate `cont` reads field `temp`, which is not in the input; available: temperature (f64)"),
            text.find("temp)"),
            "the last name the error is about"
        );
    }
}
