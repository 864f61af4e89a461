//! The JSON Schema of manifests, generated from the types, for editors (yaml-language-server).

use schemars::generate::SchemaSettings;
use schemars::{Schema, json_schema};

use crate::HostSettingsSpec;
use crate::kinds::{
    API_VERSION, BackupRepositorySpec, ContainerSpec, ImageSpec, Kind, NetworkSpec, ObjectMeta,
    SecretSpec, VolumeSpec,
};

/// One schema for any manifest document: a `oneOf` over the kinds, told apart by `kind`.
pub fn manifest_schema() -> Schema {
    let mut generator = SchemaSettings::draft07().into_generator();
    let metadata = generator.subschema_for::<ObjectMeta>();
    let specs = [
        (Kind::Container, generator.subschema_for::<ContainerSpec>()),
        (Kind::Volume, generator.subschema_for::<VolumeSpec>()),
        (Kind::Secret, generator.subschema_for::<SecretSpec>()),
        (Kind::Image, generator.subschema_for::<ImageSpec>()),
        (Kind::Network, generator.subschema_for::<NetworkSpec>()),
        (
            Kind::BackupRepository,
            generator.subschema_for::<BackupRepositorySpec>(),
        ),
        (
            Kind::HostSettings,
            generator.subschema_for::<HostSettingsSpec>(),
        ),
    ];
    let variants: Vec<Schema> = specs
        .into_iter()
        .map(|(kind, spec)| {
            json_schema!({
                "title": kind.as_str(),
                "type": "object",
                "properties": {
                    "apiVersion": {"const": API_VERSION},
                    "kind": {"const": kind.as_str()},
                    "metadata": metadata,
                    "spec": spec,
                },
                "required": ["apiVersion", "kind", "metadata", "spec"],
                "additionalProperties": false,
            })
        })
        .collect();
    let mut definitions = generator.take_definitions(true);
    // The loader takes numbers and booleans as written in plain string fields (`PORT: 8080`
    // in `env`), so the schema must too, or editors flag valid manifests. Typed values
    // (durations, ports, ...) are definitions of their own and stay strings.
    for definition in definitions.values_mut() {
        if let Some(object) = definition.as_object_mut() {
            for (key, value) in object.iter_mut() {
                if key != "type" {
                    widen_plain_strings(value);
                }
            }
        }
    }
    json_schema!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://podctl.io/schema/v1/manifest.json",
        "title": "podctl manifest (podctl.io/v1)",
        "oneOf": variants,
        "definitions": definitions,
    })
}

/// Turns every inline `{"type": "string"}` without a pattern, enum or format into
/// `{"type": ["string", "number", "boolean"]}`.
fn widen_plain_strings(node: &mut serde_json::Value) {
    use serde_json::Value;
    match node {
        Value::Object(map) => {
            let plain = map.get("type") == Some(&Value::from("string"))
                && !["pattern", "enum", "format", "const"]
                    .iter()
                    .any(|k| map.contains_key(*k));
            if plain {
                map.insert(
                    "type".into(),
                    serde_json::json!(["string", "number", "boolean"]),
                );
            }
            for value in map.values_mut() {
                widen_plain_strings(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(widen_plain_strings),
        _ => {}
    }
}

/// The schema as committed under `manifests/schema/`: pretty JSON with a final newline.
pub fn manifest_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&manifest_schema()).unwrap_or_default();
    text.push('\n');
    text
}
