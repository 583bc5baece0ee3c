//! Checking one event against the loaded schema: every violation with its JSON path.

use super::*;

impl AuditSchema {
    /// Validates an event (as JSON) against `AuditEventRequest`, plus the rule the payload schemas
    /// state in prose: `event_data.event_type` matches the parent `event_type`.
    pub fn validate_event(&self, event: &Value) -> Result<(), SchemaViolations> {
        let mut violations = Vec::new();
        let root = Value::String(format!("{REF_PREFIX}{AUDIT_EVENT_REQUEST}"));
        let root = Value::Object(Map::from_iter([("$ref".to_owned(), root)]));
        self.validate(&root, event, "", &mut violations);
        let parent = event.get("event_type").and_then(Value::as_str);
        let payload = event
            .get("event_data")
            .and_then(|d| d.get("event_type"))
            .and_then(Value::as_str);
        if let (Some(parent), Some(payload)) = (parent, payload)
            && parent != payload
        {
            violations.push(SchemaViolation {
                path: "event_data.event_type".into(),
                message: format!("{payload:?} does not match the parent event_type {parent:?}"),
            });
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(SchemaViolations(violations))
        }
    }

    fn resolve<'s>(&'s self, reference: &str) -> Option<&'s Value> {
        reference
            .strip_prefix(REF_PREFIX)
            .and_then(|name| self.schemas.get(name))
    }

    fn validate(&self, schema: &Value, value: &Value, path: &str, out: &mut Vec<SchemaViolation>) {
        let Some(schema) = schema.as_object() else {
            return;
        };
        let mut fail = |message: String| {
            out.push(SchemaViolation {
                path: path.to_owned(),
                message,
            })
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            // OpenAPI 3.0: siblings of $ref are ignored.
            match self.resolve(reference) {
                Some(target) => self.validate(target, value, path, out),
                None => fail(format!("schema reference {reference:?} cannot be resolved")),
            }
            return;
        }
        let nullable = schema
            .get("nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if value.is_null() {
            if nullable || schema.get("type").is_none() && !has_composition(schema) {
                return;
            }
            if schema.get("type").is_some() {
                fail("must not be null".into());
                return;
            }
        }
        if let Some(ty) = schema.get("type").and_then(Value::as_str)
            && !type_matches(ty, value)
        {
            fail(format!("must be of type {ty}, got {}", kind(value)));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            fail(format!("{value} is not one of [{}]", list.join(", ")));
        }
        match value {
            Value::String(s) => self.validate_string(schema, s, &mut fail),
            Value::Number(n) => validate_number(schema, n, &mut fail),
            Value::Array(items) => {
                let len = items.len() as u64;
                if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                    && len < min
                {
                    fail(format!("must have at least {min} items"));
                }
                if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                    && len > max
                {
                    fail(format!("must have at most {max} items"));
                }
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.validate(item_schema, item, &format!("{path}[{i}]"), out);
                    }
                }
            }
            Value::Object(map) => self.validate_object(schema, map, path, out),
            Value::Null | Value::Bool(_) => {}
        }
        self.validate_composition(schema, value, path, out);
    }

    fn validate_string(&self, schema: &Map<String, Value>, s: &str, fail: &mut impl FnMut(String)) {
        let chars = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            fail(format!("must be at least {min} characters, got {chars}"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            fail(format!("must be at most {max} characters, got {chars}"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Some(re) = self.patterns.get(pattern)
            && !re.is_match(s)
        {
            fail(format!("{s:?} does not match pattern {pattern:?}"));
        }
        match schema.get("format").and_then(Value::as_str) {
            Some("date-time") if !is_rfc3339(s) => {
                fail(format!("{s:?} is not an RFC 3339 date-time"))
            }
            Some("uuid") if !self.uuid.is_match(s) => fail(format!("{s:?} is not a UUID")),
            _ => {}
        }
    }

    fn validate_object(
        &self,
        schema: &Map<String, Value>,
        map: &Map<String, Value>,
        path: &str,
        out: &mut Vec<SchemaViolation>,
    ) {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for field in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(field) {
                    out.push(SchemaViolation {
                        path: join(path, field),
                        message: "is required".into(),
                    });
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in map {
            match properties.and_then(|p| p.get(key)) {
                Some(prop_schema) => self.validate(prop_schema, item, &join(path, key), out),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => out.push(SchemaViolation {
                        path: join(path, key),
                        message: "is not an allowed property".into(),
                    }),
                    Some(extra @ Value::Object(_)) => {
                        self.validate(extra, item, &join(path, key), out)
                    }
                    _ => {}
                },
            }
        }
    }

    fn validate_composition(
        &self,
        schema: &Map<String, Value>,
        value: &Value,
        path: &str,
        out: &mut Vec<SchemaViolation>,
    ) {
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.validate(sub, value, path, out);
            }
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
            && !any.iter().any(|sub| self.passes(sub, value, path))
        {
            out.push(SchemaViolation {
                path: path.to_owned(),
                message: "matches none of the anyOf schemas".into(),
            });
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            match schema.get("discriminator") {
                Some(discriminator) => self.validate_discriminated(discriminator, value, path, out),
                None => {
                    let matching = one
                        .iter()
                        .filter(|sub| self.passes(sub, value, path))
                        .count();
                    if matching != 1 {
                        out.push(SchemaViolation {
                            path: path.to_owned(),
                            message: format!(
                                "must match exactly one oneOf schema, matches {matching}"
                            ),
                        });
                    }
                }
            }
        }
    }

    /// OpenAPI discriminator: the value of `propertyName` picks the one schema to validate against
    /// (via `mapping`, else by component name).
    fn validate_discriminated(
        &self,
        discriminator: &Value,
        value: &Value,
        path: &str,
        out: &mut Vec<SchemaViolation>,
    ) {
        let Some(property) = discriminator.get("propertyName").and_then(Value::as_str) else {
            return;
        };
        let Some(tag) = value.get(property).and_then(Value::as_str) else {
            out.push(SchemaViolation {
                path: join(path, property),
                message: "is required (it selects the payload schema)".into(),
            });
            return;
        };
        let target = discriminator
            .get("mapping")
            .and_then(|m| m.get(tag))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                self.schemas
                    .contains_key(tag)
                    .then(|| format!("{REF_PREFIX}{tag}"))
            });
        match target {
            Some(reference) => {
                let sub = Value::Object(Map::from_iter([(
                    "$ref".to_owned(),
                    Value::String(reference),
                )]));
                self.validate(&sub, value, path, out);
            }
            None => out.push(SchemaViolation {
                path: join(path, property),
                message: format!("{tag:?} has no payload schema in the discriminator mapping"),
            }),
        }
    }

    fn passes(&self, schema: &Value, value: &Value, path: &str) -> bool {
        let mut scratch = Vec::new();
        self.validate(schema, value, path, &mut scratch);
        scratch.is_empty()
    }
}

pub(super) fn validate_number(
    schema: &Map<String, Value>,
    n: &serde_json::Number,
    fail: &mut impl FnMut(String),
) {
    let Some(x) = n.as_f64() else { return };
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && x < min
    {
        fail(format!("must be at least {min}, got {n}"));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && x > max
    {
        fail(format!("must be at most {max}, got {n}"));
    }
}

pub(super) fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// RFC 3339 `date-time`: full date, `T`/`t`/space, time, and a `Z` or numeric offset.
pub(super) fn is_rfc3339(s: &str) -> bool {
    let bytes = s.as_bytes();
    let has_offset = s.ends_with('Z') || s.ends_with('z') || {
        let tail = s.len().saturating_sub(6);
        matches!(bytes.get(tail), Some(b'+' | b'-')) && bytes.get(tail + 3) == Some(&b':')
    };
    has_offset
        && bytes.len() >= 20
        && matches!(bytes[10], b'T' | b't' | b' ')
        && s.parse::<jiff::Timestamp>().is_ok()
}
