//! Loading the captured AdmissionReview fixtures in unit tests. Requests borrow from their body;
//! tests leak the (small) bodies so that a request can be passed around like an owned value.

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

/// Parses a body kept alive for the rest of the test process.
pub fn parse_leaked(body: Vec<u8>) -> ReviewRequest<'static> {
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    parse_review(body).unwrap_or_else(|e| panic!("body does not parse: {e}"))
}

pub fn review(name: &str) -> ReviewRequest<'static> {
    parse_leaked(raw(name))
}

/// Fixture `name` with its `request` edited as JSON first.
pub fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> ReviewRequest<'static> {
    let mut doc: Value = serde_json::from_slice(&raw(name)).expect("fixture is JSON");
    edit(&mut doc["request"]);
    parse_leaked(serde_json::to_vec(&doc).expect("json"))
}

/// Mutable access to `request.object.status` (created if missing).
pub fn new_status(request: &mut Value) -> &mut serde_json::Map<String, Value> {
    status_of(&mut request["object"])
}

/// Mutable access to `request.oldObject.status` (created if missing).
pub fn old_status(request: &mut Value) -> &mut serde_json::Map<String, Value> {
    status_of(&mut request["oldObject"])
}

fn status_of(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    let map = object.as_object_mut().expect("object");
    map.entry("status")
        .or_insert_with(|| Value::Object(Default::default()))
        .as_object_mut()
        .expect("status object")
}
