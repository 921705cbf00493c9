//! Flink's processing-time attribute, `proc_time AS PROCTIME()` among a
//! `CREATE TABLE`'s columns, which sqlparser does not take: found with its
//! tokenizer and blanked out in place, as the watermark clause is. weir
//! needs no such column to exist: a lookup join names it in `FOR
//! SYSTEM_TIME AS OF t.proc_time` to say "the table as it is when the row
//! arrives", which is how weir always looks tables up.

use sqlparser::tokenizer::Token;

use super::SqlError;
use crate::expr::offset_of;

/// The script with `, name AS PROCTIME()` column entries blanked, and the names.
pub fn extract(text: &str) -> Result<(String, Vec<String>), SqlError> {
    let tokens = super::tokens(text)?;
    let offset = |i: usize| offset_of(text, tokens[i].span.start).unwrap_or(text.len());
    let word = |i: usize, value: &str| matches!(tokens.get(i).map(|t| &t.token), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case(value));
    let mut blanked = text.to_string();
    let mut names = Vec::new();
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match &token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Comma if depth == 1 => {
                let (Some(Token::Word(name)), true, true) = (
                    tokens.get(i + 1).map(|t| &t.token),
                    word(i + 2, "AS"),
                    word(i + 3, "PROCTIME"),
                ) else {
                    continue;
                };
                let closed = matches!(tokens.get(i + 4).map(|t| &t.token), Some(Token::LParen))
                    && matches!(tokens.get(i + 5).map(|t| &t.token), Some(Token::RParen));
                if !closed {
                    return Err(SqlError::at(
                        text,
                        tokens[i + 3].span.start,
                        "write the processing-time column as `name AS PROCTIME()`",
                    ));
                }
                let end = offset_of(text, tokens[i + 5].span.end).unwrap_or(text.len());
                let blank: String = text[offset(i)..end]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' })
                    .collect();
                blanked.replace_range(offset(i)..end, &blank);
                names.push(name.value.clone());
            }
            _ => {}
        }
    }
    Ok((blanked, names))
}

#[cfg(test)]
mod tests {
    #[test]
    fn as_of_clauses_are_read_and_blanked_in_place() {
        let sql = "SELECT * FROM s AS r JOIN t FOR SYSTEM_TIME AS OF r.pt AS l ON r.k = l.k";
        let (blanked, found) = super::extract_as_of(sql).unwrap();
        assert_eq!(blanked.len(), sql.len());
        assert!(blanked.contains("JOIN t "), "{blanked}");
        assert!(blanked.contains("   AS l ON"), "{blanked}");
        assert_eq!(
            (found[0].table.as_str(), found[0].what.as_str()),
            ("t", "r.pt")
        );
        assert_eq!(&sql[found[0].at..found[0].at + 4], "r.pt");
    }

    #[test]
    fn the_column_is_read_and_blanked_in_place() {
        let sql = "CREATE TABLE t (\n  a STRING,\n  pt AS PROCTIME(),\n  ts TIMESTAMP(3)\n)";
        let (blanked, names) = super::extract(sql).unwrap();
        assert_eq!(names, ["pt"]);
        assert_eq!(blanked.len(), sql.len());
        assert!(!blanked.contains("PROCTIME"), "{blanked}");
        assert!(blanked.contains("a STRING \n"), "{blanked}");
    }
}

/// A join's `FOR SYSTEM_TIME AS OF expr`, which sqlparser's dialect does
/// not take after a table name.
#[derive(Debug, Clone)]
pub struct AsOf {
    /// The table it follows.
    pub table: String,
    /// What it is as of: a column, `alias.column` or `PROCTIME()`.
    pub what: String,
    /// Where `what` is in the script.
    pub at: usize,
}

/// The script with its `FOR SYSTEM_TIME AS OF …` clauses blanked, and the clauses.
pub fn extract_as_of(text: &str) -> Result<(String, Vec<AsOf>), SqlError> {
    let tokens = super::tokens(text)?;
    let word = |i: usize, value: &str| matches!(tokens.get(i).map(|t| &t.token), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case(value));
    let start = |i: usize| offset_of(text, tokens[i].span.start).unwrap_or(text.len());
    let end = |i: usize| offset_of(text, tokens[i].span.end).unwrap_or(text.len());
    let mut blanked = text.to_string();
    let mut found = Vec::new();
    for i in 1..tokens.len() {
        if !(word(i, "FOR") && word(i + 1, "SYSTEM_TIME") && word(i + 2, "AS") && word(i + 3, "OF"))
        {
            continue;
        }
        let Token::Word(table) = &tokens[i - 1].token else {
            return Err(SqlError::at(
                text,
                tokens[i].span.start,
                "FOR SYSTEM_TIME AS OF follows the joined table's name",
            ));
        };
        // `column`, `alias.column` or `PROCTIME()`.
        let first = i + 4;
        let mut last = first;
        if !matches!(tokens.get(first).map(|t| &t.token), Some(Token::Word(_))) {
            return Err(SqlError::at(
                text,
                tokens[i].span.start,
                "write FOR SYSTEM_TIME AS OF r.proc_time",
            ));
        }
        if matches!(tokens.get(last + 1).map(|t| &t.token), Some(Token::Period))
            && matches!(tokens.get(last + 2).map(|t| &t.token), Some(Token::Word(_)))
        {
            last += 2;
        }
        if matches!(tokens.get(last + 1).map(|t| &t.token), Some(Token::LParen))
            && matches!(tokens.get(last + 2).map(|t| &t.token), Some(Token::RParen))
        {
            last += 2;
        }
        found.push(AsOf {
            table: table.value.clone(),
            what: text[start(first)..end(last)].to_string(),
            at: start(first),
        });
        let blank: String = text[start(i)..end(last)]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        blanked.replace_range(start(i)..end(last), &blank);
    }
    Ok((blanked, found))
}
