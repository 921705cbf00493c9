//! Flink's statement sets, `EXECUTE STATEMENT SET BEGIN INSERT …; INSERT …;
//! END;` (and the older `BEGIN STATEMENT SET; … END;`): several INSERTs run
//! as one job over one read of the source. weir runs every script's
//! queries that way, so a set only groups them; sqlparser does not take
//! the wrapper, which is blanked out of the script here.

use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::SqlError;
use crate::expr::offset_of;

/// The script without its statement-set wrappers.
pub fn extract(text: &str) -> Result<String, SqlError> {
    let tokens = super::tokens(text)?;
    let mut blanked = text.to_string();
    let mut open: Option<&TokenWithSpan> = None;
    let mut statement_start = true;
    let mut i = 0;
    while i < tokens.len() {
        let starts_statement = statement_start;
        statement_start = tokens[i].token == Token::SemiColon;
        if !starts_statement {
            i += 1;
            continue;
        }
        let words = upper_words(&tokens[i..], 4);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let (opens, length) = match words.as_slice() {
            ["EXECUTE", "STATEMENT", "SET", "BEGIN"] => (true, 4),
            ["BEGIN", "STATEMENT", "SET", ..] if next_is_semicolon(&tokens, i + 3) => (true, 4),
            ["END", ..] if open.is_some() && ends_statement(&tokens, i + 1) => (false, 1),
            _ => {
                i += 1;
                continue;
            }
        };
        if opens && open.is_some() {
            return Err(SqlError::at(
                text,
                tokens[i].span.start,
                "a statement set inside a statement set: END the first one before beginning another",
            ));
        }
        open = if opens { Some(&tokens[i]) } else { None };
        let mut last = i + length - 1;
        if tokens
            .get(last + 1)
            .is_some_and(|t| t.token == Token::SemiColon)
        {
            last += 1;
        }
        blank(&mut blanked, text, &tokens[i], &tokens[last]);
        statement_start = true;
        i = last + 1;
    }
    if let Some(begin) = open {
        return Err(SqlError::at(
            text,
            begin.span.start,
            "this statement set has no END: close it with END; after its last INSERT",
        ));
    }
    Ok(blanked)
}

fn upper_words(tokens: &[TokenWithSpan], n: usize) -> Vec<String> {
    tokens
        .iter()
        .take(n)
        .map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            _ => String::new(),
        })
        .collect()
}

fn next_is_semicolon(tokens: &[TokenWithSpan], i: usize) -> bool {
    tokens.get(i).is_some_and(|t| t.token == Token::SemiColon)
}

fn ends_statement(tokens: &[TokenWithSpan], i: usize) -> bool {
    tokens
        .get(i)
        .is_none_or(|t| matches!(t.token, Token::SemiColon | Token::EOF))
}

/// Spaces over `first..=last` (new lines kept, so places stay put).
fn blank(blanked: &mut String, text: &str, first: &TokenWithSpan, last: &TokenWithSpan) {
    let from = offset_of(text, first.span.start).unwrap_or(0);
    let to = offset_of(text, last.span.end).unwrap_or(text.len());
    let spaces: String = text[from..to]
        .chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect();
    blanked.replace_range(from..to, &spaces);
}

#[cfg(test)]
mod tests {
    use super::extract;

    #[test]
    fn both_forms_are_blanked_in_place() {
        for script in [
            "EXECUTE STATEMENT SET\nBEGIN\nINSERT INTO a SELECT 1;\nINSERT INTO b SELECT 2;\nEND;",
            "BEGIN STATEMENT SET;\nINSERT INTO a SELECT 1;\nINSERT INTO b SELECT 2;\nEND;",
        ] {
            let out = extract(script).unwrap();
            assert_eq!(out.len(), script.len());
            assert_eq!(out.lines().count(), script.lines().count());
            let words: Vec<&str> = out.split_whitespace().collect();
            assert_eq!(
                words.join(" "),
                "INSERT INTO a SELECT 1; INSERT INTO b SELECT 2;"
            );
        }
    }

    #[test]
    fn a_set_must_end_and_sets_do_not_nest() {
        let open = extract("EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1;").unwrap_err();
        assert!(open.message.contains("no END"), "{}", open.message);
        let nested = extract(
            "EXECUTE STATEMENT SET BEGIN EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1; END; END;",
        )
        .unwrap_err();
        assert!(nested.message.contains("inside"), "{}", nested.message);
    }

    #[test]
    fn words_that_only_look_like_a_set_are_left_alone() {
        let script = "SELECT `END` FROM t WHERE x = 'BEGIN STATEMENT SET;'";
        assert_eq!(extract(script).unwrap(), script);
    }
}
