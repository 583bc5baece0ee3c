//! The executor against a mocked API server (tower-test), in the style of kube-rs
//! controller-rs's `ApiServerVerifier`: every request's method, path and body is asserted in
//! order and answered; an unexpected extra request hangs the reconcile and fails the test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Method, Request, Response};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::DynamicObject;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};
use wfe_api::{AuditEventType, Phase, WorkflowExecution, keys, naming};
use wfe_audit::{AuditError, AuditTrail};
use wfe_controller::audit_due::{due_events, record_delivery, set_audit_condition};
use wfe_controller::cached::CachedWfe;
use wfe_controller::decision::{Step, World, decide};
use wfe_controller::executor::{Context, RUNNING_RESYNC, is_quiet, reconcile, reconcile_cached};
use wfe_controller::index::TargetIndex;
use wfe_controller::runner::cache_event;
use wfe_controller::tekton::{self, RunView};
use wfe_controller::{Metrics, Settings};

mod fixtures;
mod harness;

mod audit;
mod cache;
mod clearance;
mod deletion;
mod lock;
mod run;

use fixtures::*;
use harness::*;
