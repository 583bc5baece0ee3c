//! Spec admission (DESIGN §3.1, §5): every violation in one message, and immutability.

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use wfe_api::Phase;

use crate::cluster;
use crate::harness::e2e;
use crate::wfe::{self, Behaviour};

#[test]
fn invalid_spec_is_rejected_with_every_violation_and_its_field_path() {
    e2e("spec-validation", |ctx| async move {
        let mut manifest = wfe::manifest(
            "invalid",
            "not a target",
            &ctx.settings.bundle,
            &[("lower_case", "x"), ("TARGET_RESOURCE", "mine")],
        );
        manifest["spec"]["executionConfig"] =
            json!({"timeout": "100h", "serviceAccountName": "not-allowed"});
        let result = wfe::api(&ctx)
            .create(&PostParams::default(), &wfe::typed(manifest))
            .await;
        let m = cluster::denial("invalid spec", result);
        assert!(
            m.contains("validate.workflowexecution.kubernaut.ai"),
            "the validating webhook answers: {m}"
        );
        for path in [
            "spec.targetResource",
            "spec.parameters[lower_case]",
            "spec.parameters[TARGET_RESOURCE]",
            "spec.executionConfig.timeout",
            "spec.executionConfig.serviceAccountName",
        ] {
            assert!(m.contains(path), "violation of {path} missing from: {m}");
        }
        // Dry run gets the same answer and stores nothing.
        let valid = wfe::new(
            &ctx,
            "dry",
            &ctx.target("dry"),
            Behaviour::Succeed { seconds: 0 },
        );
        wfe::api(&ctx)
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &valid,
            )
            .await
            .expect("a valid spec passes (dry run)");
        assert!(
            wfe::api(&ctx).get_opt("dry").await.expect("get").is_none(),
            "dry-run create stored an object"
        );
    });
}

#[test]
fn spec_is_immutable_after_creation() {
    e2e("spec-immutable", |ctx| async move {
        let target = ctx.target("fixed");
        wfe::create(
            &ctx,
            &wfe::new(&ctx, "fixed", &target, Behaviour::Succeed { seconds: 0 }),
        )
        .await;
        wfe::wait_phase(&ctx, "fixed", Phase::Completed).await;
        for (field, patch) in [
            (
                "targetResource",
                json!({"spec": {"targetResource": ctx.target("elsewhere")}}),
            ),
            (
                "parameters",
                json!({"spec": {"parameters": {"EXIT_CODE": "1"}}}),
            ),
            (
                "workflowRef",
                json!({"spec": {"workflowRef": {"version": "v2"}}}),
            ),
        ] {
            let result = wfe::api(&ctx)
                .patch("fixed", &PatchParams::default(), &Patch::Merge(patch))
                .await;
            let m = cluster::denial(&format!("changing spec.{field}"), result);
            assert!(
                m.contains("spec") || m.contains("immutable"),
                "{field}: {m}"
            );
        }
        let stored = wfe::api(&ctx).get("fixed").await.expect("get");
        assert_eq!(stored.spec.target_resource, target);
        assert_eq!(stored.spec.parameters.get("EXIT_CODE"), Some("0"));
        assert_eq!(stored.spec.workflow_ref.version, "v1");
        // Metadata stays editable (labels are not spec).
        wfe::api(&ctx)
            .patch(
                "fixed",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"team": "sre"}}})),
            )
            .await
            .expect("labels can change");
    });
}
