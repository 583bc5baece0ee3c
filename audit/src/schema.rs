//! Validation of events against DataStorage's OpenAPI 3.0 `AuditEventRequest` schema.
//!
//! A small validator for exactly the JSON-Schema subset that OpenAPI 3.0 document uses, rather than
//! a general JSON-Schema crate, because OpenAPI 3.0 is not JSON Schema: `nullable` replaces
//! `type: [.., null]`, `$ref` siblings are ignored, and `oneOf` with a `discriminator` selects the
//! payload schema by the discriminator value (the ~90 payload schemas would otherwise overlap).
//! Loading fails if any schema reachable from `AuditEventRequest` uses a keyword this validator
//! does not implement, so a schema update can never be silently half-checked.

use std::collections::{BTreeSet, HashMap};

use regex::Regex;
use serde_json::{Map, Value};

/// The DataStorage OpenAPI document embedded at build time (see build.rs), if one was available.
#[cfg(wfe_embedded_schema)]
pub const EMBEDDED_OPENAPI: Option<&str> = Some(include_str!(concat!(
    env!("OUT_DIR"),
    "/datastorage-openapi.yaml"
)));
/// The DataStorage OpenAPI document embedded at build time (see build.rs), if one was available.
#[cfg(not(wfe_embedded_schema))]
pub const EMBEDDED_OPENAPI: Option<&str> = None;

/// Name of the request schema in `components.schemas`.
pub const AUDIT_EVENT_REQUEST: &str = "AuditEventRequest";

const REF_PREFIX: &str = "#/components/schemas/";

/// Keywords this validator enforces.
const ENFORCED: &[&str] = &[
    "$ref",
    "type",
    "nullable",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "oneOf",
    "anyOf",
    "allOf",
    "discriminator",
];

/// Keywords that only annotate and never constrain a value.
const ANNOTATIONS: &[&str] = &[
    "description",
    "example",
    "examples",
    "default",
    "deprecated",
    "title",
    "readOnly",
    "writeOnly",
    "externalDocs",
];

/// Formats that only describe a number's width; any number of the declared type is accepted.
const NUMERIC_FORMATS: &[&str] = &["int32", "int64", "float", "double"];

/// The only part of an OpenAPI document the validator reads.
#[derive(serde::Deserialize)]
struct OpenApiDoc {
    components: Option<OpenApiComponents>,
}

/// `components` of an OpenAPI document.
#[derive(serde::Deserialize)]
struct OpenApiComponents {
    schemas: Option<Value>,
}

/// Why the OpenAPI document cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaLoadError {
    /// Not parseable YAML/JSON.
    #[error("audit schema is not valid YAML: {0}")]
    Parse(#[from] serde_saphyr::Error),
    /// Structure is not an OpenAPI document with the expected schema.
    #[error("audit schema: {0}")]
    Structure(String),
    /// A schema uses a keyword the validator cannot enforce.
    #[error(
        "audit schema: {schema} uses keyword {keyword:?}, which this validator does not enforce"
    )]
    UnsupportedKeyword {
        /// Component schema name.
        schema: String,
        /// The keyword.
        keyword: String,
    },
    /// A `$ref` or discriminator mapping points nowhere.
    #[error("audit schema: unresolvable reference {0:?}")]
    UnresolvedRef(String),
    /// A `pattern` is not a valid regular expression.
    #[error("audit schema: invalid pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// The regex error.
        message: String,
    },
    /// A `format` the validator does not know how to check.
    #[error("audit schema: {schema} uses format {format:?}, which this validator does not check")]
    UnsupportedFormat {
        /// Component schema name.
        schema: String,
        /// The format.
        format: String,
    },
}

/// One way an instance fails the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Dotted path into the instance (`event_data.phase`, `parameters.KEY`, `[3]`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "<event>"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// All the ways an instance fails the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event does not match DataStorage AuditEventRequest: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SchemaViolations(pub Vec<SchemaViolation>);

/// The loaded `AuditEventRequest` schema with everything it references.
#[derive(Debug)]
pub struct AuditSchema {
    schemas: Map<String, Value>,
    patterns: HashMap<String, Regex>,
    uuid: Regex,
}

impl AuditSchema {
    /// Loads the DataStorage schema embedded at build time.
    pub fn embedded() -> Result<Self, SchemaLoadError> {
        match EMBEDDED_OPENAPI {
            Some(text) => Self::from_openapi(text),
            None => Err(SchemaLoadError::Structure(
                "no DataStorage OpenAPI document was embedded at build time: set audit.schemaFile \
                 (or build with WFE_DATASTORAGE_OPENAPI=<path>)"
                    .into(),
            )),
        }
    }

