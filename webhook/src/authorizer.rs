//! "May this user clear blocks in this namespace?", answered by a SubjectAccessReview.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use kube::api::{Api, PostParams};

use wfe_api::identity::UserInfo;

/// The question asked for one clearance, borrowed from the admission request it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizationRequest<'a> {
    /// The requester.
    pub user: &'a UserInfo,
    /// Namespace of the WorkflowExecution.
    pub namespace: &'a str,
    /// Name of the WorkflowExecution (lets RBAC restrict by `resourceNames`).
    pub name: &'a str,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The user holds `update` on `workflowexecutions/blockclearance`.
    Allowed {
        /// Authorizer's explanation, if any.
        reason: Option<String>,
    },
    /// The user does not.
    Denied {
        /// Authorizer's explanation, if any.
        reason: Option<String>,
    },
    /// The question could not be answered; treated as a denial.
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// Decides whether a user may clear blocks. Implementations must never answer `Allowed` on error.
pub trait Authorizer: Send + Sync {
    /// Asks the question.
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizationRequest<'_>,
    ) -> BoxFuture<'a, Authorization>;
}

/// Asks the API server with a SubjectAccessReview for verb `update` on
/// `kubernaut.ai/workflowexecutions/blockclearance` in the WFE's namespace.
#[derive(Clone)]
pub struct SubjectAccessReviewer {
    client: kube::Client,
}

impl std::fmt::Debug for SubjectAccessReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectAccessReviewer")
    }
}

impl SubjectAccessReviewer {
    /// Uses `client` (needs `create` on `subjectaccessreviews.authorization.k8s.io`).
    pub fn new(client: kube::Client) -> Self {
        SubjectAccessReviewer { client }
    }
}

/// The SubjectAccessReview asked for `request`.
pub fn subject_access_review(request: &AuthorizationRequest<'_>) -> SubjectAccessReview {
    let user = &request.user;
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.username.clone()),
            uid: user.uid.clone(),
            groups: (!user.groups.is_empty()).then(|| user.groups.clone()),
            extra: (!user.extra.is_empty())
                .then(|| user.extra.clone().into_iter().collect::<BTreeMap<_, _>>()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(request.namespace.to_owned()),
                verb: Some("update".to_owned()),
                group: Some(wfe_api::keys::GROUP.to_owned()),
                resource: Some(wfe_api::keys::PLURAL.to_owned()),
                subresource: Some(wfe_api::keys::BLOCK_CLEARANCE_SUBRESOURCE.to_owned()),
                name: (!request.name.is_empty()).then(|| request.name.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Reads the answer of a SubjectAccessReview; a missing status is not an allow.
pub fn interpret(status: Option<&SubjectAccessReviewStatus>) -> Authorization {
    match status {
        Some(s) if s.allowed && !s.denied.unwrap_or(false) => Authorization::Allowed {
            reason: nonempty(s.reason.as_deref()),
        },
        Some(s) => Authorization::Denied {
            reason: nonempty(s.reason.as_deref())
                .or_else(|| nonempty(s.evaluation_error.as_deref())),
        },
        None => Authorization::Failed {
            error: "SubjectAccessReview response has no status".to_owned(),
        },
    }
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

impl Authorizer for SubjectAccessReviewer {
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizationRequest<'_>,
    ) -> BoxFuture<'a, Authorization> {
        Box::pin(async move {
            let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
            match api
                .create(&PostParams::default(), &subject_access_review(request))
                .await
            {
                Ok(review) => interpret(review.status.as_ref()),
                Err(e) => Authorization::Failed {
                    error: format!("SubjectAccessReview request failed: {e}"),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_carries_identity_and_the_virtual_subresource() {
        let user = UserInfo {
            username: "alice".into(),
            uid: Some("uid-alice".into()),
            groups: vec!["sre-team".into(), "system:authenticated".into()],
            extra: BTreeMap::from([("k".into(), vec!["v".into()])]),
        };
        let request = AuthorizationRequest {
            user: &user,
            namespace: "team-a",
            name: "wfe-1",
        };
        let json = serde_json::to_value(subject_access_review(&request)).expect("json");
        assert_eq!(json["spec"]["user"], "alice");
        assert_eq!(json["spec"]["uid"], "uid-alice");
        assert_eq!(
            json["spec"]["groups"],
            serde_json::json!(["sre-team", "system:authenticated"])
        );
        assert_eq!(json["spec"]["extra"]["k"], serde_json::json!(["v"]));
        let attrs = &json["spec"]["resourceAttributes"];
        assert_eq!(attrs["verb"], "update");
        assert_eq!(attrs["group"], "kubernaut.ai");
        assert_eq!(attrs["resource"], "workflowexecutions");
        assert_eq!(attrs["subresource"], "blockclearance");
        assert_eq!(attrs["namespace"], "team-a");
        assert_eq!(attrs["name"], "wfe-1");
    }

    #[test]
    fn explicit_deny_wins_and_no_status_is_a_failure() {
        let allowed = SubjectAccessReviewStatus {
            allowed: true,
            ..Default::default()
        };
        assert_eq!(
            interpret(Some(&allowed)),
            Authorization::Allowed { reason: None }
        );
        let contradictory = SubjectAccessReviewStatus {
            allowed: true,
            denied: Some(true),
            ..Default::default()
        };
        assert!(matches!(
            interpret(Some(&contradictory)),
            Authorization::Denied { .. }
        ));
        let evaluation = SubjectAccessReviewStatus {
            allowed: false,
            evaluation_error: Some("webhook down".into()),
            ..Default::default()
        };
        assert_eq!(
            interpret(Some(&evaluation)),
            Authorization::Denied {
                reason: Some("webhook down".into())
            }
        );
        assert!(matches!(interpret(None), Authorization::Failed { .. }));
    }
}
