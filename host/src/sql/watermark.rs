//! Flink's `WATERMARK FOR col AS col - INTERVAL 'n' SECOND` inside `CREATE
//! TABLE`, which sqlparser does not know: found with its tokenizer, read
//! here, and blanked out (same length, newlines kept, so every position
//! sqlparser reports still points into the user's script).

use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::SqlError;
use crate::expr::{self, offset_of};

/// One `WATERMARK FOR` clause: its column and how far behind the newest
/// event time the watermark stays.
#[derive(Debug, Clone)]
pub struct Watermark {
    pub column: String,
    pub delay_ms: i64,
    /// Byte range of the clause in the script.
    pub span: std::ops::Range<usize>,
}

/// The script with its watermark clauses blanked, and the clauses in order.
pub fn extract(text: &str) -> Result<(String, Vec<Watermark>), SqlError> {
    let tokens = super::tokens(text)?;
    let tokens: Vec<&TokenWithSpan> = tokens.iter().collect();
    let offset = |t: &TokenWithSpan| offset_of(text, t.span.start).unwrap_or(text.len());
    let mut blanked = text.to_string();
    let mut found = Vec::new();
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match &token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 1 && w.value.eq_ignore_ascii_case("WATERMARK") => {
                let is_for = matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Word(f)) if f.value.eq_ignore_ascii_case("FOR"));
                if !is_for {
                    continue;
                }
                let comma = i
                    .checked_sub(1)
                    .filter(|&c| tokens[c].token == Token::Comma)
                    .ok_or_else(|| {
                        SqlError::at(
                            text,
                            token.span.start,
                            "WATERMARK FOR follows the columns, after a comma",
                        )
                    })?;
                // The clause ends at the next comma or closing parenthesis of the column list.
                let mut nested = 0usize;
                let end = tokens[i..]
                    .iter()
                    .position(|t| match t.token {
                        Token::LParen => {
                            nested += 1;
                            false
                        }
                        Token::RParen if nested == 0 => true,
                        Token::RParen => {
                            nested -= 1;
                            false
                        }
                        Token::Comma => nested == 0,
                        _ => false,
                    })
                    .map(|p| i + p)
                    .ok_or_else(|| {
                        SqlError::at(text, token.span.start, "the WATERMARK clause is not closed")
                    })?;
                let clause = offset(token)..offset(tokens[end]);
                found.push(parse(text, &tokens[i..end], clause.clone())?);
                let from = offset(tokens[comma]);
                let blank: String = text[from..clause.end]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' })
                    .collect();
                blanked.replace_range(from..clause.end, &blank);
            }
            _ => {}
        }
    }
    Ok((blanked, found))
}

/// `WATERMARK FOR column AS column [- INTERVAL …]`.
fn parse(
    text: &str,
    tokens: &[&TokenWithSpan],
    span: std::ops::Range<usize>,
) -> Result<Watermark, SqlError> {
    let shape = "write WATERMARK FOR ts AS ts - INTERVAL '5' SECOND";
    let (column, as_token) = match (tokens.get(2).map(|t| &t.token), tokens.get(3)) {
        (Some(Token::Word(column)), Some(as_token)) if matches!(&as_token.token, Token::Word(w) if w.value.eq_ignore_ascii_case("AS")) => {
            (column.value.clone(), as_token)
        }
        _ => return Err(SqlError::at(text, tokens[0].span.start, shape)),
    };
    let start = offset_of(text, as_token.span.end).unwrap_or(span.end);
    let expression = &text[start..span.end];
    let error = |message: String, at: Option<usize>| SqlError {
        message,
        span: Some(at.map_or(start..start, |o| start + o..start + o)),
    };
    let ast = expr::parse_ast(expression).map_err(|e| error(e.message, e.offset))?;
    use sqlparser::ast::{BinaryOperator, Expr};
    let names_column = |e: &Expr| matches!(e, Expr::Identifier(i) if i.value == column);
    let delay_ms = match &ast {
        e if names_column(e) => 0,
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Minus,
            right,
        } if names_column(left) => match right.as_ref() {
            Expr::Interval(interval) => expr::interval_ms(interval).map_err(|m| error(m, None))?,
            _ => {
                return Err(error(
                    format!("the watermark subtracts an INTERVAL from `{column}`; {shape}"),
                    None,
                ))
            }
        },
        _ => {
            return Err(error(
                format!("weir's watermark trails the newest `{column}` by a fixed bound; {shape}"),
                None,
            ))
        }
    };
    Ok(Watermark {
        column,
        delay_ms,
        span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clause_is_read_and_blanked_in_place() {
        let sql = "CREATE TABLE t (\n  a STRING,\n  ts TIMESTAMP(3),\n  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND\n) WITH ('connector' = 'x')";
        let (blanked, found) = extract(sql).unwrap();
        assert_eq!(blanked.len(), sql.len());
        assert_eq!(blanked.lines().count(), sql.lines().count());
        assert!(!blanked.contains("WATERMARK"));
        assert!(
            blanked.contains("ts TIMESTAMP(3) \n"),
            "the comma before the clause goes too: {blanked}"
        );
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].column.as_str(), found[0].delay_ms), ("ts", 5_000));
        assert!(sql[found[0].span.clone()].starts_with("WATERMARK FOR ts"));
    }

    #[test]
    fn a_watermark_that_is_not_a_bound_is_refused_at_its_place() {
        let sql = "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts + INTERVAL '5' SECOND)";
        let e = extract(sql).unwrap_err();
        assert!(e.message.contains("fixed bound"), "{}", e.message);
        assert_eq!(e.span.map(|s| s.start), sql.find(" ts + "));
        let e = extract(
            "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL 'x' SECOND)",
        )
        .unwrap_err();
        assert!(
            e.message.contains("100 years") || e.message.contains("interval"),
            "{}",
            e.message
        );
    }
}
