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
}

fn has_composition(schema: &Map<String, Value>) -> bool {
    ["oneOf", "anyOf", "allOf"]
        .iter()
        .any(|k| schema.contains_key(*k))
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

mod validate;
