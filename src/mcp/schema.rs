//! Input schemas every client can read.
//!
//! schemars writes an optional parameter as `type: ["string", "null"]` (and nullable enums
//! with a `null` member and `default: null`). That is valid JSON Schema, but some clients
//! accept one type per field only and drop or reject such parameters. Omitting a parameter is
//! how a caller says "not given", so the schemas we publish simply leave `null` out; a `null`
//! sent anyway is still accepted as "not given".

use schemars::Schema;

/// Drops what every tool's schema would repeat: `$schema` (JSON Schema 2020-12 is MCP's
/// default dialect), about 50 bytes a tool in every agent's context.
pub fn without_dialect(tool: &mut rmcp::model::Tool) {
    std::sync::Arc::make_mut(&mut tool.input_schema).remove("$schema");
    if let Some(output) = tool.output_schema.as_mut() {
        std::sync::Arc::make_mut(output).remove("$schema");
    }
}
use serde_json::Value;

/// Removes `null` from the types, enums and defaults of a parameters struct's properties,
/// and `format` (Rust's integer widths mean nothing to a model; some clients drop it), with
/// the 0..255 bounds of a `u8` that say something false of a priority of 1 to 5 (the
/// description gives the real range, in words every client passes on).
pub fn without_nulls(schema: &mut Schema) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else { return };
    for property in properties.values_mut() {
        let Value::Object(property) = property else { continue };
        if let Some(format) = property.remove("format")
            && format == "uint8"
        {
            property.remove("minimum");
            property.remove("maximum");
        }
        if let Some(Value::Array(types)) = property.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let only = types.remove(0);
                property.insert("type".into(), only);
            }
        }
        if let Some(Value::Array(values)) = property.get_mut("enum") {
            values.retain(|v| !v.is_null());
        }
        if property.get("default").is_some_and(Value::is_null) {
            property.remove("default");
        }
        if let Some(Value::Array(options)) = property.get_mut("anyOf") {
            options.retain(|o| o.get("type") != Some(&Value::String("null".into())));
            if options.len() == 1
                && let Value::Object(only) = options.remove(0)
            {
                property.remove("anyOf");
                property.extend(only);
            }
        }
    }
}
