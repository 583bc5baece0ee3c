//! The controller's own username, as the API server reports it in `userInfo`.

use std::path::Path;

use base64::Engine;

/// Where Kubernetes mounts a pod's service account token.
pub const IN_CLUSTER_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Used when nothing else names the controller (matches `deploy/`).
pub const DEFAULT_CONTROLLER_USERNAME: &str = wfe_api::keys::DEFAULT_CONTROLLER_USERNAME;

/// Configured identity, else the `sub` claim of the in-cluster token, else the default.
pub fn controller_username(configured: &str, token_file: &Path) -> String {
    if !configured.trim().is_empty() {
        return configured.trim().to_owned();
    }
    std::fs::read_to_string(token_file)
        .ok()
        .and_then(|t| subject_of_token(&t))
        .unwrap_or_else(|| DEFAULT_CONTROLLER_USERNAME.to_owned())
}

/// The `sub` claim of a service account JWT (`system:serviceaccount:<ns>:<name>`), unverified:
/// it is our own mounted token, read only to learn our name.
pub fn subject_of_token(token: &str) -> Option<String> {
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let sub = claims.get("sub")?.as_str()?;
    sub.starts_with("system:serviceaccount:")
        .then(|| sub.to_owned())
}

/// The username of a service account.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            enc(br#"{"alg":"RS256"}"#),
            enc(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn configured_identity_wins() {
        assert_eq!(controller_username(" me ", Path::new("/nonexistent")), "me");
    }

    #[test]
    fn derived_from_the_mounted_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(
            &path,
            jwt(serde_json::json!({"sub": "system:serviceaccount:ops:wfe"})),
        )
        .unwrap();
        assert_eq!(
            controller_username("", &path),
            "system:serviceaccount:ops:wfe"
        );
    }

    #[test]
    fn falls_back_to_the_default() {
        assert_eq!(
            controller_username("", Path::new("/nonexistent")),
            DEFAULT_CONTROLLER_USERNAME
        );
        assert_eq!(subject_of_token("garbage"), None);
        assert_eq!(
            subject_of_token(&jwt(serde_json::json!({"sub": "alice"}))),
            None
        );
        assert_eq!(
            service_account_username("a", "b"),
            "system:serviceaccount:a:b"
        );
    }
}
