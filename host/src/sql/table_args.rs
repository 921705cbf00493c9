//! Table arguments of table functions, `f(TABLE t [PARTITION BY key])`:
//! the windowing functions' `TUMBLE(TABLE t, …)` and Flink's process table
//! functions, `fraud_detector(TABLE payments PARTITION BY user_id)`.
//! sqlparser takes neither the `TABLE` keyword nor `PARTITION BY` inside a
//! function's arguments, so both are read here and blanked (same length,
//! newlines kept), leaving `f(t, …)` with every position still pointing
//! into the user's script.

use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::SqlError;
use crate::expr::offset_of;

/// `TABLE name [PARTITION BY key]` as a function's argument.
#[derive(Debug, Clone)]
pub struct TableArgument {
    /// Where the table's name starts in the script: the planner finds the
    /// argument by the place of the identifier sqlparser gives it.
    pub name_at: usize,
    /// The `PARTITION BY` columns, with the clause's place.
    pub partition_by: Option<(Vec<String>, std::ops::Range<usize>)>,
}

/// The table a function's argument names: `t` in `f(TABLE t …)` (its
/// keyword blanked) or `f(input => TABLE t …)`.
pub fn named_table(argument: &sqlparser::ast::FunctionArg) -> Option<&sqlparser::ast::Ident> {
    use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr};
    match argument {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(t)))
        | FunctionArg::Named {
            arg: FunctionArgExpr::Expr(Expr::Identifier(t)),
            ..
        } => Some(t),
        _ => None,
    }
}

/// The script with its table arguments' keywords blanked, and the arguments.
pub fn extract(text: &str) -> Result<(String, Vec<TableArgument>), SqlError> {
    let tokens = super::tokens(text)?;
    let offset = |t: &TokenWithSpan| offset_of(text, t.span.start).unwrap_or(text.len());
    let end = |t: &TokenWithSpan| offset_of(text, t.span.end).unwrap_or(text.len());
    let word = |i: usize, w: &str| matches!(tokens.get(i).map(|t| &t.token), Some(Token::Word(x)) if x.value.eq_ignore_ascii_case(w));
    let mut blanked = text.to_string();
    let mut blank = |range: std::ops::Range<usize>| {
        let spaces: String = text[range.clone()]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        blanked.replace_range(range, &spaces);
    };
    let mut found = Vec::new();
    for i in 1..tokens.len() {
        let argument_start = matches!(
            tokens[i - 1].token,
            Token::LParen | Token::Comma | Token::RArrow
        );
        let names_a_table = matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Word(_)));
        if !argument_start || !word(i, "TABLE") || !names_a_table {
            continue;
        }
        blank(offset(&tokens[i])..end(&tokens[i]));
        let mut argument = TableArgument {
            name_at: offset(&tokens[i + 1]),
            partition_by: None,
        };
        if word(i + 2, "PARTITION") {
            if !word(i + 3, "BY") {
                return Err(SqlError::at(
                    text,
                    tokens[i + 2].span.start,
                    "write PARTITION BY key",
                ));
            }
            let (columns, last) = partition_columns(text, &tokens, i + 4)?;
            let clause = offset(&tokens[i + 2])..end(&tokens[last]);
            blank(clause.clone());
            argument.partition_by = Some((columns, clause));
        }
        found.push(argument);
    }
    Ok((blanked, found))
}

/// `key` or `(key, …)` from token `at`: the columns and the last token's index.
fn partition_columns(
    text: &str,
    tokens: &[TokenWithSpan],
    at: usize,
) -> Result<(Vec<String>, usize), SqlError> {
    let shape = "PARTITION BY names a column, e.g. PARTITION BY user_id";
    let column = |i: usize| match tokens.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) => Ok(w.value.clone()),
        _ => Err(SqlError::at(
            text,
            tokens.get(i).unwrap_or(&tokens[at - 1]).span.start,
            shape,
        )),
    };
    if tokens.get(at).map(|t| &t.token) != Some(&Token::LParen) {
        return Ok((vec![column(at)?], at));
    }
    let mut columns = Vec::new();
    let mut i = at + 1;
    loop {
        columns.push(column(i)?);
        match tokens.get(i + 1).map(|t| &t.token) {
            Some(Token::Comma) => i += 2,
            Some(Token::RParen) => return Ok((columns, i + 1)),
            _ => {
                return Err(SqlError::at(
                    text,
                    tokens.get(i + 1).unwrap_or(&tokens[i]).span.start,
                    "expected `,` or `)` in PARTITION BY (…)",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_functions_table_keyword_is_blanked() {
        let sql =
            "SELECT * FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(ts), INTERVAL '10' SECOND))";
        let (blanked, found) = extract(sql).unwrap();
        assert_eq!(blanked.len(), sql.len());
        assert!(blanked.contains("TUMBLE(      readings,"), "{blanked}");
        assert!(blanked.starts_with("SELECT * FROM TABLE(TUMBLE("));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name_at, sql.find("readings").unwrap());
        assert!(found[0].partition_by.is_none());
    }

    #[test]
    fn a_partitioned_table_argument_is_read_and_blanked() {
        let sql = "SELECT * FROM detect(input => TABLE payments\n  PARTITION BY user_id, x => 1)";
        let (blanked, found) = extract(sql).unwrap();
        assert_eq!(blanked.len(), sql.len());
        assert_eq!(blanked.lines().count(), 2);
        assert!(!blanked.contains("PARTITION") && !blanked.contains("TABLE"));
        assert!(blanked.contains("payments\n"), "{blanked}");
        let (columns, clause) = found[0].partition_by.clone().unwrap();
        assert_eq!(columns, ["user_id"]);
        assert_eq!(&sql[clause], "PARTITION BY user_id");
        let (_, found) = extract("SELECT * FROM f(TABLE t PARTITION BY (a, b))").unwrap();
        assert_eq!(found[0].partition_by.as_ref().unwrap().0, ["a", "b"]);
    }

    #[test]
    fn a_partition_by_without_a_column_is_refused_at_its_place() {
        let sql = "SELECT * FROM f(TABLE t PARTITION BY )";
        let e = extract(sql).unwrap_err();
        assert!(
            e.message.contains("PARTITION BY names a column"),
            "{}",
            e.message
        );
        assert_eq!(e.span.map(|s| s.start), sql.find(')'));
    }
}
