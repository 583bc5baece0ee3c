//! Loading the captured AdmissionReview fixtures in unit tests.

use serde_json::Value;

use crate::review::{ReviewRequest, parse_review};

pub const ALICE_05: &str = "05-alice-status-clearance-request-mutate.json";
pub const REASON: &str =
    "Root cause fixed in payment-api v2.3.1, memory limit raised and verified healthy for one hour";

pub fn raw(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../shared/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub fn review(name: &str) -> ReviewRequest {
    parse_review(&raw(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Mutable access to `object.status` (created if missing).
pub fn new_status(req: &mut ReviewRequest) -> &mut serde_json::Map<String, Value> {
    status_of(req.object.as_mut().expect("object"))
}

/// Mutable access to `oldObject.status` (created if missing).
pub fn old_status(req: &mut ReviewRequest) -> &mut serde_json::Map<String, Value> {
    status_of(req.old_object.as_mut().expect("oldObject"))
}

fn status_of(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    let map = object.as_object_mut().expect("object");
    map.entry("status")
        .or_insert_with(|| Value::Object(Default::default()))
        .as_object_mut()
        .expect("status object")
}
