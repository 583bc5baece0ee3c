//! Evidence of refused clearances: logged with the identity and handed to an optional sink.

/// The denial record and its rule live with the block rules (one type for the webhook that
/// refuses and the audit sink that records).
pub use wfe_api::block::{ClearanceDenial, ClearanceStep};

/// Receives refused clearances (the audit crate provides one). Must be cheap and non-blocking.
pub trait DenialSink: Send + Sync {
    /// Records one denial.
    fn record(&self, denial: &ClearanceDenial);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_the_identity_and_context_for_audit() {
        let denial = ClearanceDenial {
            user: "bob".into(),
            user_uid: Some("uid-bob".into()),
            groups: vec!["dev-team".into()],
            extra: Default::default(),
            namespace: "team-a".into(),
            name: "wfe-1".into(),
            request_uid: "r-1".into(),
            dry_run: false,
            step: ClearanceStep::Authorization,
            message: "block clearance denied: no".into(),
            time: "2026-11-22T02:12:00Z".parse().expect("ts"),
        };
        assert_eq!(
            serde_json::to_value(&denial).expect("json"),
            serde_json::json!({
                "user": "bob", "uid": "uid-bob", "groups": ["dev-team"], "namespace": "team-a", "name": "wfe-1",
                "requestUid": "r-1", "dryRun": false, "step": "authorization",
                "message": "block clearance denied: no", "time": "2026-11-22T02:12:00Z"
            })
        );
    }
}
