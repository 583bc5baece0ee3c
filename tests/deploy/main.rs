//! Checks of `deploy/`, the Dockerfile-free parts of the install story and the kind workflow:
//! RBAC equals the process's API calls, the overlays render with `kubectl kustomize` (when kubectl
//! is on PATH), no service overlay owns the CRD or a namespace (so uninstalling never deletes the
//! evidence), the base webhook configurations equal the binary's `webhook-config` output, the
//! shipped config is accepted by the binary, and every command of the CI workflow is also given
//! to a person in the docs. Alerts and the dashboard are checked in tests/monitoring.rs.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../support/mod.rs"]
mod support;

use serde_json::Value;
use support::{kubectl_available, kustomize, yaml_documents};

mod common;

mod deployment;
mod overlays;
mod rbac;
mod workflow;

use common::*;
