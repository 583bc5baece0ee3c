//! Schema pieces that schemars attributes cannot express (bounded maps for CEL cost limits).

use schemars::{Schema, SchemaGenerator, json_schema};

use crate::status::{FailureReason, SkipReason};

/// Maximum number of workflow parameters.
pub const MAX_PARAMETERS: usize = 64;
/// Maximum length of a parameter name.
pub const MAX_PARAMETER_NAME_LEN: usize = 63;
/// Maximum length of a parameter value.
pub const MAX_PARAMETER_VALUE_LEN: usize = 4096;

/// `spec.parameters`: string→string map with bounded size, so CEL cost estimates stay bounded.
pub fn parameters_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": MAX_PARAMETERS,
        "additionalProperties": {"type": "string", "maxLength": MAX_PARAMETER_VALUE_LEN}
    })
}

/// `status.reason`: a flat, nullable string enum, the union of the failure and skip reasons, so
/// the API server rejects any other value.
pub fn phase_reason_schema(_: &mut SchemaGenerator) -> Schema {
    let all: Vec<&str> = FailureReason::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(SkipReason::ALL.iter().map(|r| r.as_str()))
        .collect();
    json_schema!({
        "type": "string",
        "nullable": true,
        "description": "The skip or failure reason, mirrored here for `kubectl get`.",
        "enum": all
    })
}
