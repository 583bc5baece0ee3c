//! WorkflowExecution reconciler (DESIGN §4): a pure decision core, the Tekton mapping, and the
//! executor that runs it against the API server.

pub mod api_calls;
pub mod audit_due;
pub mod cached;
pub mod conditions;
pub mod decision;
pub mod error;
pub mod executor;
pub mod history;
pub mod index;
pub mod metrics;
pub mod neighbour;
pub mod reconnect;
pub mod runner;
pub mod settings;
pub mod succeeded;
pub mod tekton;

pub use api_calls::{API_CALLS, ApiCall};
pub use error::Error;
pub use metrics::Metrics;
pub use runner::{check_tekton, run};
pub use settings::{BackoffSettings, Settings};
