//! Reading a spec's [`SpecView`] straight from the request text, for the create rule: no tree,
//! no allocation for a string without escapes, nothing of the object but `spec` (DESIGN §10).
//!
//! Only a spec that decodes cleanly is read here: any shape serde would refuse, and anything
//! this reader does not expect (an unknown or repeated member, a null where a value is
//! required), gives `None`, and the caller decodes the whole object as before, so every
//! refusal keeps its exact message and field path.

use std::borrow::Cow;

use wfe_api::SpecView;

use crate::json_view::string_of;
use crate::scan::{ObjectWalk, Raw};

/// The members of `spec` (one bit each, to find repeats and missing required ones).
#[derive(Clone, Copy)]
enum Member {
    RemediationRequestRef,
    WorkflowRef,
    TargetResource,
    Parameters,
    Confidence,
    Rationale,
    ExecutionConfig,
}

const REQUIRED: u8 = (1 << Member::RemediationRequestRef as u8)
    | (1 << Member::WorkflowRef as u8)
    | (1 << Member::TargetResource as u8);

/// The spec's view, or `None` when it is not a spec that decodes cleanly.
pub(crate) fn read_spec(raw: Raw<'_>) -> Option<SpecView<'_>> {
    let mut walk = ObjectWalk::document(raw.get())?;
    let mut view = SpecView::default();
    let mut seen = Seen::default();
    while let Some(key) = walk.next_key().ok()? {
        let member = match &*key {
            "remediationRequestRef" => Member::RemediationRequestRef,
            "workflowRef" => Member::WorkflowRef,
            "targetResource" => Member::TargetResource,
            "parameters" => Member::Parameters,
            "confidence" => Member::Confidence,
            "rationale" => Member::Rationale,
            "executionConfig" => Member::ExecutionConfig,
            _ => return None,
        };
        seen.first(member as u8)?;
        match member {
            Member::RemediationRequestRef => nested(&mut walk, |w| remediation_ref(w, &mut view))?,
            Member::WorkflowRef => nested(&mut walk, |w| workflow_ref(w, &mut view))?,
            Member::TargetResource => view.target_resource = text(walk.skip_value().ok()?)?,
            Member::Parameters => nested(&mut walk, |w| parameters(w, &mut view))?,
            Member::Confidence => {
                // serde_json's own number reading, so the value is the one a decode gives.
                view.confidence = serde_json::from_str(walk.skip_value().ok()?.get()).ok()?;
            }
            Member::Rationale => view.rationale = optional_text(walk.skip_value().ok()?)?,
            Member::ExecutionConfig => match walk.enter() {
                Some(_) => nested(&mut walk, |w| execution_config(w, &mut view))?,
                // Only null reads as absent; anything else is for the full decode to refuse.
                None => walk.skip_value().ok()?.is_null().then_some(())?,
            },
        }
    }
    seen.has_all(REQUIRED)?;
    Some(view)
}

/// Members met so far, one bit each.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    /// Marks `bit`; `None` if it was already met (serde refuses a repeated field).
    fn first(&mut self, bit: u8) -> Option<()> {
        let mask = 1 << bit;
        (self.0 & mask == 0).then(|| self.0 |= mask)
    }

    /// `None` unless every bit of `required` was met.
    fn has_all(&self, required: u8) -> Option<()> {
        (self.0 & required == required).then_some(())
    }
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

/// A required string.
fn text(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    string_of(raw).ok()
}

/// An optional string: null reads as absent, as `Option` decodes it.
fn optional_text(raw: Raw<'_>) -> Option<Option<Cow<'_, str>>> {
    if raw.is_null() {
        Some(None)
    } else {
        text(raw).map(Some)
    }
}

fn remediation_ref<'a>(walk: &mut ObjectWalk<'a>, view: &mut SpecView<'a>) -> Option<()> {
    let mut seen = Seen::default();
    while let Some(key) = walk.next_key().ok()? {
        let bit = match &*key {
            "name" => 0,
            "apiVersion" => 1,
            "kind" => 2,
            "namespace" => 3,
            "uid" => 4,
            _ => return None,
        };
        seen.first(bit)?;
        let value = walk.skip_value().ok()?;
        if bit == 0 {
            view.remediation_request_name = text(value)?;
        } else {
            // Not read by any rule, but decoded as strictly as a decode would.
            optional_text(value)?;
        }
    }
    seen.has_all(1)
}

fn workflow_ref<'a>(walk: &mut ObjectWalk<'a>, view: &mut SpecView<'a>) -> Option<()> {
    let mut seen = Seen::default();
    while let Some(key) = walk.next_key().ok()? {
        let bit = match &*key {
            "workflowId" => 0,
            "version" => 1,
            "containerImage" => 2,
            "containerDigest" => 3,
            _ => return None,
        };
        seen.first(bit)?;
        let value = walk.skip_value().ok()?;
        match bit {
            0 => view.workflow_id = text(value)?,
            1 => view.version = text(value)?,
            2 => view.container_image = text(value)?,
            _ => view.container_digest = optional_text(value)?,
        }
    }
    seen.has_all(0b111)
}

fn parameters<'a>(walk: &mut ObjectWalk<'a>, view: &mut SpecView<'a>) -> Option<()> {
    let mut pairs = Vec::new();
    while let Some(name) = walk.next_key().ok()? {
        // The walk finds a name's end without judging its bytes; serde_json refuses a raw
        // control character in one (and an escaped one is rare enough to leave to it too).
        if name.bytes().any(|b| b < 0x20) {
            return None;
        }
        pairs.push((name, text(walk.skip_value().ok()?)?));
    }
    view.set_parameters(pairs);
    Some(())
}

fn execution_config<'a>(walk: &mut ObjectWalk<'a>, view: &mut SpecView<'a>) -> Option<()> {
    let mut seen = Seen::default();
    while let Some(key) = walk.next_key().ok()? {
        let bit = match &*key {
            "timeout" => 0,
            "serviceAccountName" => 1,
            _ => return None,
        };
        seen.first(bit)?;
        let value = optional_text(walk.skip_value().ok()?)?;
        if bit == 0 {
            view.timeout = value;
        } else {
            view.service_account_name = value;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests;
