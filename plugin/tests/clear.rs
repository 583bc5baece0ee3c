//! `clear` against a mocked API server: the exact patch, dry run, the webhook's denial verbatim,
//! local refusals before any round trip, and the missing WFE/CRD paths.

use http::Method;
use serde_json::{Value, json};
use wfe_api::block::CLEAR_REASON_PLACEHOLDER;
use wfe_plugin::PluginError;

mod support;
use support::*;

// ---- clear ------------------------------------------------------------------------------

fn stamped_answer(dry_run: bool) -> Answer {
    let mut status = failed_status(true, 0);
    status["blockClearance"] = json!({"clearedBy": "alice", "clearedByGroups": ["oncall", "system:authenticated"],
        "clearedAt": "2026-03-01T12:09:59.123456Z", "clearReason": REASON,
        "clearMethod": "KubernetesAdmissionWebhook", "admissionRequestUID": if dry_run { "dry" } else { "adm-1" },
        "clearedFailureAt": "2026-03-01T12:00:42Z"});
    Answer::Reply(200, wfe("boom", status))
}

fn expect_clear_patch(dry_run: bool, answer: Answer) -> Exchange {
    Exchange {
        method: Method::PATCH,
        path: format!("{WFES}/boom/status"),
        check: Box::new(move |query, content_type, body| {
            assert_eq!(content_type, Some("application/merge-patch+json"));
            assert_eq!(
                body,
                &json!({"status": {"blockClearanceRequest": {"clearReason": REASON}}}),
                "exactly the documented patch, the reason byte for byte"
            );
            assert!(query.contains("fieldManager=kubectl-wfe"), "{query}");
            assert_eq!(query.contains("dryRun=All"), dry_run, "{query}");
        }),
        answer,
    }
}

#[tokio::test]
async fn clear_sends_the_documented_patch_and_prints_the_stamped_record() {
    let out = run(
        &["clear", "boom", "--reason", REASON],
        vec![
            expect(
                Method::GET,
                format!("{WFES}/boom"),
                Answer::Reply(200, wfe("boom", failed_status(true, 0))),
            ),
            expect_clear_patch(false, stamped_answer(false)),
        ],
    )
    .await
    .unwrap();
    assert!(
        out.stdout
            .contains("Block of team-a/boom on team-a/Deployment/payment-api cleared"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("clearedBy:            alice"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("admissionRequestUID:  adm-1"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn clear_dry_run_asks_for_dry_run_all_and_says_nothing_was_saved() {
    let out = run(
        &[
            "clear",
            "boom",
            "-n",
            "team-a",
            "--reason",
            REASON,
            "--dry-run",
            "-o",
            "json",
        ],
        vec![
            expect(
                Method::GET,
                format!("{WFES}/boom"),
                Answer::Reply(200, wfe("boom", failed_status(true, 0))),
            ),
            expect_clear_patch(true, stamped_answer(true)),
        ],
    )
    .await
    .unwrap();
    let record: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(record["clearedBy"], "alice");
    assert_eq!(record["clearReason"], REASON);
}

#[tokio::test]
async fn clear_prints_the_webhooks_denial_verbatim() {
    for code in [400u16, 403] {
        let message = "admission webhook \"clearance.workflowexecution.kubernaut.ai\" denied the request: block clearance denied: user \"bob\" may not update workflowexecutions/blockclearance in namespace \"team-a\"";
        let e = run(
            &["clear", "boom", "--reason", REASON],
            vec![
                expect(
                    Method::GET,
                    format!("{WFES}/boom"),
                    Answer::Reply(200, wfe("boom", failed_status(true, 0))),
                ),
                expect_clear_patch(
                    false,
                    status_error(code, "Forbidden", message, Some("boom")),
                ),
            ],
        )
        .await
        .unwrap_err();
        match &e {
            PluginError::Denied {
                code: c,
                message: m,
            } => {
                assert_eq!((*c, m.as_str()), (code, message));
            }
            other => panic!("expected the denial, got {other:?}"),
        }
        assert_eq!(e.to_string(), message, "verbatim");
    }
}

#[tokio::test]
async fn clear_refuses_locally_before_any_round_trip() {
    // No request at all: the reason rules (and the placeholder) are checked first.
    for reason in ["looks fine now", CLEAR_REASON_PLACEHOLDER] {
        let e = run(&["clear", "boom", "--reason", reason], vec![])
            .await
            .unwrap_err();
        assert!(matches!(e, PluginError::Refused(_)), "{e:?}");
    }
    // A WFE that is not blocking: one GET, no patch.
    let completed = json!({"phase": "Completed", "completionTime": "2026-03-01T12:00:42Z"});
    let e = run(
        &["clear", "ok", "--reason", REASON],
        vec![expect(
            Method::GET,
            format!("{WFES}/ok"),
            Answer::Reply(200, wfe("ok", completed)),
        )],
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("team-a/ok is not blocking"), "{e}");
}

#[tokio::test]
async fn clear_without_a_webhook_says_the_block_is_not_cleared() {
    let mut status = failed_status(true, 0);
    status["blockClearanceRequest"] = json!({"clearReason": REASON});
    let e = run(
        &["clear", "boom", "--reason", REASON],
        vec![
            expect(
                Method::GET,
                format!("{WFES}/boom"),
                Answer::Reply(200, wfe("boom", failed_status(true, 0))),
            ),
            expect_clear_patch(false, Answer::Reply(200, wfe("boom", status))),
        ],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::NotStamped(_)), "{e:?}");
}

#[tokio::test]
async fn clear_of_a_missing_wfe_or_crd_names_it() {
    let e = run(
        &["clear", "nope", "--reason", REASON],
        vec![expect(
            Method::GET,
            format!("{WFES}/nope"),
            status_error(
                404,
                "NotFound",
                "workflowexecutions.kubernaut.ai \"nope\" not found",
                Some("nope"),
            ),
        )],
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "WorkflowExecution team-a/nope not found");
    let e = run(
        &["clear", "nope", "--reason", REASON],
        vec![expect(
            Method::GET,
            format!("{WFES}/nope"),
            status_error(
                404,
                "NotFound",
                "the server could not find the requested resource",
                None,
            ),
        )],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::CrdMissing), "{e:?}");
}
