//! The part of JSON Schema that hooks' trigger schemas use (`type`,
//! `properties`, `required`, `additionalProperties`, `items`, `minimum`,
//! `maximum`, `enum`), checked the way the hooks service's ajv reports it:
//! every error, joined with `; `, in ajv's `errorsText` wording
//! (`data should have required property 'user'`,
//! `data should NOT have additional properties`, `data.user should be object`).
//!
//! The sandbox's hooks validate only their own fixed schemas, so a small
//! checker is enough; unknown keywords are ignored, as ajv ignores them.

use serde_json::Value;

/// `Ok` when `value` matches `schema`, else ajv's error text.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    check(schema, value, "data", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        _ => true,
    }
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(t) = schema.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|n| type_matches(n, value)) {
            errors.push(format!("{path} should be {}", names.join(",")));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!(
                "{path} should be equal to one of the allowed values"
            ));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                errors.push(format!("{path} should be >= {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                errors.push(format!("{path} should be <= {max}"));
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                errors.push(format!("{path} should have required property '{name}'"));
            }
        }
        for (key, item) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => check(sub, item, &format!("{path}.{key}"), errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{path} should NOT have additional properties"));
                    }
                    Some(sub @ Value::Object(_)) => {
                        check(sub, item, &format!("{path}.{key}"), errors)
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(items, item, &format!("{path}[{i}]"), errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_read_like_ajvs() {
        let schema = json!({
            "type": "object",
            "properties": {
                "decision": {"type": "object"},
                "user": {"type": "object", "properties": {"taskId": {"type": ["string", "null"]}}},
                "times": {"type": "integer", "minimum": 1, "maximum": 100},
            },
            "additionalProperties": false,
            "required": ["decision", "user"],
        });
        let cases: Vec<(Value, Result<(), &str>)> = vec![
            (json!({"decision": {}, "user": {"taskId": null}}), Ok(())),
            (json!({"decision": {}, "user": {"taskId": "abc"}}), Ok(())),
            (
                json!({"decision": {}}),
                Err("data should have required property 'user'"),
            ),
            (
                json!({"decision": {}, "user": {}, "extra": 1}),
                Err("data should NOT have additional properties"),
            ),
            (
                json!({"decision": 1, "user": {}}),
                Err("data.decision should be object"),
            ),
            (
                json!({"decision": {}, "user": {"taskId": 3}}),
                Err("data.user.taskId should be string,null"),
            ),
            (
                json!({"decision": {}, "user": {}, "times": 101}),
                Err("data.times should be <= 100"),
            ),
            (json!([]), Err("data should be object")),
        ];
        for (value, want) in cases {
            assert_eq!(
                validate(&schema, &value),
                want.map_err(str::to_owned),
                "{value}"
            );
        }
    }
}
