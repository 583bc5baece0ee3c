//! WorkflowExecutions: building them, creating them, waiting for their states.

use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use wfe_api::{Phase, WorkflowExecution};

use crate::cluster;
use crate::harness::Ctx;
use crate::tekton::UNRESOLVABLE_BUNDLE_MARK;

/// How the workflow of a WFE will behave (the same in simulated and real Tekton).
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Runs `seconds`, then succeeds.
    Succeed { seconds: u64 },
    /// Runs, then its task exits with `code`.
    FailInTask { code: i32 },
    /// Its bundle cannot be resolved: fails before any task starts.
    FailBeforeStart,
}

/// The WFE manifest as JSON (what the orchestrator would create).
pub fn manifest(name: &str, target: &str, bundle: &str, params: &[(&str, &str)]) -> Value {
    let parameters: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    json!({
        "apiVersion": "kubernaut.ai/v1alpha1",
        "kind": "WorkflowExecution",
        "metadata": {"name": name},
        "spec": {
            "remediationRequestRef": {"apiVersion": "kubernaut.ai/v1alpha1", "kind": "RemediationRequest", "name": format!("rr-{name}")},
            "workflowRef": {"workflowId": "e2e-echo", "version": "v1", "containerImage": bundle},
            "targetResource": target,
            "parameters": parameters,
            "confidence": 0.9,
            "rationale": "end-to-end test",
        }
    })
}

/// A typed WFE from a manifest (panics on a manifest the types cannot hold: a test bug).
pub fn typed(manifest: Value) -> WorkflowExecution {
    serde_json::from_value(manifest)
        .unwrap_or_else(|e| panic!("test WFE manifest does not fit the types: {e}"))
}

/// A WFE on `target` whose workflow behaves as `behaviour`.
pub fn new(ctx: &Ctx, name: &str, target: &str, behaviour: Behaviour) -> WorkflowExecution {
    let (bundle, exit, sleep) = match behaviour {
        Behaviour::Succeed { seconds } => (ctx.settings.bundle.clone(), 0, seconds),
        Behaviour::FailInTask { code } => (ctx.settings.bundle.clone(), code, 0),
        Behaviour::FailBeforeStart => (unresolvable_bundle(&ctx.settings.bundle), 0, 0),
    };
    let (exit, sleep) = (exit.to_string(), sleep.to_string());
    typed(manifest(
        name,
        target,
        &bundle,
        &[("EXIT_CODE", &exit), ("SLEEP_SECONDS", &sleep)],
    ))
}

/// The same registry and repository as `bundle`, with a tag-less name that does not exist.
fn unresolvable_bundle(bundle: &str) -> String {
    let repo = bundle
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(bundle, |(r, _)| r);
    format!("{repo}-{UNRESOLVABLE_BUNDLE_MARK}:v1")
}

/// WFEs of this test's namespace, as admin.
pub fn api(ctx: &Ctx) -> Api<WorkflowExecution> {
    Api::namespaced(ctx.admin.clone(), &ctx.ns)
}

/// Creates `wfe` as admin.
pub async fn create(ctx: &Ctx, wfe: &WorkflowExecution) -> WorkflowExecution {
    let name = wfe.metadata.name.clone().unwrap_or_default();
    api(ctx)
        .create(&PostParams::default(), wfe)
        .await
        .unwrap_or_else(|e| panic!("cannot create WFE {name}: {e}"))
}

/// One-line summary of a WFE's status for failure messages.
pub fn summary(wfe: &WorkflowExecution) -> String {
    serde_json::to_string(&wfe.status).unwrap_or_default()
}

/// Waits until WFE `name` satisfies `pred`.
pub async fn wait(
    ctx: &Ctx,
    name: &str,
    what: &str,
    pred: impl Fn(&WorkflowExecution) -> bool,
) -> WorkflowExecution {
    let api = api(ctx);
    cluster::wait_for(
        &format!("WFE {}/{name} {what}", ctx.ns),
        ctx.settings.timeout,
        || async {
            match api.get(name).await {
                Ok(w) if pred(&w) => Ok(w),
                Ok(w) => Err(summary(&w)),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
}

/// Waits until WFE `name` reaches `phase`.
pub async fn wait_phase(ctx: &Ctx, name: &str, phase: Phase) -> WorkflowExecution {
    wait(ctx, name, &format!("to be {}", phase.as_str()), |w| {
        w.phase() == phase
    })
    .await
}

/// Waits until WFE `name` is terminal.
pub async fn wait_terminal(ctx: &Ctx, name: &str) -> WorkflowExecution {
    wait(ctx, name, "to be terminal", |w| w.phase().is_terminal()).await
}

/// The condition `type_` of a WFE.
pub fn condition<'a>(
    wfe: &'a WorkflowExecution,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    wfe.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// The WFE's `failureDetails.failedAt` as the API shows it.
pub fn failed_at(wfe: &WorkflowExecution) -> Option<String> {
    wfe.status
        .as_ref()?
        .failure_details
        .as_ref()
        .map(|f| f.failed_at.0.to_string())
}

/// `metadata.uid`.
pub fn uid(wfe: &WorkflowExecution) -> String {
    wfe.metadata.uid.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::unresolvable_bundle;

    #[test]
    fn unresolvable_bundle_keeps_the_registry() {
        assert_eq!(
            unresolvable_bundle("localhost:5001/kubernaut/e2e-workflow:v1"),
            "localhost:5001/kubernaut/e2e-workflow-does-not-exist:v1"
        );
        assert_eq!(
            unresolvable_bundle("localhost:5001/wf"),
            "localhost:5001/wf-does-not-exist:v1"
        );
    }
}
