//! Per-test context: the skip decision, the one-time cluster setup, a fresh namespace with the
//! test identities' RBAC, simulated Tekton, and cleanup.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};

use crate::cluster;
use crate::settings::{Settings, TektonMode};
use crate::setup::{self, Shared, Timings};
use crate::tekton;

/// Group of the authorised clearer; bound to ClusterRole workflowexecution-block-clearer in each
/// test namespace.
pub const CLEARER_GROUP: &str = "e2e-clearers";
/// The authorised clearer's username.
pub const CLEARER_USER: &str = "e2e-clearer";
/// A user who may patch WFE status (so the request reaches the webhook) but not clear blocks.
pub const BYSTANDER_USER: &str = "e2e-bystander";
/// The bystander's group.
pub const BYSTANDER_GROUP: &str = "e2e-bystanders";
/// Name of the service account that holds the clearer role but must still be denied.
pub const BOT_SERVICE_ACCOUNT: &str = "e2e-bot";

/// Everything a scenario needs.
#[derive(Clone)]
pub struct Ctx {
    pub settings: Settings,
    pub timings: Timings,
    pub audit_path: Option<std::path::PathBuf>,
    /// Cluster admin.
    pub admin: Client,
    /// The authorised clearer (impersonated).
    pub clearer: Client,
    /// Authenticated, may write status, may not clear.
    pub bystander: Client,
    /// A service account bound to the clearer role.
    pub bot: Client,
    /// The controller's own identity (impersonated): the status webhooks skip it, so only the
    /// provenance policy stands between it and a forged clearance.
    pub controller: Client,
    /// This test's namespace.
    pub ns: String,
}