    /// Loads an OpenAPI 3.0 document (YAML or JSON) and checks that `AuditEventRequest` and every
    /// schema it references can be fully enforced.
    pub fn from_openapi(text: &str) -> Result<Self, SchemaLoadError> {
        // Only the schemas are read: other parts (e.g. response codes) use non-string keys, and
        // YAML 1.1 booleans (`no`, `on`) must stay strings inside schema values.
        let doc: OpenApiDoc = serde_saphyr::from_str_with_options(
            text,
            serde_saphyr::options! { strict_booleans: true },
        )?;
        let schemas = doc
            .components
            .and_then(|c| c.schemas)
            .ok_or_else(|| SchemaLoadError::Structure("components.schemas is missing".into()))?;
        let Value::Object(schemas) = schemas else {
            return Err(SchemaLoadError::Structure(
                "components.schemas is not a map".into(),
            ));
        };
        if !schemas.contains_key(AUDIT_EVENT_REQUEST) {
            return Err(SchemaLoadError::Structure(format!(
                "components.schemas.{AUDIT_EVENT_REQUEST} is missing"
            )));
        }
        let uuid = Regex::new(
            r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        )
        .map_err(|e| SchemaLoadError::Pattern {
            pattern: "uuid".into(),
            message: e.to_string(),
        })?;
        let mut schema = AuditSchema {
            schemas,
            patterns: HashMap::new(),
            uuid,
        };
        schema.check_reachable()?;
        Ok(schema)
    }

    /// Walks every schema reachable from `AuditEventRequest`, rejecting what cannot be enforced
    /// and compiling patterns once.
    fn check_reachable(&mut self) -> Result<(), SchemaLoadError> {
        let mut seen = BTreeSet::new();
        let mut queue = vec![AUDIT_EVENT_REQUEST.to_owned()];
        let mut patterns = Vec::new();
        while let Some(name) = queue.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let schema = self
                .schemas
                .get(&name)
                .ok_or_else(|| SchemaLoadError::UnresolvedRef(name.clone()))?;
            check_schema(&name, schema, &mut queue, &mut patterns)?;
        }
        for pattern in patterns {
            let re = Regex::new(&pattern).map_err(|e| SchemaLoadError::Pattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            self.patterns.insert(pattern, re);
        }
        Ok(())
    }

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

fn has_composition(schema: &Map<String, Value>) -> bool {
    ["oneOf", "anyOf", "allOf"]
        .iter()
        .any(|k| schema.contains_key(*k))
}

fn validate_number(
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

fn type_matches(ty: &str, value: &Value) -> bool {
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

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// RFC 3339 `date-time`: full date, `T`/`t`/space, time, and a `Z` or numeric offset.
fn is_rfc3339(s: &str) -> bool {
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

/// Load-time check of one component schema (recursing into inline subschemas).
fn check_schema(
    name: &str,
    schema: &Value,
    queue: &mut Vec<String>,
    patterns: &mut Vec<String>,
) -> Result<(), SchemaLoadError> {
    let Some(map) = schema.as_object() else {
        // `additionalProperties: true` and the like.
        return if schema.is_boolean() {
            Ok(())
        } else {
            Err(SchemaLoadError::Structure(format!(
                "{name}: a schema must be an object"
            )))
        };
    };
    for (keyword, value) in map {
        if keyword.starts_with("x-") || ANNOTATIONS.contains(&keyword.as_str()) {
            continue;
        }
        if !ENFORCED.contains(&keyword.as_str()) {
            return Err(SchemaLoadError::UnsupportedKeyword {
                schema: name.into(),
                keyword: keyword.clone(),
            });
        }
        match keyword.as_str() {
            "$ref" => enqueue(queue, value.as_str().unwrap_or_default())?,
            "properties" => {
                for sub in value.as_object().into_iter().flat_map(|m| m.values()) {
                    check_schema(name, sub, queue, patterns)?;
                }
            }
            "items" | "additionalProperties" => check_schema(name, value, queue, patterns)?,
            "oneOf" | "anyOf" | "allOf" => {
                for sub in value.as_array().into_iter().flatten() {
                    check_schema(name, sub, queue, patterns)?;
                }
            }
            "discriminator" => {
                for target in value
                    .get("mapping")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    enqueue(queue, target.as_str().unwrap_or_default())?;
                }
            }
            "pattern" => patterns.push(value.as_str().unwrap_or_default().to_owned()),
            "format" => {
                let format = value.as_str().unwrap_or_default();
                let checked =
                    matches!(format, "date-time" | "uuid") || NUMERIC_FORMATS.contains(&format);
                if !checked {
                    return Err(SchemaLoadError::UnsupportedFormat {
                        schema: name.into(),
                        format: format.into(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn enqueue(queue: &mut Vec<String>, reference: &str) -> Result<(), SchemaLoadError> {
    let target = reference
        .strip_prefix(REF_PREFIX)
        .ok_or_else(|| SchemaLoadError::UnresolvedRef(reference.into()))?;
    queue.push(target.to_owned());
    Ok(())
}
