//! The JSON output against its documentation (`docs/json-schema.md`): the
//! field table there is parsed and every document checked both ways.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::{dump, fixtures, iomem, repo};

/// (path, allowed JSON types) of every documented field.
fn documented() -> Vec<(String, Vec<&'static str>)> {
    let doc = std::fs::read_to_string(repo().join("docs/json-schema.md")).unwrap();
    // The `show` schema: everything before the `check` section.
    let doc = doc.split("# `iomem check --json`").next().unwrap_or_default();
    let mut fields = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let path = cells[1].trim_matches('`').to_string();
        let types = cells[2]
            .split(" or ")
            .map(|t| match t {
                "integer" => "integer",
                "string" => "string",
                "boolean" => "boolean",
                "object" => "object",
                "array" => "array",
                "array of strings" => "array of strings",
                "null" => "null",
                other => panic!("unknown type {other:?} for {path}"),
            })
            .collect();
        fields.push((path, types));
    }
    assert!(fields.len() > 30, "the field table was not found");
    fields
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => "array of strings",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn matches(v: &Value, types: &[&str]) -> bool {
    let t = type_of(v);
    types.contains(&t)
        // An empty array is a valid "array of strings".
        || (t == "array" && types.contains(&"array of strings") && v.as_array().is_some_and(Vec::is_empty))
}

/// The values at a documented path (`a[].b` visits every element of `a`);
/// `None` where the path is absent. Children of null values are not visited.
fn values_at<'a>(root: &'a Value, path: &str) -> Vec<Option<&'a Value>> {
    let mut current = vec![Some(root)];
    for part in path.split('.') {
        let (key, each) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for v in current {
            match v {
                None => next.push(None),
                Some(Value::Null) => {}
                Some(v) => {
                    let child = v.get(key);
                    match (each, child) {
                        (true, Some(Value::Array(items))) => next.extend(items.iter().map(Some)),
                        (true, other) => next.push(other.filter(|_| false)),
                        (false, child) => next.push(child),
                    }
                }
            }
        }
        current = next;
    }
    current
}

/// Every field path present in a document, in the documented notation.
fn present(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match child {
                Value::Array(items) if items.iter().any(Value::is_object) => {
                    out.insert(path.clone());
                    for item in items {
                        present(item, &format!("{path}[]"), out);
                    }
                }
                _ => {
                    out.insert(path.clone());
                    present(child, &path, out);
                }
            }
        }
    }
}

fn check(doc: &Value, what: &str) {
    let fields = documented();
    for (path, types) in &fields {
        for v in values_at(doc, path) {
            let v = v.unwrap_or_else(|| panic!("{what}: documented field {path} is missing"));
            assert!(matches(v, types), "{what}: {path} is {} ({v}), documented as {types:?}", type_of(v));
        }
    }
    let documented: BTreeSet<&str> = fields.iter().map(|(p, _)| p.as_str()).collect();
    let mut seen = BTreeSet::new();
    present(doc, "", &mut seen);
    for p in &seen {
        assert!(documented.contains(p.as_str()), "{what}: field {p} is not documented in docs/json-schema.md");
    }
    assert_eq!(doc["schema_version"], 1);
}

#[test]
fn example_matches_the_schema() {
    let doc = iomem(&["show", "--example", "--json"]).json();
    // Both kinds of exclusive values occur, so every nested field is visited.
    assert!(doc["resources"].as_array().unwrap().iter().any(|r| r["exclusive"]["strict"]["reason"].is_string()));
    check(&doc, "--example");
}

#[test]
fn verdicts_match_the_schema() {
    let doc = iomem(&["show", "--example", "--json", "--verdicts"]).json();
    assert!(doc["resources"].as_array().unwrap().iter().all(|r| r["verdicts"]["read"].is_string()));
    check(&doc, "--example --verdicts");
}

#[test]
fn plain_dumps_match_the_schema() {
    for prefix in ["003", "017", "025", "041", "045"] {
        let path = dump(prefix);
        let doc = iomem(&["show", "--json", "--file", path.to_str().unwrap()]).json();
        check(&doc, prefix);
    }
}

#[test]
fn captured_system_matches_the_schema() {
    let step = fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M-q35/c-shrink-300M");
    let doc = iomem(&["show", "--json", "--root", step.to_str().unwrap()]).json();
    check(&doc, "q35 root");
}

#[test]
fn addresses_are_hex_strings_that_match_the_input() {
    // 041 has 12-digit addresses, beyond 2^32.
    let path = dump("041");
    let doc = iomem(&["show", "--json", "--file", path.to_str().unwrap()]).json();
    let input = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = input.lines().collect();
    for r in doc["resources"].as_array().unwrap() {
        let (s, e) = (r["start"].as_str().unwrap(), r["end"].as_str().unwrap());
        assert!(s.starts_with("0x") && e.starts_with("0x"));
        let line = lines[r["line"].as_u64().unwrap() as usize - 1].trim_start();
        let (range, name) = line.split_once(" : ").unwrap();
        let (ls, le) = range.split_once('-').unwrap();
        assert_eq!(u64::from_str_radix(&s[2..], 16).unwrap(), u64::from_str_radix(ls, 16).unwrap());
        assert_eq!(u64::from_str_radix(&e[2..], 16).unwrap(), u64::from_str_radix(le, 16).unwrap());
        assert_eq!(r["name"], name);
    }
}
