//! Controller errors, each with what a user can do about it.

use std::time::Duration;

/// Why a reconcile (or the controller) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("Kubernetes API call `{call}` failed: {source}")]
    Kube {
        /// Which call.
        call: &'static str,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The status write raced with another change; the reconcile is retried on fresh state.
    #[error("status of {0} changed while it was being reconciled; retrying on the fresh object")]
    Conflict(String),
    /// The lock changed hands repeatedly during one reconcile.
    #[error("lock PipelineRun {0} changed hands repeatedly; retrying")]
    LockContended(String),
    /// A PipelineRun could not be built.
    #[error("cannot build the PipelineRun: {0}")]
    Build(#[from] crate::tekton::BuildError),
    /// The object lacks metadata the controller needs.
    #[error("WorkflowExecution has no metadata.{0}")]
    MissingMetadata(&'static str),
    /// Deletion waits for audit events that are not delivered yet.
    #[error(
        "WorkflowExecution {0} is being deleted and still has undelivered audit events; retrying"
    )]
    AuditPending(String),
    /// Adding/removing the finalizer or the wrapped reconcile failed.
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// Tekton is not installed.
    #[error(
        "the API server does not serve tekton.dev/v1 PipelineRuns: install Tekton Pipelines (v0.50 or newer) before starting the controller{0}"
    )]
    TektonMissing(String),
}

/// `kind` of a watched WFE that does not decode (counted by the runner, not a reconcile).
pub const DECODE_KIND: &str = "decode";

impl Error {
    /// Every `kind` label value of `workflowexecution_reconcile_errors_total`.
    pub const KINDS: [&'static str; 9] = [
        "kube",
        "conflict",
        "lock_contended",
        "build",
        "metadata",
        "audit_pending",
        "finalizer",
        "tekton_missing",
        DECODE_KIND,
    ];

    /// Short label for `workflowexecution_reconcile_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Conflict(_) => "conflict",
            Error::LockContended(_) => "lock_contended",
            Error::Build(_) => "build",
            Error::MissingMetadata(_) => "metadata",
            Error::AuditPending(_) => "audit_pending",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.kind(),
                _ => "finalizer",
            },
            Error::TektonMissing(_) => "tekton_missing",
        }
    }

    /// How long to wait before retrying.
    pub fn retry_after(&self) -> Duration {
        match self {
            Error::Conflict(_) | Error::LockContended(_) => Duration::from_secs(1),
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.retry_after(),
                _ => Duration::from_secs(2),
            },
            Error::AuditPending(_) => Duration::from_secs(10),
            _ => Duration::from_secs(15),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::runtime::finalizer::Error as FinalizerError;

    #[test]
    fn every_kind_is_declared() {
        let kube = || kube::Error::Api(Box::new(Status::failure("boom", "InternalError")));
        let errors = [
            Error::Kube {
                call: "get",
                source: kube(),
            },
            Error::Conflict("a".into()),
            Error::LockContended("r".into()),
            Error::Build(crate::tekton::BuildError::Timeout("x".into())),
            Error::MissingMetadata("uid"),
            Error::AuditPending("a".into()),
            Error::Finalizer(Box::new(FinalizerError::RemoveFinalizer(kube()))),
            Error::Finalizer(Box::new(FinalizerError::CleanupFailed(Error::Conflict(
                "a".into(),
            )))),
            Error::TektonMissing(String::new()),
        ];
        for e in &errors {
            assert!(
                Error::KINDS.contains(&e.kind()),
                "{} is not in KINDS",
                e.kind()
            );
        }
        let used: std::collections::BTreeSet<_> = errors.iter().map(Error::kind).collect();
        assert_eq!(
            used.len() + 1,
            Error::KINDS.len(),
            "only decode is not an Error"
        );
    }
}
