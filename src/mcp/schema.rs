//! Input schemas every client can read.
//!
//! schemars writes an optional parameter as `type: ["string", "null"]` (and nullable enums
//! with a `null` member and `default: null`). That is valid JSON Schema, but some clients
//! accept one type per field only and drop or reject such parameters. Omitting a parameter is
//! how a caller says "not given", so the schemas we publish simply leave `null` out; a `null`
//! sent anyway is still accepted as "not given".
//!
//! Every agent reads the tools' schemas on every turn, so they carry no repeated or
//! wrapped bytes either (see [`compact`]).

use std::borrow::Cow;
use std::sync::Arc;

use schemars::Schema;
use serde_json::{Map, Value};

/// Shapes a tool as it goes into every agent's context, where each byte costs on every turn:
/// - no `$schema` (JSON Schema 2020-12 is MCP's default dialect), about 50 bytes a tool;
/// - descriptions are written as wrapped doc comments; their line breaks become spaces
///   (a line starting a list item keeps its break);
/// - no `default: false` of a flag or `default: []` of a list (omitted means off, or none),
///   and no `minimum: 0` of an unsigned integer (a count, a rev): some clients drop defaults
///   and bounds before the model sees them anyway, so one that matters is in the words.
pub fn compact(tool: &mut rmcp::model::Tool) {
    if let Some(description) = tool.description.as_mut() {
        *description = Cow::Owned(unwrapped(description));
    }
    let input = Arc::make_mut(&mut tool.input_schema);
    input.remove("$schema");
    unwrap_descriptions(input);
    if let Some(Value::Object(properties)) = input.get_mut("properties") {
        for property in properties.values_mut() {
            let Value::Object(property) = property else { continue };
            let kind = property.get("type").and_then(Value::as_str).map(str::to_owned);
            let implied = match property.get("default") {
                Some(Value::Bool(false)) => kind.as_deref() == Some("boolean"),
                Some(Value::Array(items)) => items.is_empty() && kind.as_deref() == Some("array"),
                _ => false,
            };
            if implied {
                property.remove("default");
            }
            if kind.as_deref() == Some("integer") && property.get("minimum").and_then(Value::as_u64) == Some(0) {
                property.remove("minimum");
            }
        }
    }
    if let Some(output) = tool.output_schema.as_mut() {
        let output = Arc::make_mut(output);
        output.remove("$schema");
        unwrap_descriptions(output);
    }
}

/// Joins the wrapped lines of every `description` in a schema (at any depth).
fn unwrap_descriptions(schema: &mut Map<String, Value>) {
    for (key, value) in schema.iter_mut() {
        match value {
            Value::String(text) if key == "description" => *text = unwrapped(text),
            Value::Object(inner) => unwrap_descriptions(inner),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        unwrap_descriptions(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A doc comment's text with its wrapped lines joined by a space. Paragraph breaks stay, and
/// so does the break before a list item.
fn unwrapped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        if let Some(next) = lines.peek() {
            let keeps_break = line.trim().is_empty()
                || next.trim().is_empty()
                || next.trim_start().starts_with("- ")
                || next.trim_start().starts_with("* ");
            out.push(if keeps_break { '\n' } else { ' ' });
        }
    }
    out
}

/// For a parameter whose name, type and values say it all: drops the description that
/// schemars would otherwise copy from the type's doc comment (e.g. "Lifecycle of a story.").
pub fn undescribed(schema: &mut Schema) {
    schema.remove("description");
    if let Some(Value::Array(options)) = schema.get_mut("anyOf") {
        for option in options.iter_mut().filter_map(Value::as_object_mut) {
            option.remove("description");
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A tool's wrapped description and its parameters' are joined into one line each (a list
    /// keeps its breaks); `$schema`, a flag's `default: false`, a list's `default: []` and an
    /// unsigned integer's `minimum: 0` are gone; every other default and bound stays.
    #[test]
    fn compact_joins_wrapped_lines_and_drops_implied_defaults() {
        let input = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "force": {"type": "boolean", "default": false, "description": "Change it even if\nsomeone holds it."},
                "claim": {"type": "boolean", "default": true},
                "add": {"type": "array", "items": {"type": "string"}, "default": []},
                "themes": {"type": "array", "items": {"type": "string"}, "default": ["a"]},
                "limit": {"type": "integer", "minimum": 0, "description": "Default 100,\nmax 1000."},
                "priority": {"type": "integer", "minimum": 1},
                "lease": {"type": "number", "minimum": 0},
                "description": {"type": "string", "description": "Kinds:\n- one\n- two\n\nSecond\nparagraph."},
                "tags": {"type": "array", "items": {"type": "string", "description": "A\ntag."}}
            }
        });
        let Value::Object(input) = input else { unreachable!() };
        let mut tool = rmcp::model::Tool::new("t", "Does a thing and\nreturns it.", Arc::new(input));
        compact(&mut tool);
        assert_eq!(tool.description.as_deref(), Some("Does a thing and returns it."));
        assert_eq!(
            Value::Object((*tool.input_schema).clone()),
            json!({
                "type": "object",
                "properties": {
                    "force": {"type": "boolean", "description": "Change it even if someone holds it."},
                    "claim": {"type": "boolean", "default": true},
                    "add": {"type": "array", "items": {"type": "string"}},
                    "themes": {"type": "array", "items": {"type": "string"}, "default": ["a"]},
                    "limit": {"type": "integer", "description": "Default 100, max 1000."},
                    "priority": {"type": "integer", "minimum": 1},
                    "lease": {"type": "number", "minimum": 0},
                    "description": {"type": "string", "description": "Kinds:\n- one\n- two\n\nSecond paragraph."},
                    "tags": {"type": "array", "items": {"type": "string", "description": "A tag."}}
                }
            })
        );
    }

    /// Lifecycle of a thing (the type's doc, which a field without its own would inherit).
    #[derive(schemars::JsonSchema)]
    #[schemars(inline)]
    #[allow(dead_code)]
    enum Phase {
        Open,
        Shut,
    }

    #[derive(schemars::JsonSchema)]
    #[schemars(transform = without_nulls)]
    #[allow(dead_code)]
    struct Params {
        #[schemars(transform = undescribed)]
        bare: Option<Phase>,
        #[schemars(transform = undescribed)]
        required: Phase,
        inherited: Option<Phase>,
        /// Its own words.
        described: Option<Phase>,
    }

    /// `undescribed` leaves a parameter its name, type and values, without the words of its
    /// type's doc comment; other parameters keep theirs.
    #[test]
    fn undescribed_drops_the_type_doc() {
        let schema = schemars::schema_for!(Params);
        let properties = &schema.as_value()["properties"];
        let plain = json!({"type": "string", "enum": ["Open", "Shut"]});
        assert_eq!(properties["bare"], plain);
        assert_eq!(properties["required"], plain);
        assert_eq!(
            properties["inherited"]["description"],
            "Lifecycle of a thing (the type's doc, which a field without its own would inherit)."
        );
        assert_eq!(properties["described"]["description"], "Its own words.");
    }
}
