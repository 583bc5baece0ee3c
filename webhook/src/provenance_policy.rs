//! The clearance provenance policy (DESIGN §3.3): a ValidatingAdmissionPolicy that the API
//! server evaluates itself, so it holds without this process and without the webhooks — and,
//! unlike the webhooks, also for the controller's own token. What `workflowexecution
//! clearance-policy` prints and `deploy/base/clearance-policy.yaml` holds.
//!
//! The identities come from a ConfigMap (`paramKind`), not from the CEL text, so that kustomize
//! can make them follow the install (see the `replacements` in `deploy/base`).

use serde_json::{Value, json};
use wfe_api::block::{BlockPolicy, DEFAULT_RUNNER_USERNAME};
use wfe_api::keys::DEFAULT_CONTROLLER_USERNAME;

/// Name of the policy and of its binding.
pub const POLICY_NAME: &str = "workflowexecution-clearance-provenance";
/// Name of the ConfigMap holding the identities the policy checks.
pub const PARAMS_NAME: &str = "workflowexecution-clearance-identities";
/// ConfigMap key: the controller's username.
pub const PARAM_CONTROLLER: &str = "controllerUsername";
/// ConfigMap key: the workflow runner's username.
pub const PARAM_RUNNER: &str = "runnerUsername";

/// Inputs of the generated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenancePolicyOptions {
    /// Namespace of the parameter ConfigMap (the service's namespace).
    pub namespace: String,
    /// The controller's username as the API server authenticates it.
    pub controller_username: String,
    /// The workflow runner's username.
    pub runner_username: String,
    /// Also require RBAC `update` on `workflowexecutions/blockclearance` (config
    /// `clearance.requireSubjectAccessReview`), checked by the API server's own authorizer.
    pub require_authorization: bool,
}

impl Default for ProvenancePolicyOptions {
    fn default() -> Self {
        ProvenancePolicyOptions {
            namespace: "kubernaut-system".to_owned(),
            controller_username: DEFAULT_CONTROLLER_USERNAME.to_owned(),
            runner_username: DEFAULT_RUNNER_USERNAME.to_owned(),
            require_authorization: true,
        }
    }
}

impl ProvenancePolicyOptions {
    /// The identities of a running service's block policy.
    pub fn for_policy(namespace: &str, policy: &BlockPolicy) -> Self {
        ProvenancePolicyOptions {
            namespace: namespace.to_owned(),
            controller_username: policy.controller_username.clone(),
            runner_username: policy.runner_username.clone(),
            require_authorization: policy.clearance.require_subject_access_review,
        }
    }
}

/// A `blockClearance` that the old object did not have.
const ADDED: &str = "has(object.status) && has(object.status.blockClearance) && !(has(oldObject.status) && has(oldObject.status.blockClearance))";
/// The requester is the controller.
const IS_CONTROLLER: &str = "request.userInfo.username == params.data.controllerUsername";
/// The requester is the controller or the runner.
const IS_SERVICE_IDENTITY: &str = "request.userInfo.username == params.data.controllerUsername || request.userInfo.username == params.data.runnerUsername";
/// The new object carries a `blockClearanceRequest` that the old one did not carry unchanged.
const NEW_REQUEST: &str = "has(object.status) && has(object.status.blockClearanceRequest) && !(has(oldObject.status) && has(oldObject.status.blockClearanceRequest) && oldObject.status.blockClearanceRequest == object.status.blockClearanceRequest)";

/// RBAC `update` on the virtual subresource that DESIGN §5 step 2 asks about.
const AUTHORIZED: &str = "authorizer.group('kubernaut.ai').resource('workflowexecutions').subresource('blockclearance').namespace(object.metadata.namespace).check('update').allowed()";

