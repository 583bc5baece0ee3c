//! WorkflowExecution reconciler (DESIGN §4): a pure decision core, the Tekton mapping, and the
//! executor that runs it against the API server.

pub mod audit_due;
pub mod conditions;
pub mod decision;
pub mod history;
pub mod metrics;
pub mod settings;
pub mod tekton;

pub use metrics::Metrics;
pub use settings::{BackoffSettings, Settings};