impl Ctx {
    /// A target in this test's namespace (the target need not exist: workflows only receive it).
    pub fn target(&self, name: &str) -> String {
        format!("{}/Deployment/{name}", self.ns)
    }
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

/// Runs `scenario` in a fresh namespace, or prints why it is skipped.
pub fn e2e<F, Fut>(test: &str, scenario: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let settings = match Settings::from_env() {
        Ok(Some(s)) => s,
        Ok(None) => {
            println!("skipped: WFE_E2E_KUBECONFIG not set ({test})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let shared = SHARED.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(setup::prepare(&settings))
    });
    let shared = match shared {
        Ok(s) => s.clone(),
        Err(e) => panic!("E2E setup failed: {e}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let ctx = context(&settings, &shared, test).await;
        let simulator = (settings.tekton == TektonMode::Simulated).then(|| {
            tokio::spawn(tekton::simulate(
                ctx.admin.clone(),
                ctx.timings.execution_namespace.clone(),
                ctx.ns.clone(),
            ))
        });
        // Hang guard only: every wait inside has its own, shorter timeout.
        let outcome =
            tokio::time::timeout(Duration::from_secs(30 * 60), scenario(ctx.clone())).await;
        if let Some(s) = simulator {
            s.abort();
        }
        cleanup(&ctx).await;
        if outcome.is_err() {
            panic!("{test} did not finish within 30 minutes");
        }
    });
}

async fn context(settings: &Settings, shared: &Shared, test: &str) -> Ctx {
    let admin = cluster::client(cluster::config(&settings.kubeconfig, None).await);
    let ns = unique_namespace(test);
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let mut meta = ObjectMeta {
        name: Some(ns.clone()),
        ..Default::default()
    };
    meta.labels = Some([("kubernaut.ai/e2e".to_owned(), "true".to_owned())].into());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: meta,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("cannot create namespace {ns}: {e}"));
    grant_test_identities(&admin, &ns).await;
    let bot_user = format!("system:serviceaccount:{ns}:{BOT_SERVICE_ACCOUNT}");
    let sa_group = format!("system:serviceaccounts:{ns}");
    let clearer = cluster::client(
        cluster::config(
            &settings.kubeconfig,
            Some((CLEARER_USER, &[CLEARER_GROUP, "system:authenticated"])),
        )
        .await,
    );
    let bystander = cluster::client(
        cluster::config(
            &settings.kubeconfig,
            Some((BYSTANDER_USER, &[BYSTANDER_GROUP, "system:authenticated"])),
        )
        .await,
    );
    let bot = cluster::client(
        cluster::config(
            &settings.kubeconfig,
            Some((
                &bot_user,
                &["system:serviceaccounts", &sa_group, "system:authenticated"],
            )),
        )
        .await,
    );
    let controller_user = format!(
        "system:serviceaccount:{}:{}",
        setup::CONTROLLER_NAMESPACE,
        setup::CONTROLLER_SERVICE_ACCOUNT
    );
    let controller_group = format!("system:serviceaccounts:{}", setup::CONTROLLER_NAMESPACE);
    let controller = cluster::client(
        cluster::config(
            &settings.kubeconfig,
            Some((
                &controller_user,
                &[
                    "system:serviceaccounts",
                    &controller_group,
                    "system:authenticated",
                ],
            )),
        )
        .await,
    );
    Ctx {
        settings: settings.clone(),
        timings: shared.timings.clone(),
        audit_path: shared.audit_path.clone(),
        admin,
        clearer,
        bystander,
        bot,
        controller,
        ns,
    }
}

/// RBAC for the impersonated identities, in the test namespace only.
async fn grant_test_identities(admin: &Client, ns: &str) {
    let roles: Api<Role> = Api::namespaced(admin.clone(), ns);
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), ns);
    // The bystander may read WFEs and patch their status, so a clearance attempt reaches the
    // webhook, whose SubjectAccessReview on workflowexecutions/blockclearance must then deny it.
    let status_writer = Role {
        metadata: ObjectMeta {
            name: Some("e2e-status-writer".into()),
            ..Default::default()
        },
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec!["kubernaut.ai".into()]),
                resources: Some(vec!["workflowexecutions".into()]),
                verbs: vec!["get".into(), "list".into(), "watch".into()],
                ..Default::default()
            },
            PolicyRule {
                api_groups: Some(vec!["kubernaut.ai".into()]),
                resources: Some(vec!["workflowexecutions/status".into()]),
                verbs: vec!["get".into(), "patch".into(), "update".into()],
                ..Default::default()
            },
        ]),
    };
    roles
        .create(&PostParams::default(), &status_writer)
        .await
        .unwrap_or_else(|e| panic!("cannot create Role in {ns}: {e}"));
    let binding = |name: &str, role_kind: &str, role: &str, subjects: Vec<Subject>| RoleBinding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: role_kind.into(),
            name: role.into(),
        },
        subjects: Some(subjects),
    };
    let group = |name: &str| Subject {
        kind: "Group".into(),
        name: name.into(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        namespace: None,
    };
    let service_account = Subject {
        kind: "ServiceAccount".into(),
        name: BOT_SERVICE_ACCOUNT.into(),
        api_group: None,
        namespace: Some(ns.into()),
    };
    for b in [
        binding(
            "e2e-block-clearers",
            "ClusterRole",
            "workflowexecution-block-clearer",
            vec![group(CLEARER_GROUP), service_account],
        ),
        binding(
            "e2e-status-writers",
            "Role",
            "e2e-status-writer",
            vec![group(BYSTANDER_GROUP)],
        ),
    ] {
        bindings
            .create(&PostParams::default(), &b)
            .await
            .unwrap_or_else(|e| panic!("cannot create RoleBinding in {ns}: {e}"));
    }
}

/// Deletes the namespace (the controller removes its finalizers and the WFEs' PipelineRuns) and
/// any PipelineRun left behind for it in the execution namespace.
async fn cleanup(ctx: &Ctx) {
    let namespaces: Api<Namespace> = Api::all(ctx.admin.clone());
    if let Err(e) = namespaces
        .delete(&ctx.ns, &DeleteParams::background())
        .await
    {
        eprintln!("warning: cannot delete namespace {}: {e}", ctx.ns);
    }
    tekton::delete_runs_of_namespace(&ctx.admin, &ctx.timings.execution_namespace, &ctx.ns).await;
}

fn unique_namespace(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let salt = (nanos ^ u128::from(std::process::id()) << 20) % 1_679_616; // 36^4
    let mut suffix = String::new();
    let mut n = salt;
    for _ in 0..4 {
        let digit = (n % 36) as u32;
        suffix.push(char::from_digit(digit, 36).unwrap_or('0'));
        n /= 36;
    }
    let stem: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!("e2e-{}-{suffix}", stem.trim_matches('-'))
}