/// The CEL validations, in evaluation order: `(expression, message, messageExpression)`.
pub fn validations(
    require_authorization: bool,
) -> Vec<(String, &'static str, Option<&'static str>)> {
    let mut out = vec![
        (
            format!(
                "!({ADDED}) || object.status.blockClearance.clearedBy == request.userInfo.username"
            ),
            "status.blockClearance.clearedBy must be the authenticated requester; clearances are stamped by the admission webhook",
            Some(
                "'status.blockClearance.clearedBy is ' + string(object.status.blockClearance.clearedBy) + ' but the request was made by ' + request.userInfo.username + '; a clearance is stamped by the admission webhook with the authenticated identity: request one with status.blockClearanceRequest.clearReason'",
            ),
        ),
        (
            format!("!({ADDED}) || !({IS_SERVICE_IDENTITY})"),
            "the controller and the workflow runner may never add status.blockClearance; a human operator must request the clearance",
            Some(
                "'status.blockClearance: ' + request.userInfo.username + ' is the controller or the workflow runner and may never add a clearance; a human operator must request it with status.blockClearanceRequest.clearReason'",
            ),
        ),
        (
            format!(
                "!({ADDED}) || (has(object.status.blockClearance.clearedByGroups) ? object.status.blockClearance.clearedByGroups : []) == request.userInfo.groups"
            ),
            "status.blockClearance.clearedByGroups must be the authenticated requester's groups; clearances are stamped by the admission webhook",
            None,
        ),
        (
            format!("!({IS_CONTROLLER}) || !({NEW_REQUEST})"),
            "status.blockClearanceRequest: the controller's identity cannot request a block clearance; a human operator must request it",
            None,
        ),
    ];
    if require_authorization {
        out.push((
            format!("!({ADDED}) || {AUTHORIZED}"),
            "status.blockClearance: the requester may not update workflowexecutions/blockclearance (kubernaut.ai) in this namespace; ask an administrator to bind a role such as workflowexecution-block-clearer",
            None,
        ));
    }
    out
}

/// ConfigMap (parameters), ValidatingAdmissionPolicy and its binding, in that order.
pub fn provenance_policy(opts: &ProvenancePolicyOptions) -> Vec<Value> {
    let labels = json!({ "app.kubernetes.io/name": "workflowexecution" });
    let validations: Vec<Value> = validations(opts.require_authorization)
        .into_iter()
        .map(|(expression, message, message_expression)| {
            let mut v = json!({
                "expression": expression,
                "message": message,
                "reason": "Forbidden",
            });
            if let Some(m) = message_expression {
                v["messageExpression"] = json!(m);
            }
            v
        })
        .collect();
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": PARAMS_NAME, "namespace": opts.namespace, "labels": labels },
            "data": {
                PARAM_CONTROLLER: opts.controller_username,
                PARAM_RUNNER: opts.runner_username,
            },
        }),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": { "name": POLICY_NAME, "labels": labels },
            "spec": {
                // Closed: if the parameters cannot be read, status writes fail loudly rather than
                // provenance silently turning off.
                "failurePolicy": "Fail",
                "paramKind": { "apiVersion": "v1", "kind": "ConfigMap" },
                "matchConstraints": {
                    "resourceRules": [{
                        "apiGroups": [wfe_api::keys::GROUP],
                        "apiVersions": ["*"],
                        "operations": ["UPDATE"],
                        "resources": [format!("{}/status", wfe_api::keys::PLURAL)],
                    }],
                },
                "validations": validations,
            },
        }),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": { "name": POLICY_NAME, "labels": labels },
            "spec": {
                "policyName": POLICY_NAME,
                "paramRef": {
                    "name": PARAMS_NAME,
                    "namespace": opts.namespace,
                    "parameterNotFoundAction": "Deny",
                },
                "validationActions": ["Deny"],
            },
        }),
    ]
}

/// The policy as a multi-document YAML stream.
pub fn provenance_policy_yaml(
    opts: &ProvenancePolicyOptions,
) -> Result<String, serde_saphyr::SerializeError> {
    crate::registration::yaml_stream(&provenance_policy(opts))
}
