//! A validator of the part of JSON Schema (draft 2020-12) that `docs/json.schema.json` uses:
//! `$ref` to `#/$defs/NAME`, `type`, `const`, `enum`, `required`, `properties`,
//! `additionalProperties`, `items`, `oneOf`, `anyOf`, `minimum`; annotations are skipped. A
//! keyword outside this set fails loudly (extend the validator with the schema), so nothing
//! in the schema goes unchecked. The `jsonschema` crate would bring regex engines and IDNA
//! tables into the build for this; where Python's maintained `jsonschema` package is
//! installed, [`python_errors`] checks the same events with it too.

use serde_json::Value;

/// The schema of bpfscope's JSON output, from the repository.
pub fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/json.schema.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// Why `instance` does not match `root` (empty: it matches).
pub fn errors(root: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, root, instance, "", &mut errors);
    errors
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown type `{other}` in the schema"),
    }
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        match schema {
            Value::Bool(true) => {}
            Value::Bool(false) => errors.push(format!("{at}: not allowed")),
            other => panic!("a schema is an object or a boolean, not {other}"),
        }
        return;
    };
    for (keyword, arg) in schema {
        match keyword.as_str() {
            "$schema" | "$id" | "title" | "description" | "$comment" | "$defs" => {}
            "$ref" => {
                let name = arg
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .unwrap_or_else(|| panic!("only #/$defs/NAME references: {arg}"));
                let target = &root["$defs"][name];
                assert!(!target.is_null(), "no $defs/{name} in the schema");
                check(root, target, v, at, errors);
            }
            "type" => {
                let names: Vec<&str> = match arg {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    other => panic!("bad type {other}"),
                };
                if !names.iter().any(|n| type_matches(n, v)) {
                    errors.push(format!("{at}: {v} is not of type {arg}"));
                }
            }
            "const" => {
                if v != arg {
                    errors.push(format!("{at}: {v} is not {arg}"));
                }
            }
            "enum" => {
                if !arg.as_array().is_some_and(|a| a.contains(v)) {
                    errors.push(format!("{at}: {v} is not one of {arg}"));
                }
            }
            "minimum" => {
                if let (Some(n), Some(min)) = (v.as_f64(), arg.as_f64()) {
                    if n < min {
                        errors.push(format!("{at}: {v} is below {arg}"));
                    }
                }
            }
            "required" => {
                if let Some(object) = v.as_object() {
                    for name in arg.as_array().into_iter().flatten().filter_map(Value::as_str) {
                        if !object.contains_key(name) {
                            errors.push(format!("{at}: `{name}` is missing"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(object) = v.as_object() {
                    for (name, sub) in arg.as_object().expect("properties is an object") {
                        if let Some(value) = object.get(name) {
                            check(root, sub, value, &format!("{at}/{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = v.as_object() {
                    let known = schema.get("properties").and_then(Value::as_object);
                    for (name, value) in object {
                        if !known.is_some_and(|k| k.contains_key(name)) {
                            check(root, arg, value, &format!("{at}/{name}"), errors);
                        }
                    }
                }
            }
            "items" => {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    check(root, arg, item, &format!("{at}/{i}"), errors);
                }
            }
            "oneOf" | "anyOf" => {
                let branches = arg.as_array().expect("a list of schemas");
                let results: Vec<Vec<String>> = branches
                    .iter()
                    .map(|b| {
                        let mut e = Vec::new();
                        check(root, b, v, at, &mut e);
                        e
                    })
                    .collect();
                let matched = results.iter().filter(|e| e.is_empty()).count();
                let ok = if keyword == "oneOf" { matched == 1 } else { matched >= 1 };
                if !ok {
                    let why: Vec<String> = results.into_iter().flatten().take(4).collect();
                    errors.push(format!(
                        "{at}: matches {matched} of the {keyword} schemas ({})",
                        why.join("; ")
                    ));
                }
            }
            other => panic!("the schema uses `{other}`, which this validator does not check"),
        }
    }
}

/// The errors Python's `jsonschema` (Draft202012Validator) finds in `instances`, one list
/// per instance; `None` when Python or the package is missing.
pub fn python_errors(instances: &[Value]) -> Option<Vec<Vec<String>>> {
    use std::io::Write;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/json.schema.json");
    let program = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for line in sys.stdin:
    errors = [e.message[:200] for e in validator.iter_errors(json.loads(line))]
    print(json.dumps(errors))
"#;
    let available = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        return None;
    }
    let mut child = std::process::Command::new("python3")
        .args(["-c", program, path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut input = String::new();
    for instance in instances {
        input.push_str(&instance.to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python3 runs");
    writer.join().expect("writer").expect("write to python3");
    assert!(out.status.success(), "python3 jsonschema: {}", String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(lines.lines().map(|l| serde_json::from_str(l).expect("a JSON list")).collect())
}
