//! RBAC grants exactly the API calls the process makes, and the roles operators aggregate.

use super::*;

/// Where a permission applies: cluster-wide or in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scope {
    Cluster,
    Namespace(String),
}

/// One (scope, API group, resource, verb) the process needs or is granted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Permission {
    scope: Scope,
    group: String,
    resource: String,
    verb: String,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match &self.scope {
            Scope::Cluster => "cluster".to_owned(),
            Scope::Namespace(ns) => format!("ns/{ns}"),
        };
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{scope} {} {group}/{}", self.verb, self.resource)
    }
}

fn permission(scope: Scope, group: &str, resource: &str, verbs: &[&str]) -> Vec<Permission> {
    verbs
        .iter()
        .map(|verb| Permission {
            scope: scope.clone(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            verb: (*verb).to_owned(),
        })
        .collect()
}

/// Every API call the running process makes, as RBAC permissions: the controller's own list
/// (`wfe_controller::API_CALLS`) plus leader election, the webhook's clearance
/// SubjectAccessReview and secure metrics' TokenReview/SubjectAccessReview.
/// `rbac_grants_exactly_the_api_calls_of_the_process` keeps deploy/base equal to it.
pub(crate) fn process_api_calls() -> BTreeSet<Permission> {
    let mut calls: Vec<Permission> = wfe_controller::API_CALLS
        .iter()
        // Allowed to every authenticated user by the default system:basic-user role.
        .filter(|c| c.scope != "basic-user")
        .map(|c| Permission {
            scope: match c.scope {
                "execution" => Scope::Namespace(EXECUTION_NAMESPACE.to_owned()),
                // "cluster", and "wfe": WFEs (and their events) live in any namespace.
                _ => Scope::Cluster,
            },
            group: c.group.to_owned(),
            resource: c.resource.to_owned(),
            verb: c.verb.to_owned(),
        })
        .collect();
    // Leader election (kube-lease-manager): read, create and patch the Lease.
    calls.extend(permission(
        Scope::Namespace(CONTROLLER_NAMESPACE.to_owned()),
        "coordination.k8s.io",
        "leases",
        &["get", "create", "patch"],
    ));
    // Webhook clearance authorisation and secure-metrics authorisation.
    calls.extend(permission(
        Scope::Cluster,
        "authorization.k8s.io",
        "subjectaccessreviews",
        &["create"],
    ));
    // Secure metrics authentication.
    calls.extend(permission(
        Scope::Cluster,
        "authentication.k8s.io",
        "tokenreviews",
        &["create"],
    ));
    calls.into_iter().collect()
}

#[test]
fn controller_api_call_scopes_are_known() {
    for c in wfe_controller::API_CALLS {
        assert!(
            matches!(c.scope, "cluster" | "execution" | "wfe" | "basic-user"),
            "unknown scope {:?} in {c:?}",
            c.scope
        );
    }
}

/// Permissions `docs` grant the ServiceAccount `namespace/name` through (Cluster)RoleBindings.
/// Wildcards and resourceNames are refused: least privilege lists everything explicitly.
pub(crate) fn granted_permissions(
    docs: &[Value],
    namespace: &str,
    name: &str,
) -> BTreeSet<Permission> {
    let mut granted = BTreeSet::new();
    for binding in docs
        .iter()
        .filter(|d| matches!(kind_of(d), "RoleBinding" | "ClusterRoleBinding"))
    {
        let binds_us = binding
            .get("subjects")
            .and_then(Value::as_array)
            .is_some_and(|subjects| {
                subjects.iter().any(|s| {
                    str_at(s, &["kind"]) == Some("ServiceAccount")
                        && str_at(s, &["name"]) == Some(name)
                        && str_at(s, &["namespace"]) == Some(namespace)
                })
            });
        if !binds_us {
            continue;
        }
        let binding_ns = str_at(binding, &["metadata", "namespace"]);
        let scope = match (kind_of(binding), binding_ns) {
            ("ClusterRoleBinding", _) => Scope::Cluster,
            (_, Some(ns)) => Scope::Namespace(ns.to_owned()),
            (_, None) => panic!(
                "RoleBinding {:?} has no namespace",
                str_at(binding, &["metadata", "name"])
            ),
        };
        let role_kind = str_at(binding, &["roleRef", "kind"]).unwrap_or_default();
        let role_name = str_at(binding, &["roleRef", "name"]).unwrap_or_default();
        let role_ns = if role_kind == "Role" {
            binding_ns
        } else {
            None
        };
        let role = named(docs, role_kind, role_ns, role_name).unwrap_or_else(|| {
            panic!("binding refers to {role_kind} {role_name:?}, which deploy/base does not define")
        });
        for rule in role
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert!(
                rule.get("resourceNames").is_none(),
                "{role_name}: resourceNames are not used"
            );
            assert!(
                rule.get("nonResourceURLs").is_none(),
                "{role_name}: the controller needs no non-resource URLs"
            );
            let (groups, resources, verbs) = (
                strings(rule.get("apiGroups")),
                strings(rule.get("resources")),
                strings(rule.get("verbs")),
            );
            for list in [&groups, &resources, &verbs] {
                assert!(
                    !list.contains(&"*".to_owned()),
                    "{role_name}: wildcard in {rule:?}"
                );
            }
            for group in &groups {
                for resource in &resources {
                    for verb in &verbs {
                        granted.insert(Permission {
                            scope: scope.clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                            verb: verb.clone(),
                        });
                    }
                }
            }
        }
    }
    granted
}

