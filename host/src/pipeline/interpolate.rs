//! `${VAR}` in a pipeline file or a SQL script: values taken from the
//! environment or from files when the pipeline loads, so that passwords and
//! tokens need not be written into it.
//!
//! - `${NAME}`: the environment variable `NAME`; when it is not set but
//!   `NAME_FILE` is, the contents of the file `NAME_FILE` names (the
//!   convention of container images for mounted secrets).
//! - `${NAME:-default}` / `${NAME-default}`: `default` when `NAME` is unset
//!   or empty / unset. `${NAME:?message}` / `${NAME?message}`: the load
//!   fails with `message` instead.
//! - `${file:PATH}`: the contents of a file (relative to the pipeline's
//!   directory), one trailing newline dropped.
//! - `$${` is a literal `${`. References in comments are left alone.
//!
//! The value is inserted as the place it stands in requires — escaped
//! inside a quoted string, refused where it would change the file's
//! structure — which is why this is not a plain text substitution (as the
//! `shellexpand` or `subst` crates do): a password holding a quote must not
//! end its string. Errors found later in the expanded text are placed back
//! in the text as written, so their excerpt shows `${NAME}`, never the value.

use std::ops::Range;
use std::path::Path;

/// The language of the text, which decides what a quote and a comment are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Toml,
    Sql,
}

/// Secret files are small; a bigger one is a mistake in the path.
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// A reference longer than this is a `${` never closed.
const MAX_REFERENCE: usize = 1024;

/// A text with its references replaced.
#[derive(Debug, Clone)]
pub struct Expanded {
    /// What the parsers read.
    pub text: String,
    /// As written, for error excerpts.
    pub original: String,
    edits: Vec<Edit>,
    /// Every value inserted, as it came (before escaping).
    pub values: Vec<String>,
}

/// One replaced stretch: where it is in the original and in the expansion.
#[derive(Debug, Clone)]
struct Edit {
    original: Range<usize>,
    expanded: Range<usize>,
}

/// A reference that cannot be expanded, at a byte range of the original.
#[derive(Debug)]
pub struct ExpandError {
    pub span: Range<usize>,
    pub message: String,
}

/// Where a reference stands, which decides how its value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Outside any string: the value must be one bare token.
    Bare,
    /// TOML "…" or """…""": escaped with backslashes.
    BasicString,
    /// TOML '…' or '''…''': nothing can be escaped.
    LiteralString,
    /// SQL '…': quotes doubled.
    SqlString,
    /// SQL "…" or `…` identifiers: that quote doubled.
    SqlIdentifier(u8),
}

/// What the scanner is inside of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inside {
    Code,
    LineComment,
    BlockComment,
    /// A string or quoted identifier, closed by one `quote` (three if
    /// `triple`); `escapes`: a backslash escapes the next byte; `doubled`:
    /// two quotes stand for one.
    Quoted {
        quote: u8,
        triple: bool,
        escapes: bool,
        doubled: bool,
        place: Place,
    },
}

/// Where environment variables are read: the process's environment, or a
/// test's.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process's environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Expanded {
    /// Expands the references in `text`; files are relative to `base`.
    pub fn expand(
        text: &str,
        syntax: Syntax,
        base: &Path,
        env: &dyn Environment,
    ) -> Result<Self, ExpandError> {
        Expander {
            text,
            syntax,
            base,
            env,
            out: Expanded {
                text: String::with_capacity(text.len()),
                original: text.into(),
                edits: Vec::new(),
                values: Vec::new(),
            },
        }
        .run()
    }

    /// The offset in the original text of `offset` in the expanded one: a
    /// place inside an inserted value is the start of its reference.
    pub fn original_offset(&self, offset: usize) -> usize {
        let mut shift: isize = 0;
        for edit in &self.edits {
            if offset < edit.expanded.start {
                break;
            }
            if offset < edit.expanded.end {
                return edit.original.start;
            }
            shift = edit.original.end as isize - edit.expanded.end as isize;
        }
        (offset as isize + shift).max(0) as usize
    }

    /// `span` of the expanded text, in the original.
    pub fn original_span(&self, span: Range<usize>) -> Range<usize> {
        let start = self.original_offset(span.start);
        start..self.original_offset(span.end).max(start)
    }
}

struct Expander<'a> {
    text: &'a str,
    syntax: Syntax,
    base: &'a Path,
    env: &'a dyn Environment,
    out: Expanded,
}

