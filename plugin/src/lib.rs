//! `kubectl wfe`, the operator's plugin for Kubernaut WorkflowExecutions (DESIGN §7): pure
//! functions from fetched objects to rows and paragraphs, and a thin shell that fetches them.
//! Block rules come from `wfe_api::block`; nothing here re-derives them.

pub mod blocked;
pub mod clear;
pub mod cli;
pub mod command;
pub mod connect;
pub mod error;
#[cfg(test)]
mod fixtures;
pub mod history;
pub mod render;
pub mod why;

pub use command::{Printed, execute, policy};
pub use error::PluginError;
