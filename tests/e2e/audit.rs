//! Audit trail (DESIGN §6): the file sink holds each transition's event exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use wfe_api::{AuditEventType, Phase, WorkflowExecution, keys};

use crate::clearance;
use crate::harness::{CLEARER_USER, e2e};
use crate::wfe::{self, Behaviour};

fn audited(w: &WorkflowExecution) -> Vec<AuditEventType> {
    w.status
        .as_ref()
        .map(|s| s.audited_events.clone())
        .unwrap_or_default()
}

/// Event counts by (WFE name, event type) for namespace `ns`, from JSON lines.
pub fn count_events(text: &str, ns: &str) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if event["namespace"].as_str() != Some(ns) {
            continue;
        }
        let (Some(kind), Some(resource)) =
            (event["event_type"].as_str(), event["resource_id"].as_str())
        else {
            continue;
        };
        let name = resource.split('/').next().unwrap_or(resource).to_owned();
        *counts.entry((name, kind.to_owned())).or_insert(0) += 1;
    }
    counts
}

#[test]
fn audit_file_holds_each_transition_exactly_once() {
    e2e("audit", |ctx| async move {
        let Some(path) = ctx.audit_path.clone() else {
            println!(
                "skipped: audit file check needs WFE_E2E_MODE=external (the suite configures the file sink)"
            );
            return;
        };
        wfe::create(
            &ctx,
            &wfe::new(
                &ctx,
                "good",
                &ctx.target("audit-good"),
                Behaviour::Succeed { seconds: 0 },
            ),
        )
        .await;
        wfe::create(
            &ctx,
            &wfe::new(
                &ctx,
                "bad",
                &ctx.target("audit-bad"),
                Behaviour::FailInTask { code: 4 },
            ),
        )
        .await;
        wfe::wait_phase(&ctx, "good", Phase::Completed).await;
        wfe::wait(&ctx, "bad", "to fail and block", |w| {
            w.phase() == Phase::Failed
                && wfe::condition(w, keys::CONDITION_TARGET_BLOCKED)
                    .is_some_and(|c| c.status == "True")
        })
        .await;
        // While "bad" blocks its target, another WFE there is skipped: the local sink must
        // record that decision once, naming the blocking WFE.
        wfe::create(
            &ctx,
            &wfe::new(
                &ctx,
                "skipped",
                &ctx.target("audit-bad"),
                Behaviour::Succeed { seconds: 0 },
            ),
        )
        .await;
        wfe::wait(
            &ctx,
            "skipped",
            "to be skipped and its record written",
            |w| {
                w.phase() == Phase::Skipped && audited(w).contains(&AuditEventType::WorkflowSkipped)
            },
        )
        .await;
        clearance::clear(&ctx, "bad").await;

        use AuditEventType::*;
        let good = wfe::wait(&ctx, "good", "to have its audit acknowledged", |w| {
            let a = audited(w);
            a.contains(&WorkflowStarted) && a.contains(&WorkflowCompleted)
        })
        .await;
        wfe::wait(&ctx, "bad", "to have its audit acknowledged", |w| {
            let a = audited(w);
            a.contains(&WorkflowStarted) && a.contains(&WorkflowFailed) && a.contains(&BlockCleared)
        })
        .await;
        assert!(
            wfe::condition(&good, keys::CONDITION_AUDIT_RECORDED)
                .is_some_and(|c| c.status == "True")
        );
        // Give a duplicate (a retried delivery, a conflict retry) time to show up.
        tokio::time::sleep(Duration::from_secs(3)).await;

        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read audit file {}: {e}", path.display()));
        // Distinct events first (every transition audited), then delivery exactly once (no event
        // id written twice: a redelivery before status.auditedEvents recorded the first one).
        let distinct = count_events(&dedupe_by_event_id(&text), &ctx.ns);
        let counts = count_events(&text, &ctx.ns);
        let expected: BTreeMap<(String, String), usize> = [
            ("good", WorkflowStarted),
            ("good", WorkflowCompleted),
            ("bad", WorkflowStarted),
            ("bad", WorkflowFailed),
            ("bad", BlockCleared),
        ]
        .into_iter()
        .map(|(n, t)| ((n.to_owned(), t.as_str().to_owned()), 1))
        .collect();
        assert_eq!(
            distinct,
            expected,
            "distinct audit events in {}",
            path.display()
        );
        assert_eq!(
            counts,
            expected,
            "audit events must be written exactly once; {} holds the same event id more than once",
            path.display()
        );

        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| {
                e["namespace"].as_str() == Some(ctx.ns.as_str()) && e.get("event_type").is_some()
            })
            .collect();
        for e in &events {
            let name = e["resource_id"]
                .as_str()
                .and_then(|r| r.split('/').next())
                .unwrap_or_default();
            assert_eq!(
                e["correlation_id"].as_str(),
                Some(format!("rr-{name}").as_str()),
                "correlation id = remediationRequestRef.name: {e}"
            );
            assert_eq!(e["event_category"], "workflowexecution");
        }
        let cleared = events
            .iter()
            .find(|e| e["event_type"] == BlockCleared.as_str())
            .expect("block.cleared event");
        assert_eq!(cleared["actor_id"].as_str(), Some(CLEARER_USER));

        // Every skip is in the trail exactly once, with why and what blocked it.
        let skips: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| {
                r["record"] == WorkflowSkipped.as_str()
                    && r["namespace"].as_str() == Some(ctx.ns.as_str())
            })
            .collect();
        assert_eq!(skips.len(), 1, "one skip record: {skips:?}");
        assert_eq!(
            skips[0]["skip_details"]["reason"], "PreviousExecutionFailed",
            "{skips:?}"
        );
        assert_eq!(
            skips[0]["skip_details"]["blockingWorkflow"]["name"], "bad",
            "{skips:?}"
        );
    });
}

/// The JSON lines with the first occurrence of each `event_id` only (lines without one are kept).
pub fn dedupe_by_event_id(text: &str) -> String {
    let mut seen = std::collections::BTreeSet::new();
    text.lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|e| e["event_id"].as_str().map(str::to_owned))
                .is_none_or(|id| seen.insert(id))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dedupe_keeps_the_first_line_of_each_event_id() {
    let text =
        "{\"event_id\":\"a\",\"n\":1}\n{\"event_id\":\"a\",\"n\":2}\n{\"event_id\":\"b\"}\nplain";
    assert_eq!(
        dedupe_by_event_id(text),
        "{\"event_id\":\"a\",\"n\":1}\n{\"event_id\":\"b\"}\nplain"
    );
}

#[test]
fn counting_reads_only_events_of_the_namespace() {
    let text = r#"{"event_type":"workflowexecution.workflow.started","resource_id":"a/uid-1","namespace":"ns1"}
{"event_type":"workflowexecution.workflow.started","resource_id":"a/uid-1","namespace":"ns1"}
{"event_type":"workflowexecution.workflow.started","resource_id":"b/uid-2","namespace":"ns2"}
{"record":"quarantined","event":{}}
not json
"#;
    let counts = count_events(text, "ns1");
    assert_eq!(
        counts,
        BTreeMap::from([(
            (
                "a".to_owned(),
                "workflowexecution.workflow.started".to_owned()
            ),
            2
        )])
    );
}
