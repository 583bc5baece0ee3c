//! WorkflowExecution admission webhook (DESIGN §5): spec validation, authenticated block
//! clearance and status ownership, served over TLS with hot-reloaded certificates.

pub mod authorizer;
mod base64_text;
mod byte_word;
pub mod clearance;
mod deadline;
mod decode;
pub mod denial;
mod json_text;
pub mod json_view;
pub mod metrics;
mod object_json;
pub mod object_view;
pub mod ownership;
pub mod provenance_policy;
pub mod registration;
mod request_fields;
pub mod response;
pub mod review;
pub mod scan;
pub mod server;
pub mod settings;
mod spec_read;
pub mod spec_review;
mod uid_salvage;

#[cfg(test)]
mod test_fixtures;

pub use authorizer::{Authorization, AuthorizationRequest, Authorizer, SubjectAccessReviewer};
pub use denial::{ClearanceDenial, ClearanceStep, DenialSink};
pub use metrics::Metrics;
pub use provenance_policy::{ProvenancePolicyOptions, provenance_policy, provenance_policy_yaml};
pub use registration::{
    ClientTarget, WebhookConfigOptions, webhook_configurations, webhook_configurations_yaml,
};
pub use server::{AppState, MUTATE_STATUS_PATH, VALIDATE_PATH, VALIDATE_STATUS_PATH, router};
pub use settings::Settings;
pub use wfe_api::clock::{Clock, FixedClock, SystemClock};
pub use wfe_api::identity::UserInfo;
/// TLS serving lives in `wfe_certs`; re-exported for the webhook's callers.
pub use wfe_certs::serve::{ServeError, ServeOptions, serve_tls, serve_tls_with};
