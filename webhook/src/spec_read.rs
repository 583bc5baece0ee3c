//! Reading a spec's [`SpecView`] straight from the request text, for the create rule: no tree,
//! no allocation for a string without escapes, nothing of the object but `spec` (DESIGN §10).
//!
//! Only a spec that decodes cleanly is read here: any shape serde would refuse, and anything
//! this reader does not expect (an unknown or repeated member, a null where a value is
//! required), gives `None`, and the caller decodes the whole object as before, so every
//! refusal keeps its exact message and field path.

use std::borrow::Cow;

use wfe_api::SpecView;

use crate::json_view::{optional_string_of, string_of};
use crate::scan::{ObjectWalk, Raw};

/// The members of `spec`, in the order the reader numbers them; the first three are required.
const SPEC: [&str; 7] = [
    "remediationRequestRef",
    "workflowRef",
    "targetResource",
    "parameters",
    "confidence",
    "rationale",
    "executionConfig",
];

/// The spec's view, or `None` when it is not a spec that decodes cleanly.
pub(crate) fn read_spec(raw: Raw<'_>) -> Option<SpecView<'_>> {
    let mut walk = ObjectWalk::document(raw.get())?;
    let mut view = SpecView::default();
    walk.each_member(&SPEC, 0b111, |member, walk| {
        match member {
            0 => nested(walk, |w| remediation_ref(w, &mut view))?,
            1 => nested(walk, |w| workflow_ref(w, &mut view))?,
            2 => view.target_resource = text(walk)?,
            3 => nested(walk, |w| parameters(w, &mut view))?,
            // serde_json's own number reading, so the value is the one a decode gives.
            4 => view.confidence = serde_json::from_str(walk.skip_value().ok()?.get()).ok()?,
            5 => view.rationale = optional_text(walk)?,
            _ => match walk.enter() {
                Some(_) => nested(walk, |w| execution_config(w, &mut view))?,
                // Only null reads as absent; anything else is for the full decode to refuse.
                None => walk.skip_value().ok()?.is_null().then_some(())?,
            },
        }
        Some(())
    })?;
    Some(view)
}

/// Reads the object at the walk's current value with `read`, then goes on after it.
fn nested<'a>(
    walk: &mut ObjectWalk<'a>,
    read: impl FnOnce(&mut ObjectWalk<'a>) -> Option<()>,
) -> Option<()> {
    let mut inner = walk.enter()?;
    read(&mut inner)?;
    walk.resume(&inner).ok()
}

/// The current value as a required string.
fn text<'a>(walk: &mut ObjectWalk<'a>) -> Option<Cow<'a, str>> {
    string_of(walk.skip_value().ok()?).ok()
}

/// The current value as an optional string: null reads as absent, as `Option` decodes it.
fn optional_text<'a>(walk: &mut ObjectWalk<'a>) -> Option<Option<Cow<'a, str>>> {
    optional_string_of(walk.skip_value().ok()?).ok()
}

fn remediation_ref<'a>(walk: &mut ObjectWalk<'a>, view: &mut SpecView<'a>) -> Option<()> {
    let names = ["name", "apiVersion", "kind", "namespace", "uid"];
    walk.each_member(&names, 0b1, |member, walk| {
        if member == 0 {
            view.remediation_request_name = text(walk)?;
        } else {
            // Not read by any rule, but decoded as strictly as a decode would.
            optional_text(walk)?;
        }
        Some(())
    })
}

fn workflow_ref<'a>(walk: &mut ObjectWalk<'a>, view: &mut SpecView<'a>) -> Option<()> {
    let names = ["workflowId", "version", "containerImage", "containerDigest"];
    walk.each_member(&names, 0b111, |member, walk| {
        match member {
            0 => view.workflow_id = text(walk)?,
            1 => view.version = text(walk)?,
            2 => view.container_image = text(walk)?,
            _ => view.container_digest = optional_text(walk)?,
        }
        Some(())
    })
}

fn parameters<'a>(walk: &mut ObjectWalk<'a>, view: &mut SpecView<'a>) -> Option<()> {
    let mut pairs = Vec::new();
    while let Some(name) = walk.next_key().ok()? {
        // The walk finds a name's end without judging its bytes; serde_json refuses a raw
        // control character in one (and an escaped one is rare enough to leave to it too).
        if name.bytes().any(|b| b < 0x20) {
            return None;
        }
        pairs.push((name, text(walk)?));
    }
    view.set_parameters(pairs);
    Some(())
}

fn execution_config<'a>(walk: &mut ObjectWalk<'a>, view: &mut SpecView<'a>) -> Option<()> {
    let names = ["timeout", "serviceAccountName"];
    walk.each_member(&names, 0, |member, walk| {
        let value = optional_text(walk)?;
        if member == 0 {
            view.timeout = value;
        } else {
            view.service_account_name = value;
        }
        Some(())
    })
}

#[cfg(test)]
mod tests;
