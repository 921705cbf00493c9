use std::collections::HashMap;

use super::*;

struct Vars(HashMap<&'static str, String>);

impl Environment for Vars {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn vars(pairs: &[(&'static str, &str)]) -> Vars {
    Vars(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
}

fn expand(text: &str, syntax: Syntax, env: &Vars) -> Result<Expanded, ExpandError> {
    Expanded::expand(text, syntax, Path::new("/nonexistent"), env)
}

fn toml(text: &str, env: &Vars) -> String {
    expand(text, Syntax::Toml, env).unwrap().text
}

fn error(text: &str, syntax: Syntax, env: &Vars) -> ExpandError {
    expand(text, syntax, env).unwrap_err()
}

#[test]
fn a_value_is_escaped_as_its_string_needs() {
    let env = vars(&[("PW", r#"a"b\c'd"#)]);
    let text = toml("url = \"x:${PW}@h\"\n", &env);
    assert_eq!(text, "url = \"x:a\\\"b\\\\c'd@h\"\n");
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(parsed["url"].as_str(), Some(r#"x:a"b\c'd@h"#));
    // A literal string cannot hold the quote: refused, the value unnamed.
    let e = error("url = 'x:${PW}'", Syntax::Toml, &env);
    assert!(
        e.message.contains("`PW`") && !e.message.contains("a\"b"),
        "{}",
        e.message
    );
    assert_eq!(e.span, 9..14);
    // SQL doubles the quote.
    let sql = expand("WITH ('password' = '${PW}')", Syntax::Sql, &env).unwrap();
    assert_eq!(sql.text, r#"WITH ('password' = 'a"b\c''d')"#);
}

#[test]
fn bare_values_must_be_one_word() {
    let env = vars(&[("N", "512"), ("BAD", "1\nname = \"x\"")]);
    assert_eq!(toml("batch_size = ${N}", &env), "batch_size = 512");
    let e = error("batch_size = ${BAD}", Syntax::Toml, &env);
    assert!(e.message.contains("inside quotes"), "{}", e.message);
}

#[test]
fn defaults_errors_and_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    std::fs::write(dir.path().join("big"), vec![b'x'; 70 * 1024]).unwrap();
    let env = vars(&[
        ("EMPTY", ""),
        ("PG_FILE", &dir.path().join("pw").display().to_string()),
    ]);
    let run = |text: &str| Expanded::expand(text, Syntax::Toml, dir.path(), &env);
    assert_eq!(run("a = \"${NOPE:-d}\"").unwrap().text, "a = \"d\"");
    assert_eq!(run("a = \"${EMPTY:-d}\"").unwrap().text, "a = \"d\"");
    assert_eq!(run("a = \"${EMPTY-d}\"").unwrap().text, "a = \"\"");
    assert_eq!(run("a = \"${file:pw}\"").unwrap().text, "a = \"s3cret\"");
    let from_file = run("a = \"${PG}\"").unwrap();
    assert_eq!(from_file.text, "a = \"s3cret\"");
    assert_eq!(from_file.values, ["s3cret"]);
    let e = run("a = \"${NOPE}\"").unwrap_err();
    assert!(e.message.contains("`NOPE` is not set"), "{}", e.message);
    let e = run("a = \"${NOPE:?the database password}\"").unwrap_err();
    assert!(
        e.message.ends_with("the database password"),
        "{}",
        e.message
    );
    let e = run("a = \"${file:big}\"").unwrap_err();
    assert!(e.message.contains("over 64 KiB"), "{}", e.message);
    let e = run("a = \"${file:missing}\"").unwrap_err();
    assert!(e.message.contains("cannot read"), "{}", e.message);
    let e = run("a = \"${9X}\"").unwrap_err();
    assert!(
        e.message.contains("names no environment variable"),
        "{}",
        e.message
    );
    let e = run("a = \"${X\"\nb = 1").unwrap_err();
    assert!(e.message.contains("without its closing"), "{}", e.message);
    // Never closed, and the search's limit falls inside a character.
    let e = run(&format!("a = \"${{x{}\"", "é".repeat(600))).unwrap_err();
    assert!(e.message.contains("without its closing"), "{}", e.message);
}

#[test]
fn comments_and_escaped_references_are_kept() {
    let env = vars(&[]);
    let text = "# ${NOT_SET}\na = \"$${x}\" # ${ALSO}\n";
    assert_eq!(toml(text, &env), "# ${NOT_SET}\na = \"${x}\" # ${ALSO}\n");
    let sql = "-- ${NOT_SET}\n/* ${X} */ SELECT '$${y}'";
    assert_eq!(
        expand(sql, Syntax::Sql, &env).unwrap().text,
        "-- ${NOT_SET}\n/* ${X} */ SELECT '${y}'"
    );
}

#[test]
fn offsets_map_back_to_the_text_as_written() {
    let env = vars(&[("LONG", "0123456789"), ("S", "")]);
    let original = "a = \"${LONG}\"\nb = \"${S}\" c";
    let expanded = expand(original, Syntax::Toml, &env).unwrap();
    assert_eq!(expanded.text, "a = \"0123456789\"\nb = \"\" c");
    // Inside the value: the reference's start.
    assert_eq!(expanded.original_offset(8), 5);
    // After it: shifted by the difference.
    let c_expanded = expanded.text.find(" c").unwrap() + 1;
    let c_original = original.find(" c").unwrap() + 1;
    assert_eq!(expanded.original_offset(c_expanded), c_original);
    assert_eq!(expanded.original_offset(0), 0);
}

proptest::proptest! {
    /// Whatever the text, expanding it never panics, and a text without
    /// `${` comes back unchanged.
    #[test]
    fn any_text_expands_or_fails_cleanly(text in "(\\$\\{|[\"'#\\\\\n-]|é|[a-z]{1,3}|\\}){0,1200}") {
        let env = vars(&[("a", "x")]);
        for syntax in [Syntax::Toml, Syntax::Sql] {
            if let Ok(expanded) = expand(&text, syntax, &env) {
                if !text.contains("${") {
                    proptest::prop_assert_eq!(&expanded.text, &text);
                }
                let _ = expanded.original_offset(expanded.text.len());
            }
        }
    }
}
