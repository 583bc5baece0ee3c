//! The executor's API calls: status reads and writes, PipelineRun create, delete and TaskRun lookup.

use super::*;

/// The object as stored now (GET of the status subresource), bypassing the watch cache.
pub(super) async fn read_status(
    ctx: &Context,
    wfe: &WorkflowExecution,
) -> Result<WorkflowExecution, Error> {
    let (name, namespace) = name_and_namespace(wfe)?;
    ctx.wfe_api(namespace)
        .get_status(name)
        .await
        .map_err(|source| Error::Kube {
            call: "get workflowexecutions/status",
            source,
        })
}

/// Server-side applies `status` (never the operator/webhook-owned clearance fields), with the
/// resourceVersion the decision was based on so a stale decision is rejected, not applied.
pub(super) async fn write_status(
    ctx: &Context,
    wfe: &WorkflowExecution,
    status: &WorkflowExecutionStatus,
) -> Result<WorkflowExecution, Error> {
    let (name, namespace) = name_and_namespace(wfe)?;
    let mut ours = status.clone();
    ours.block_clearance = None;
    ours.block_clearance_request = None;
    let body = json!({
        "apiVersion": WorkflowExecution::api_version(&()),
        "kind": WorkflowExecution::kind(&()),
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": wfe.metadata.resource_version},
        "status": ours,
    });
    let params = PatchParams::apply(keys::FIELD_MANAGER).force();
    match ctx
        .wfe_api(namespace)
        .patch_status(name, &params, &Patch::Apply(&body))
        .await
    {
        Ok(w) => Ok(w),
        Err(e) if is_status(&e, 409) => Err(Error::Conflict(format!("{namespace}/{name}"))),
        Err(e) => Err(Error::Kube {
            call: "patch workflowexecutions/status",
            source: e,
        }),
    }
}

pub(super) enum Created {
    Yes(Box<RunView>),
    AlreadyExists,
    Rejected { code: u16, message: String },
}

pub(super) async fn create_run(ctx: &Context, wfe: &WorkflowExecution) -> Result<Created, Error> {
    let run = tekton::build_pipeline_run(wfe, &ctx.settings)?;
    match ctx
        .run_api()
        .create(
            &PostParams {
                field_manager: Some(keys::FIELD_MANAGER.to_owned()),
                ..Default::default()
            },
            &run,
        )
        .await
    {
        Ok(o) => {
            info!(wfe = %wfe.name_any(), pipelinerun = ?o.metadata.name, "PipelineRun created");
            Ok(Created::Yes(Box::new(RunView::from_object(&o))))
        }
        Err(e) if is_status(&e, 409) => Ok(Created::AlreadyExists),
        // Retrying cannot fix these (RBAC, admission, schema): record a pre-execution failure.
        Err(kube::Error::Api(s)) if matches!(s.code, 400 | 403 | 404 | 422) => {
            Ok(Created::Rejected {
                code: s.code,
                message: s.message.clone(),
            })
        }
        Err(e) => Err(Error::Kube {
            call: "create pipelineruns",
            source: e,
        }),
    }
}

/// Deletes a PipelineRun the decision core proved may be deleted, preconditioned on its UID so
/// a newer run of the same name (someone else's lock) is never hit.
pub(super) async fn delete_run(ctx: &Context, run: &RunDeletion) -> Result<(), Error> {
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(run.uid.clone()),
            resource_version: None,
        }),
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match ctx.run_api().delete(&run.name, &params).await {
        Ok(_) => Ok(()),
        // Already gone, or replaced by another run (UID precondition failed): nothing of ours left.
        Err(e) if is_status(&e, 404) || is_status(&e, 409) => Ok(()),
        Err(e) => Err(Error::Kube {
            call: "delete pipelineruns",
            source: e,
        }),
    }
}

/// GETs the run's child TaskRuns in order and returns the first one that failed.
pub(super) async fn find_failed_task(
    ctx: &Context,
    run: &RunView,
) -> Result<Option<FailedTask>, Error> {
    let api = ctx.task_run_api();
    for (index, child) in run.task_runs.iter().enumerate() {
        let Some(obj) = api
            .get_opt(&child.name)
            .await
            .map_err(kube_err("get taskruns"))?
        else {
            continue;
        };
        let task_run = TaskRunView::from_object(&obj);
        if task_run.failed() {
            return Ok(Some(FailedTask {
                task_name: child
                    .pipeline_task_name
                    .clone()
                    .unwrap_or_else(|| child.name.clone()),
                index: i32::try_from(index).unwrap_or(i32::MAX),
                task_run,
            }));
        }
    }
    Ok(None)
}

/// The PipelineRun `name`, read from the API server (not the cache).
pub(super) async fn get_run(ctx: &Context, name: &str) -> Result<Option<RunView>, Error> {
    Ok(ctx
        .run_api()
        .get_opt(name)
        .await
        .map_err(kube_err("get pipelinerun"))?
        .map(|o| RunView::from_object(&o)))
}