impl Expander<'_> {
    fn run(mut self) -> Result<Expanded, ExpandError> {
        let bytes = self.text.as_bytes();
        let mut inside = Inside::Code;
        // Copied up to here.
        let mut copied = 0;
        let mut at = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            match inside {
                Inside::LineComment | Inside::BlockComment => {
                    let (ends, len) = match inside {
                        Inside::LineComment => (rest[0] == b'\n', 1),
                        _ => (rest.starts_with(b"*/"), 2),
                    };
                    if ends {
                        inside = Inside::Code;
                        at += len;
                    } else {
                        at += 1;
                    }
                    continue;
                }
                _ => {}
            }
            if rest.starts_with(b"$${") {
                self.copy(copied, at);
                self.replace(at..at + 3, "${");
                at += 3;
                copied = at;
                continue;
            }
            if rest.starts_with(b"${") {
                let place = match inside {
                    Inside::Quoted { place, .. } => place,
                    _ => Place::Bare,
                };
                self.copy(copied, at);
                at = self.reference(at, place)?;
                copied = at;
                continue;
            }
            (inside, at) = match inside {
                Inside::Code => self.code(rest, at),
                Inside::Quoted {
                    quote,
                    triple,
                    escapes,
                    doubled,
                    ..
                } => {
                    let close: &[u8] = if triple {
                        &[quote; 3]
                    } else {
                        std::slice::from_ref(&quote)
                    };
                    // An escaped character or a doubled quote stays inside.
                    if (escapes && rest[0] == b'\\')
                        || (doubled && rest.starts_with(&[quote, quote]))
                    {
                        (inside, at + 2)
                    } else if rest.starts_with(close) {
                        (Inside::Code, at + close.len())
                    } else if rest[0] == b'\n' && !triple && self.syntax == Syntax::Toml {
                        // An unclosed one-line string: the parser reports it.
                        (Inside::Code, at + 1)
                    } else {
                        (inside, at + 1)
                    }
                }
                comment => (comment, at + 1),
            };
        }
        self.copy(copied, bytes.len());
        Ok(self.out)
    }

    /// What starts at `rest` (offset `at`) outside strings and comments.
    fn code(&self, rest: &[u8], at: usize) -> (Inside, usize) {
        let quoted = |quote: u8, triple: bool, escapes: bool, doubled: bool, place: Place| {
            let len = if triple { 3 } else { 1 };
            (
                Inside::Quoted {
                    quote,
                    triple,
                    escapes,
                    doubled,
                    place,
                },
                at + len,
            )
        };
        match self.syntax {
            Syntax::Toml => match rest[0] {
                b'#' => (Inside::LineComment, at + 1),
                b'"' => quoted(
                    b'"',
                    rest.starts_with(b"\"\"\""),
                    true,
                    false,
                    Place::BasicString,
                ),
                b'\'' => quoted(
                    b'\'',
                    rest.starts_with(b"'''"),
                    false,
                    false,
                    Place::LiteralString,
                ),
                _ => (Inside::Code, at + 1),
            },
            Syntax::Sql => match rest[0] {
                b'-' if rest.starts_with(b"--") => (Inside::LineComment, at + 2),
                b'/' if rest.starts_with(b"/*") => (Inside::BlockComment, at + 2),
                b'\'' => quoted(b'\'', false, false, true, Place::SqlString),
                q @ (b'"' | b'`') => quoted(q, false, false, true, Place::SqlIdentifier(q)),
                _ => (Inside::Code, at + 1),
            },
        }
    }

    fn copy(&mut self, from: usize, to: usize) {
        self.out.text.push_str(&self.text[from..to]);
    }

    /// Records that `original` became `with`.
    fn replace(&mut self, original: Range<usize>, with: &str) {
        let start = self.out.text.len();
        self.out.text.push_str(with);
        self.out.edits.push(Edit {
            original,
            expanded: start..self.out.text.len(),
        });
    }

    /// Expands the reference at `at` (its `${`); returns the offset after it.
    fn reference(&mut self, at: usize, place: Place) -> Result<usize, ExpandError> {
        let body_start = at + 2;
        let mut window_end = self.text.len().min(body_start + MAX_REFERENCE);
        while !self.text.is_char_boundary(window_end) {
            window_end -= 1;
        }
        let window = &self.text[body_start..window_end];
        let Some(len) = window
            .find(['}', '\n'])
            .filter(|&i| window.as_bytes()[i] == b'}')
        else {
            return Err(ExpandError {
                span: at..at + 2,
                message:
                    "`${` without its closing `}` on the same line (write `$${` for a literal `${`)"
                        .into(),
            });
        };
        let span = at..body_start + len + 1;
        let body = &self.text[body_start..body_start + len];
        let fail = |message: String| ExpandError {
            span: span.clone(),
            message,
        };
        let (value, what) = self.resolve(body).map_err(&fail)?;
        let written =
            fit(&value, place).map_err(|why| fail(format!("the value of {what} {why}")))?;
        self.replace(span.clone(), &written);
        self.out.values.push(value);
        Ok(span.end)
    }

    /// The value `body` (between `${` and `}`) stands for, and how to name
    /// it in an error (never by its value).
    fn resolve(&self, body: &str) -> Result<(String, String), String> {
        if let Some(path) = body.strip_prefix("file:") {
            let what = format!("the file `{path}`");
            return Ok((self.read_file(path)?, what));
        }
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, operator) = body.split_at(name_len);
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "`${{{body}}}` names no environment variable: use `${{NAME}}`, `${{NAME:-default}}` or `${{file:PATH}}`"
            ));
        }
        let what = format!("`{name}`");
        let value = self.variable(name)?;
        let (colon, operator) = match operator.strip_prefix(':') {
            Some(rest) => (true, rest),
            None => (false, operator),
        };
        let missing = match &value {
            None => true,
            Some(value) => colon && value.is_empty(),
        };
        let unset = || format!("the environment variable `{name}` is not set");
        match (operator.chars().next(), missing) {
            (None, _) if colon => Err(format!(
                "`${{{body}}}`: after `:` comes `-default` or `?message`"
            )),
            (None, true) => Err(format!(
                "{} (nor `{name}_FILE`); set it, or give a default: `${{{name}:-default}}`",
                unset()
            )),
            (Some('-'), true) => Ok((operator[1..].to_string(), what)),
            (Some('?'), true) => Err(format!("{}: {}", unset(), &operator[1..])),
            (Some('-' | '?') | None, false) => Ok((value.unwrap_or_default(), what)),
            (Some(_), _) => Err(format!(
                "`${{{body}}}`: an environment variable's name is letters, digits and `_`; after it may come `:-default`, `-default`, `:?message` or `?message`"
            )),
        }
    }

    /// `name` from the environment, or from the file `name_FILE` names.
    fn variable(&self, name: &str) -> Result<Option<String>, String> {
        if let Some(value) = self.env.var(name) {
            return Ok(Some(value));
        }
        match self.env.var(&format!("{name}_FILE")) {
            Some(path) => self
                .read_file(&path)
                .map(Some)
                .map_err(|e| format!("`{name}_FILE`: {e}")),
            None => Ok(None),
        }
    }

    fn read_file(&self, path: &str) -> Result<String, String> {
        use std::io::Read;
        let full = self.base.join(path);
        let shown = full.display();
        let file = std::fs::File::open(&full).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {shown}: {e}"))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(format!(
                "{shown} is over {} KiB: not a secret file",
                MAX_FILE_BYTES / 1024
            ));
        }
        let mut text =
            String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Ok(text)
    }
}

/// `value` written as `place` needs it, or why it cannot stand there.
fn fit(value: &str, place: Place) -> Result<String, &'static str> {
    match place {
        Place::Bare => {
            let bare = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:+-".contains(c));
            if bare {
                Ok(value.into())
            } else {
                Err("is not one bare word or number; put the reference inside quotes")
            }
        }
        Place::BasicString => {
            let mut out = String::with_capacity(value.len());
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            Ok(out)
        }
        Place::LiteralString => {
            if value.contains('\'') || value.chars().any(|c| c.is_control() && c != '\t') {
                Err("holds a `'` or a control character, which a '…' string cannot; use a \"…\" string")
            } else {
                Ok(value.into())
            }
        }
        Place::SqlString => Ok(value.replace('\'', "''")),
        Place::SqlIdentifier(quote) => {
            let quote = (quote as char).to_string();
            Ok(value.replace(&quote, &quote.repeat(2)))
        }
    }
}

#[cfg(test)]
mod tests;
