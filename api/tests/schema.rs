//! The committed JSON Schema (`manifests/schema/manifest.schema.json`) is what the types
//! generate, is shaped for yaml-language-server, and accepts the shipped examples.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/schema/manifest.schema.json")
}

#[test]
fn committed_schema_is_up_to_date() {
    let generated = podctl_api::schema::manifest_schema_json();
    let path = committed_path();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: the manifest types changed.\n\
         Regenerate it with `UPDATE_SCHEMA=1 cargo test -p podctl-api --test schema` and commit it.",
        path.display()
    );
}

fn schema() -> Value {
    serde_json::from_str(&podctl_api::schema::manifest_schema_json()).expect("schema is JSON")
}

use serde_json::Value;

#[test]
fn schema_is_one_of_per_kind_with_const_kind_and_closed_objects() {
    let schema = schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let variants = schema["oneOf"].as_array().expect("oneOf");
    let kinds: Vec<&str> = variants
        .iter()
        .map(|v| {
            v["properties"]["kind"]["const"]
                .as_str()
                .expect("const kind")
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Container",
            "Volume",
            "Secret",
            "Image",
            "Network",
            "BackupRepository",
            "HostSettings"
        ]
    );
    for v in variants {
        assert_eq!(v["additionalProperties"], false);
        assert_eq!(v["properties"]["apiVersion"]["const"], "podctl.io/v1");
        assert_eq!(
            v["required"],
            serde_json::json!(["apiVersion", "kind", "metadata", "spec"])
        );
    }
    // Every object with named fields rejects unknown ones, like the loader does.
    let mut open = Vec::new();
    closed_objects(&schema, "#", &mut open);
    assert!(
        open.is_empty(),
        "objects that allow unknown fields: {open:?}"
    );
}

fn closed_objects(node: &Value, at: &str, open: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if map.contains_key("properties")
                && map.get("additionalProperties") != Some(&Value::Bool(false))
            {
                open.push(at.to_string());
            }
            for (k, v) in map {
                closed_objects(v, &format!("{at}/{k}"), open);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                closed_objects(v, &format!("{at}/{i}"), open);
            }
        }
        _ => {}
    }
}

#[test]
fn example_objects_conform_to_the_schema() {
    let schema = schema();
    for example in ["production", "minimal"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../manifests/examples")
            .join(example);
        let revision = podctl_api::load_dir(&dir).expect("valid example");
        for object in revision.objects() {
            let document = serde_json::to_value(object).expect("serialize");
            let errors = check(&schema, &schema, &document, "");
            assert!(
                errors.is_empty(),
                "{example}: {} does not match the schema: {errors:?}\n{document:#}",
                object.object_ref()
            );
        }
    }
}

#[test]
fn schema_checker_rejects_what_the_loader_rejects() {
    let schema = schema();
    let good = serde_json::json!({
        "apiVersion": "podctl.io/v1", "kind": "Container",
        "metadata": {"name": "web"}, "spec": {"image": "nginx", "ports": ["8080:80"]}
    });
    assert!(check(&schema, &schema, &good, "").is_empty());
    // Numbers and booleans in plain string fields load, so the schema takes them too.
    let mut numbers = good.clone();
    numbers["spec"]["env"] = serde_json::json!({"PORT": 8080, "DEBUG": true});
    numbers["spec"]["args"] = serde_json::json!(["--port", 8080]);
    numbers["metadata"]["labels"] = serde_json::json!({"version": 1.0});
    assert_eq!(check(&schema, &schema, &numbers, ""), Vec::<String>::new());
    for (pointer, value) in [
        ("/spec/colour", serde_json::json!("blue")),
        ("/metadata/name", serde_json::json!("My_App")),
        ("/kind", serde_json::json!("Contaner")),
        ("/spec/restart", serde_json::json!({"policy": "sometimes"})),
        ("/spec/stopTimeout", serde_json::json!("30")),
        ("/spec/ports", serde_json::json!([8080])),
        ("/spec/env", serde_json::json!({"PORT": [1]})),
    ] {
        let mut bad = good.clone();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        bad.pointer_mut(parent).expect("parent")[key] = value;
        assert!(
            !check(&schema, &schema, &bad, "").is_empty(),
            "{pointer} accepted"
        );
    }
}

/// A small JSON Schema (draft-07) checker for the keywords the generated schema uses;
/// returns where and why `value` does not match.
fn check(root: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(s) = schema.as_object() else {
        return errors;
    };
    let mut fail = |why: String| errors.push(format!("{at}: {why}"));
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = root
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}"));
        return check(root, target, value, at);
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let matches = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "null" => value.is_null(),
            _ => false,
        });
        if !matches {
            fail(format!("expected type {t}, found {value}"));
            return errors;
        }
    }
    if let Some(c) = s.get("const")
        && c != value
    {
        fail(format!("expected {c}, found {value}"));
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(value)
    {
        fail(format!("{value} is not one of {options:?}"));
    }
    if let (Some(pattern), Some(text)) = (s.get("pattern").and_then(Value::as_str), value.as_str())
        && !regex::Regex::new(pattern).expect("pattern").is_match(text)
    {
        fail(format!("{text:?} does not match {pattern}"));
    }
    if let (Some(max), Some(text)) = (s.get("maxLength").and_then(Value::as_u64), value.as_str())
        && text.chars().count() as u64 > max
    {
        fail(format!("longer than {max}"));
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), value.as_f64())
        && n < min
    {
        fail(format!("{n} is below {min}"));
    }
    if let (Some(max), Some(n)) = (s.get("maximum").and_then(Value::as_f64), value.as_f64())
        && n > max
    {
        fail(format!("{n} is above {max}"));
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            errors.extend(check(root, sub, value, at));
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf")
        && !any.iter().any(|sub| check(root, sub, value, at).is_empty())
    {
        errors.push(format!("{at}: matches none of anyOf"));
    }
    if let Some(Value::Array(one)) = s.get("oneOf") {
        let matching = one
            .iter()
            .filter(|sub| check(root, sub, value, at).is_empty())
            .count();
        if matching != 1 {
            errors.push(format!(
                "{at}: matches {matching} of oneOf, not exactly one"
            ));
        }
    }
    if let (Some(items), Some(array)) = (s.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            errors.extend(check(root, items, item, &format!("{at}/{i}")));
        }
    }
    if let Some(map) = value.as_object() {
        if let Some(Value::Array(required)) = s.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    errors.push(format!("{at}: missing {r}"));
                }
            }
        }
        let properties = s.get("properties").and_then(Value::as_object);
        let patterns = s.get("patternProperties").and_then(Value::as_object);
        for (key, v) in map {
            let here = format!("{at}/{key}");
            if let Some(sub) = properties.and_then(|p| p.get(key)) {
                errors.extend(check(root, sub, v, &here));
                continue;
            }
            let by_pattern = patterns.and_then(|p| {
                p.iter()
                    .find(|(pattern, _)| regex::Regex::new(pattern).expect("pattern").is_match(key))
            });
            if let Some((_, sub)) = by_pattern {
                errors.extend(check(root, sub, v, &here));
                continue;
            }
            match s.get("additionalProperties") {
                Some(Value::Bool(false)) => errors.push(format!("{here}: unknown field")),
                Some(sub @ Value::Object(_)) => errors.extend(check(root, sub, v, &here)),
                _ => {}
            }
        }
    }
    errors
}
