//! The `workflowexecution` binary's library: CLI, configuration, wiring, health and metrics.

pub mod cli;
pub mod config;
pub mod health;
pub mod identity;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod metrics_auth;
pub mod run;
pub mod service_metrics;
pub mod signals;
pub mod validate;
pub mod wiring;
pub mod yaml;
