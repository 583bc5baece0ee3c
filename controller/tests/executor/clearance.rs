//! A persisted clearance: a valid one releases the block, a forged one is reported.

use super::*;

#[tokio::test]
async fn persisted_clearance_releases_the_block_with_event_metric_and_audit() {
    let (mut a, _) = blocked_failed_wfe();
    let status = a.status.as_mut().unwrap();
    assert!(
        status
            .failure_details
            .as_ref()
            .unwrap()
            .was_execution_failure
    );
    let failed_at = status.failure_details.as_deref().unwrap().failed_at.clone();
    status.block_clearance = Some(Box::new(wfe_api::BlockClearance {
        cleared_by: "alice@example.com".into(),
        cleared_by_uid: None,
        cleared_by_groups: vec!["sre".into()],
        cleared_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(ago(5)),
        clear_reason: "rolled back by hand and verified healthy, safe to remediate again now"
            .into(),
        clear_method: keys::CLEAR_METHOD_WEBHOOK.into(),
        admission_request_uid: "adm-1".into(),
        cleared_failure_at: Some(failed_at),
    }));
    let mut h = harness(&[&a], &[]);
    let w = a.clone();
    let script = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let c = condition(&body, keys::CONDITION_TARGET_BLOCKED);
            assert_eq!(
                (c["status"].as_str(), c["reason"].as_str()),
                (Some("False"), Some("BlockCleared"))
            );
            assert!(
                body["status"].get("blockClearance").is_none(),
                "the controller never applies webhook-owned fields"
            );
            assert_eq!(
                body["status"]["failureDetails"]["wasExecutionFailure"], true,
                "evidence is kept"
            );
            echo_with_clearance(&w, &body, "2")
        }),
        expect_event("BlockCleared", "Normal"),
        expect_audited(&[
            "workflowexecution.workflow.started",
            "workflowexecution.workflow.failed",
            "workflowexecution.block.cleared",
        ]),
    ];
    run_script(&mut h, &a, script).await.unwrap();
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::BlockCleared)]
    );
    assert_eq!(counter(&h, |m| m.block_clearances.get()), 1);
}

/// The attack of issue 11: the controller's token wrote a record in alice's name, with the
/// webhook's method and bound to the failure. The block stays; a Warning event, the metric and an
/// audit record report it.
#[tokio::test]
async fn a_clearance_written_by_the_controllers_identity_keeps_the_block_and_is_reported() {
    let (mut a, _) = blocked_failed_wfe();
    let status = a.status.as_mut().unwrap();
    let failed_at = status.failure_details.as_deref().unwrap().failed_at.clone();
    let controller = wfe_api::identity::UserInfo {
        username: keys::DEFAULT_CONTROLLER_USERNAME.into(),
        ..Default::default()
    };
    status.block_clearance = Some(Box::new(
        wfe_api::block::stamp_clearance(
            &controller,
            "rolled back by hand and verified healthy, safe to remediate again now".into(),
            ago(5),
            Some(failed_at),
            "adm-forged",
        )
        .to_record(),
    ));
    let mut h = harness(&[&a], &[]);
    let w = a.clone();
    let script = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let c = condition(&body, keys::CONDITION_TARGET_BLOCKED);
            assert_eq!(
                (c["status"].as_str(), c["reason"].as_str()),
                (Some("True"), Some("PreviousExecutionFailed")),
                "the block stays"
            );
            assert!(
                c["message"]
                    .as_str()
                    .unwrap()
                    .contains("the controller's identity"),
                "{c}"
            );
            echo_with_clearance(&w, &body, "2")
        }),
        expect_event("ForgedClearance", "Warning"),
        expect_audited(&[
            "workflowexecution.workflow.started",
            "workflowexecution.workflow.failed",
            "workflowexecution.block.clearance_forged",
        ]),
    ];
    run_script(&mut h, &a, script).await.unwrap();
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::ClearanceForged)]
    );
    assert_eq!(counter(&h, |m| m.forged_clearances.get()), 1);
    assert_eq!(counter(&h, |m| m.block_clearances.get()), 0);
}
