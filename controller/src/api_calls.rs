//! Every Kubernetes API call the controller makes, in one place, so deploy RBAC can be checked
//! against it.

/// One kind of API request the controller sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiCall {
    /// RBAC verb.
    pub verb: &'static str,
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource (with `/subresource` where applicable).
    pub resource: &'static str,
    /// Where: `cluster` (all namespaces), `execution` (the execution namespace), `wfe` (the
    /// namespace of the WFE concerned), or `basic-user`: allowed to every authenticated user by
    /// the default `system:basic-user` ClusterRole, so `deploy/` grants nothing for it.
    pub scope: &'static str,
    /// Why the controller needs it.
    pub purpose: &'static str,
}

/// All requests of the reconciler and its watches, and the start-up SelfSubjectReview. Discovery
/// of `/apis/tekton.dev/v1` at startup is a non-resource GET allowed by the default
/// `system:discovery` role.
pub const API_CALLS: &[ApiCall] = &[
    ApiCall {
        verb: "create",
        group: "authentication.k8s.io",
        resource: "selfsubjectreviews",
        scope: "basic-user",
        purpose: "learn the controller's own username at start-up (unless controllerIdentity is set)",
    },
    ApiCall {
        verb: "list",
        group: "kubernaut.ai",
        resource: "workflowexecutions",
        scope: "cluster",
        purpose: "WFE cache",
    },
    ApiCall {
        verb: "watch",
        group: "kubernaut.ai",
        resource: "workflowexecutions",
        scope: "cluster",
        purpose: "WFE cache",
    },
    ApiCall {
        verb: "patch",
        group: "kubernaut.ai",
        resource: "workflowexecutions",
        scope: "wfe",
        purpose: "add/remove the finalizer",
    },
    ApiCall {
        verb: "get",
        group: "kubernaut.ai",
        resource: "workflowexecutions",
        scope: "wfe",
        purpose: "read a settled WFE, whose cache entry keeps only its name, when it is reconciled again",
    },
    ApiCall {
        verb: "get",
        group: "kubernaut.ai",
        resource: "workflowexecutions/status",
        scope: "wfe",
        purpose: "read the stored status before delivering audit on the cache's word",
    },
    ApiCall {
        verb: "patch",
        group: "kubernaut.ai",
        resource: "workflowexecutions/status",
        scope: "wfe",
        purpose: "server-side apply of status",
    },
    ApiCall {
        verb: "list",
        group: "tekton.dev",
        resource: "pipelineruns",
        scope: "execution",
        purpose: "PipelineRun cache",
    },
    ApiCall {
        verb: "watch",
        group: "tekton.dev",
        resource: "pipelineruns",
        scope: "execution",
        purpose: "PipelineRun cache",
    },
    ApiCall {
        verb: "get",
        group: "tekton.dev",
        resource: "pipelineruns",
        scope: "execution",
        purpose: "confirm the lock before acting on a cache miss",
    },
    ApiCall {
        verb: "create",
        group: "tekton.dev",
        resource: "pipelineruns",
        scope: "execution",
        purpose: "acquire the lock / start the workflow",
    },
    ApiCall {
        verb: "delete",
        group: "tekton.dev",
        resource: "pipelineruns",
        scope: "execution",
        purpose: "release an expired lock, cancel on deletion (UID precondition)",
    },
    ApiCall {
        verb: "get",
        group: "tekton.dev",
        resource: "taskruns",
        scope: "execution",
        purpose: "failed task name, index and exit code",
    },
    ApiCall {
        verb: "create",
        group: "events.k8s.io",
        resource: "events",
        scope: "wfe",
        purpose: "Kubernetes events",
    },
    ApiCall {
        verb: "patch",
        group: "events.k8s.io",
        resource: "events",
        scope: "wfe",
        purpose: "event series updates",
    },
];
