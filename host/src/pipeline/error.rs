use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::interpolate::Expanded;
use super::stage::StageError;
use crate::state::CheckpointError;

/// A problem in a pipeline file, located as `file:line:column` for editors,
/// with the line itself and a hint at the fix when there is one.
#[derive(Debug)]
pub struct PipelineError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The line of the file the error is on, when the error has a place.
    pub source_line: Option<String>,
    pub hint: Option<String>,
}

impl PipelineError {
    /// An error at byte offset `span.start` of `text`.
    pub fn at(
        path: &Path,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        let offset =
            span.map(|span| super::hint::exact_offset(&message, text, &span).unwrap_or(span.start));
        let (line, column) = offset.map_or((1, 1), |offset| line_column(text, offset));
        Self {
            path: path.into(),
            line,
            column,
            source_line: offset.and_then(|_| text.lines().nth(line - 1).map(str::to_string)),
            hint: super::hint::hint(&message, path),
            message,
        }
    }
}

impl PipelineError {
    /// An error at `span` of `source`'s expanded text, shown in the text
    /// as written: the excerpt has `${NAME}` where the value went, and no
    /// value taken from outside appears in the message.
    pub(crate) fn in_source(
        path: &Path,
        source: &Expanded,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let message = crate::redact::values_in(&message.into(), &source.values).into_owned();
        let span = span.map(|span| source.original_span(span));
        Self::at(path, &source.original, span, message)
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )?;
        // As rustc shows it: the line, a caret under the word the error is
        // about, then the hint.
        let gutter = " ".repeat(self.line.to_string().len());
        if let Some(source) = &self.source_line {
            let rest: Vec<char> = source.chars().skip(self.column - 1).collect();
            let word = match rest.first() {
                Some('[') => rest.iter().take_while(|c| !c.is_whitespace()).count(),
                _ => rest
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || "_-.".contains(**c))
                    .count(),
            }
            .max(1);
            let pad = " ".repeat(self.column - 1);
            write!(
                f,
                "\n{gutter} |\n{} | {source}\n{gutter} | {pad}{}",
                self.line,
                "^".repeat(word)
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n{gutter} = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PipelineError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_offsets() {
        assert_eq!(line_column("ab\ncd\nef", 0), (1, 1));
        assert_eq!(line_column("ab\ncd\nef", 4), (2, 2));
        assert_eq!(line_column("ab\ncd\nef", 6), (3, 1));
    }
}

/// Why a run stopped with an error (a pipeline that loaded, then failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot open the source {path}: {error}")]
    OpenSource { path: String, error: std::io::Error },
    #[error("cannot open the sink {path}: {error}")]
    OpenSink { path: String, error: std::io::Error },
    #[error("cannot open the dead-letter output {path}: {error}")]
    OpenDeadLetter { path: String, error: std::io::Error },
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error("writing results: {0}")]
    Sink(std::io::Error),
    #[error("writing dead letters: {0}")]
    DeadLetter(std::io::Error),
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot start the operators' instances: {0}")]
    Parallel(String),
    #[error("cannot resume from checkpoint {id} in {dir}: {reason}; run with --fresh to discard the checkpoints and start over")]
    Resume {
        id: u64,
        dir: String,
        reason: String,
    },
}
