//! Tekton (DESIGN §4.4): the PipelineRun we create, what we read back from PipelineRuns and
//! TaskRuns, failure classification and the operator summary. Pure: no I/O here.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, ObjectMeta, TypeMeta};
use serde_json::{Value, json};
use wfe_api::{FailureReason, WorkflowExecution, keys, naming};

use crate::settings::Settings;

mod build;
mod classify;
mod summary;
mod view;

pub use build::*;
pub use classify::*;
pub use summary::*;
pub use view::*;

#[cfg(test)]
mod tests;