fn describe(set: &BTreeSet<Permission>) -> String {
    set.iter().map(|p| format!("\n  {p}")).collect()
}

#[test]
fn rbac_grants_exactly_the_api_calls_of_the_process() {
    let granted = granted_permissions(
        &base_documents(),
        CONTROLLER_NAMESPACE,
        CONTROLLER_SERVICE_ACCOUNT,
    );
    let needed = process_api_calls();
    let missing: BTreeSet<_> = needed.difference(&granted).cloned().collect();
    let extra: BTreeSet<_> = granted.difference(&needed).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "RBAC differs from the process's API calls\nmissing:{}\nbeyond need:{}",
        describe(&missing),
        describe(&extra)
    );
}

#[test]
fn block_clearer_role_grants_the_virtual_subresource_and_status_patch_only() {
    let docs = base_documents();
    let role = named(
        &docs,
        "ClusterRole",
        None,
        "workflowexecution-block-clearer",
    )
    .expect("ClusterRole workflowexecution-block-clearer");
    let mut grants = BTreeSet::new();
    for rule in role
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for resource in strings(rule.get("resources")) {
            for verb in strings(rule.get("verbs")) {
                grants.insert(format!("{verb} {resource}"));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "update workflowexecutions/blockclearance",
        "get workflowexecutions/status",
        "patch workflowexecutions/status",
        "get workflowexecutions",
        "list workflowexecutions",
        "watch workflowexecutions",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(grants, expected);
    // The runner account exists and nothing binds it in base.
    assert!(
        named(
            &docs,
            "ServiceAccount",
            Some(EXECUTION_NAMESPACE),
            "kubernaut-workflow-runner"
        )
        .is_some()
    );
    assert!(
        granted_permissions(&docs, EXECUTION_NAMESPACE, "kubernaut-workflow-runner").is_empty()
    );
}

/// `resource: verbs` of a ClusterRole's rules, e.g. `{"workflowexecutions get", ...}`.
fn cluster_role_grants(docs: &[Value], name: &str) -> BTreeSet<String> {
    let role = named(docs, "ClusterRole", None, name)
        .unwrap_or_else(|| panic!("ClusterRole {name} is not rendered"));
    let mut grants = BTreeSet::new();
    for rule in role
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert_eq!(strings(rule.get("apiGroups")), ["kubernaut.ai"], "{name}");
        for resource in strings(rule.get("resources")) {
            for verb in strings(rule.get("verbs")) {
                grants.insert(format!("{resource} {verb}"));
            }
        }
    }
    grants
}

/// Read access aggregated to `view`, create/delete to `edit` and `admin`, nothing on status
/// (clearing stays with the explicit block-clearer role).
pub(crate) fn assert_aggregated_roles(docs: &[Value], what: &str) {
    let label = |name: &str, key: &str| {
        named(docs, "ClusterRole", None, name)
            .and_then(|r| str_at(r, &["metadata", "labels", key]))
            .map(str::to_owned)
    };
    let agg = |to: &str| format!("rbac.authorization.k8s.io/aggregate-to-{to}");
    assert_eq!(
        label("workflowexecution-view", &agg("view")).as_deref(),
        Some("true"),
        "{what}"
    );
    for to in ["edit", "admin"] {
        assert_eq!(
            label("workflowexecution-edit", &agg(to)).as_deref(),
            Some("true"),
            "{what}"
        );
    }
    let set = |items: &[&str]| {
        items
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let read = [
        "workflowexecutions get",
        "workflowexecutions list",
        "workflowexecutions watch",
    ];
    assert_eq!(
        cluster_role_grants(docs, "workflowexecution-view"),
        set(&read),
        "{what}"
    );
    let mut write = read.to_vec();
    write.extend(["workflowexecutions create", "workflowexecutions delete"]);
    assert_eq!(
        cluster_role_grants(docs, "workflowexecution-edit"),
        set(&write),
        "{what}"
    );
}

#[test]
fn view_and_edit_roles_aggregate_workflowexecution_access() {
    assert_aggregated_roles(&base_documents(), "deploy/base");
}
