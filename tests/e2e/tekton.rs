//! PipelineRuns: reading them, and playing Tekton when the cluster has only its CRDs.
//!
//! The simulator behaves like Tekton running the E2E bundle of .github/workflows/e2e.yaml: a
//! Pipeline `workflow` with one task `echo` that prints `$(params.TARGET_RESOURCE)`, sleeps
//! `$(params.SLEEP_SECONDS)` and exits with `$(params.EXIT_CODE)`. A bundle reference containing
//! [`UNRESOLVABLE_BUNDLE_MARK`] cannot be resolved (Tekton fails such a run before any task starts).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};
use wfe_api::keys;

/// Marks a bundle reference that does not exist (a pre-execution failure in both modes).
pub const UNRESOLVABLE_BUNDLE_MARK: &str = "does-not-exist";

/// Name of the single pipeline task of the E2E bundle.
pub const TASK_NAME: &str = "echo";

/// tekton.dev/v1 PipelineRun.
pub fn pipeline_run_resource() -> ApiResource {
    ApiResource {
        group: "tekton.dev".into(),
        version: "v1".into(),
        api_version: "tekton.dev/v1".into(),
        kind: "PipelineRun".into(),
        plural: "pipelineruns".into(),
    }
}

/// tekton.dev/v1 TaskRun.
pub fn task_run_resource() -> ApiResource {
    ApiResource {
        group: "tekton.dev".into(),
        version: "v1".into(),
        api_version: "tekton.dev/v1".into(),
        kind: "TaskRun".into(),
        plural: "taskruns".into(),
    }
}

/// PipelineRuns in the execution namespace.
pub fn runs(client: &Client, execution_namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        execution_namespace,
        &pipeline_run_resource(),
    )
}

/// The PipelineRuns the controller made for WFEs of namespace `ns`.
pub async fn runs_of_namespace(
    client: &Client,
    execution_namespace: &str,
    ns: &str,
) -> Vec<DynamicObject> {
    let selector = format!("{}={ns}", keys::LABEL_SOURCE_NAMESPACE);
    runs(client, execution_namespace)
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .unwrap_or_else(|e| panic!("cannot list PipelineRuns ({selector}): {e}"))
}

/// Deletes PipelineRuns left behind for namespace `ns` (a test that failed half-way).
pub async fn delete_runs_of_namespace(client: &Client, execution_namespace: &str, ns: &str) {
    let selector = format!("{}={ns}", keys::LABEL_SOURCE_NAMESPACE);
    let _ = runs(client, execution_namespace)
        .delete_collection(
            &DeleteParams::background(),
            &ListParams::default().labels(&selector),
        )
        .await;
}

/// How the E2E bundle will behave for one PipelineRun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub resolvable: bool,
    pub exit_code: i32,
    pub sleep_seconds: u64,
}

