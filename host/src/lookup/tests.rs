use std::path::Path;

use super::*;
use crate::data::KeyRef;

fn spec(path: &Path, fields: &[(&str, FieldType)], defaults: &[Option<&str>]) -> TableSpec {
    TableSpec {
        origin: TableOrigin::File {
            path: path.to_path_buf(),
            format: TableFormat::of(path).unwrap(),
        },
        key: "id".into(),
        key_type: FieldType::String,
        fields: fields.iter().map(|(n, t)| Field::new(*n, *t)).collect(),
        defaults: defaults.iter().map(|d| d.map(str::to_string)).collect(),
    }
}

fn table_file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn value_at(table: &LookupTable, row: u32) -> Vec<String> {
    table
        .gather(&[row])
        .map(|column| format!("{:?}", column.get(0)))
        .collect()
}

#[test]
fn csv_and_json_tables_load_typed_with_a_defaults_row() {
    let fields = [
        ("city", FieldType::String),
        ("floor", FieldType::I64),
        ("since", FieldType::Timestamp),
    ];
    let (_d, csv) = table_file(
        "t.csv",
        "since,id,city,floor\n2024-01-02 03:04:05.678,a,\"Lyon, FR\",3\n0,b,Porto,-1\n",
    );
    let (_e, json) = table_file(
        "t.ndjson",
        "{\"id\":\"a\",\"city\":\"Lyon, FR\",\"floor\":3,\"since\":\"2024-01-02 03:04:05.678\"}\n\n{\"id\":\"b\",\"city\":\"Porto\",\"floor\":-1,\"since\":0}\n",
    );
    for path in [csv, json] {
        let table = load(&spec(&path, &fields, &[Some("?"), None, None])).unwrap();
        assert_eq!(table.len(), 2);
        let a = table.find(KeyRef::Str("a")).unwrap();
        assert_eq!(
            value_at(&table, a),
            ["String(\"Lyon, FR\")", "I64(3)", "Timestamp(1704164645678)"]
        );
        assert_eq!(table.find(KeyRef::Str("c")), None);
        assert_eq!(
            value_at(&table, table.defaults_row()),
            ["String(\"?\")", "I64(0)", "Timestamp(0)"]
        );
    }
}

#[test]
fn errors_name_the_file_the_line_and_the_column() {
    let fields = [("floor", FieldType::I64)];
    let cases = [
        (
            "id,floor\na,1\nb,two\n",
            "t.csv line 3, column `floor`: \"two\" is not an integer",
        ),
        (
            "id,level\na,1\n",
            "has no column `floor` (its header: id, level)",
        ),
        ("id,floor\na,1\na,2\n", "line 3: key a is already on line 2"),
        ("id,floor\na,1,9\n", "line 2"),
    ];
    for (text, expected) in cases {
        let (_d, path) = table_file("t.csv", text);
        let error = load(&spec(&path, &fields, &[None])).unwrap_err();
        assert!(error.contains(expected), "{error}");
    }
    let (_d, path) = table_file("t.json", "{\"id\":\"a\"}\n");
    let error = load(&spec(&path, &fields, &[None])).unwrap_err();
    assert!(error.contains("t.json line 1: no field `floor`"), "{error}");
    let (_d, path) = table_file("t.csv", "id,floor\n");
    let error = load(&spec(&path, &fields, &[Some("x")])).unwrap_err();
    assert!(error.contains("the default of `floor`"), "{error}");
}

#[test]
fn integer_keys_are_read_as_the_rows_key_field_is() {
    let (_d, path) = table_file("t.csv", "id,name\n7,seven\n");
    let mut spec = spec(&path, &[("name", FieldType::String)], &[None]);
    spec.key_type = FieldType::I64;
    let table = load(&spec).unwrap();
    assert!(table.find(KeyRef::Int(7)).is_some());
    assert!(table.find(KeyRef::Str("7")).is_none());
}
