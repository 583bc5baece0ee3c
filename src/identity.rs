//! The controller's own username, as the API server reports it in `userInfo`: configured, or
//! asked from the API server itself (SelfSubjectReview), never guessed.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};

/// Why the controller's username is unknown; start-up stops rather than guess, because the
/// status webhooks' `matchConditions` and the clearance policy depend on it.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The SelfSubjectReview failed (API server older than 1.28, or unreachable).
    #[error(
        "cannot learn the controller's username from the API server (SelfSubjectReview failed: {0}); set `controllerIdentity` in the config (e.g. system:serviceaccount:<namespace>:<name>)"
    )]
    Review(#[source] kube::Error),
    /// The API server answered without a username.
    #[error(
        "the API server's SelfSubjectReview named no username; set `controllerIdentity` in the config (e.g. system:serviceaccount:<namespace>:<name>)"
    )]
    NoUsername,
}

/// `controllerIdentity` when configured, else the username the API server sees for `client`.
pub async fn controller_username(
    configured: &str,
    client: &kube::Client,
) -> Result<String, IdentityError> {
    if !configured.trim().is_empty() {
        return Ok(configured.trim().to_owned());
    }
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(IdentityError::Review)?;
    review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .filter(|name| !name.trim().is_empty())
        .ok_or(IdentityError::NoUsername)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};
    use tower_test::mock;

    const PATH: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

    /// Asks with a mocked API server that answers the one expected request with `reply`.
    async fn ask(configured: &str, code: u16, reply: Value) -> Result<String, IdentityError> {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await?;
            let (method, path) = (request.method().clone(), request.uri().path().to_owned());
            let body = request.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap();
            send.send_response(
                Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap(),
            );
            Some((method, path, body))
        });
        let result = controller_username(configured, &client).await;
        drop(client);
        let seen = server.await.unwrap();
        if configured.trim().is_empty() {
            let (method, path, body) = seen.expect("a SelfSubjectReview was sent");
            assert_eq!((method.as_str(), path.as_str()), ("POST", PATH));
            assert_eq!(body["kind"], "SelfSubjectReview");
            assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
        } else {
            assert!(seen.is_none(), "a configured identity asks nothing");
        }
        result
    }

    fn review(user_info: Value) -> Value {
        json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null}, "status": {"userInfo": user_info}})
    }

    #[tokio::test]
    async fn configured_identity_wins_without_asking() {
        let name = ask(" me ", 500, json!({})).await.unwrap();
        assert_eq!(name, "me");
    }

    #[tokio::test]
    async fn the_api_server_names_the_controller() {
        let user = json!({"username": "system:serviceaccount:ops:wfe", "groups": ["system:authenticated"]});
        let name = ask("", 201, review(user)).await.unwrap();
        assert_eq!(name, "system:serviceaccount:ops:wfe");
        assert!(
            wfe_controller::API_CALLS.iter().any(|c| c.verb == "create"
                && c.group == "authentication.k8s.io"
                && c.resource == "selfsubjectreviews"),
            "the SelfSubjectReview is declared in API_CALLS"
        );
    }

    #[tokio::test]
    async fn failures_stop_start_up_naming_the_config_key() {
        let not_served = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "message": "the server could not find the requested resource", "code": 404});
        let err = ask("", 404, not_served).await.unwrap_err();
        assert!(matches!(err, IdentityError::Review(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("SelfSubjectReview"), "{text}");
        assert!(text.contains("set `controllerIdentity`"), "{text}");
        let err = ask("", 201, review(json!({"username": ""})))
            .await
            .unwrap_err();
        assert!(matches!(err, IdentityError::NoUsername), "{err:?}");
        assert!(err.to_string().contains("`controllerIdentity`"));
    }
}