/// Reads a PipelineRun's bundle and params the way the E2E bundle would act on them.
pub fn plan(run: &Value) -> Plan {
    let params: BTreeMap<&str, &str> = run["spec"]["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["name"].as_str()?, p["value"].as_str()?)))
        .collect();
    let bundle = run["spec"]["pipelineRef"]["params"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "bundle")
        .and_then(|p| p["value"].as_str())
        .unwrap_or_default();
    Plan {
        resolvable: !bundle.contains(UNRESOLVABLE_BUNDLE_MARK),
        exit_code: params
            .get("EXIT_CODE")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        sleep_seconds: params
            .get("SLEEP_SECONDS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    }
}

fn succeeded(status: &str, reason: &str, message: &str, now: Timestamp) -> Value {
    json!([{"type": "Succeeded", "status": status, "reason": reason, "message": message, "lastTransitionTime": now.to_string()}])
}

/// Plays Tekton for the PipelineRuns of WFEs in namespace `ns` until aborted.
pub async fn simulate(client: Client, execution_namespace: String, ns: String) {
    let runs_api = runs(&client, &execution_namespace);
    let tasks_api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &execution_namespace, &task_run_resource());
    loop {
        for run in runs_of_namespace_quiet(&client, &execution_namespace, &ns).await {
            if let Err(e) = step(&runs_api, &tasks_api, &run).await {
                eprintln!("simulated Tekton: {e}");
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn runs_of_namespace_quiet(
    client: &Client,
    execution_namespace: &str,
    ns: &str,
) -> Vec<DynamicObject> {
    let selector = format!("{}={ns}", keys::LABEL_SOURCE_NAMESPACE);
    runs(client, execution_namespace)
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// Advances one PipelineRun: new → running (or failed if unresolvable) → finished after its sleep.
async fn step(
    runs_api: &Api<DynamicObject>,
    tasks_api: &Api<DynamicObject>,
    run: &DynamicObject,
) -> Result<(), String> {
    let name = run.metadata.name.clone().unwrap_or_default();
    if run.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let value = serde_json::to_value(run).map_err(|e| e.to_string())?;
    let status = &value["status"];
    let condition = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Succeeded"))
        .cloned();
    let now = Timestamp::now();
    let plan = plan(&value);
    let patch_status = |body: Value| patch_run_status(runs_api, name.clone(), body);
    match condition.as_ref().and_then(|c| c["status"].as_str()) {
        None if !plan.resolvable => {
            let message = format!(
                "Error retrieving pipeline for pipelinerun {name}: invalid bundle reference: image not found"
            );
            patch_status(
                json!({"startTime": now.to_string(), "completionTime": now.to_string(),
                "conditions": succeeded("False", "CouldntGetPipeline", &message, now)}),
            )
            .await
        }
        None => {
            let task_run = format!("{name}-{TASK_NAME}");
            create_task_run(tasks_api, run, &task_run, now).await?;
            patch_status(json!({"startTime": now.to_string(),
                "childReferences": [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": task_run, "pipelineTaskName": TASK_NAME}],
                "conditions": succeeded("Unknown", "Running", "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 1, Skipped: 0", now)}))
            .await
        }
        Some("Unknown") => {
            let started: Timestamp = status["startTime"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(now);
            if now.duration_since(started).as_secs() < plan.sleep_seconds as i64 {
                return Ok(());
            }
            let task_run = format!("{name}-{TASK_NAME}");
            finish_task_run(tasks_api, &task_run, plan.exit_code, now).await?;
            let body = if plan.exit_code == 0 {
                json!({"completionTime": now.to_string(),
                    "conditions": succeeded("True", "Succeeded", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0", now)})
            } else {
                json!({"completionTime": now.to_string(),
                    "conditions": succeeded("False", "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0", now)})
            };
            patch_status(body).await
        }
        Some(_) => Ok(()),
    }
}

async fn patch_run_status(
    runs_api: &Api<DynamicObject>,
    name: String,
    body: Value,
) -> Result<(), String> {
    runs_api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": body })),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot patch PipelineRun {name} status: {e}"))
}

async fn create_task_run(
    tasks_api: &Api<DynamicObject>,
    run: &DynamicObject,
    name: &str,
    now: Timestamp,
) -> Result<(), String> {
    let owner = json!([{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": run.metadata.name, "uid": run.metadata.uid,
        "controller": true, "blockOwnerDeletion": true}]);
    let body = json!({
        "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": {"name": name, "ownerReferences": owner, "labels": {"tekton.dev/pipelineRun": run.metadata.name, "tekton.dev/pipelineTask": TASK_NAME}},
        "spec": {"taskSpec": {"steps": [{"name": TASK_NAME, "image": "busybox", "script": "echo simulated"}]}},
    });
    let object: DynamicObject = serde_json::from_value(body).map_err(|e| e.to_string())?;
    match tasks_api.create(&PostParams::default(), &object).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(format!("cannot create TaskRun {name}: {e}")),
    }
    tasks_api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": {"startTime": now.to_string(), "podName": format!("{name}-pod"),
            "conditions": succeeded("Unknown", "Running", "Not all Steps in the Task have finished executing", now)}})))
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot patch TaskRun {name} status: {e}"))
}

async fn finish_task_run(
    tasks_api: &Api<DynamicObject>,
    name: &str,
    exit_code: i32,
    now: Timestamp,
) -> Result<(), String> {
    let status = if exit_code == 0 {
        json!({"completionTime": now.to_string(),
            "steps": [{"name": TASK_NAME, "container": format!("step-{TASK_NAME}"), "terminated": {"exitCode": 0, "reason": "Completed"}}],
            "conditions": succeeded("True", "Succeeded", "All Steps have completed executing", now)})
    } else {
        json!({"completionTime": now.to_string(),
            "steps": [{"name": TASK_NAME, "container": format!("step-{TASK_NAME}"), "terminated": {"exitCode": exit_code, "reason": "Error"}}],
            "conditions": succeeded("False", "Failed", &format!("\"step-{TASK_NAME}\" exited with code {exit_code}"), now)})
    };
    tasks_api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot finish TaskRun {name}: {e}"))
}
