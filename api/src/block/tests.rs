use super::*;
use crate::{FailureDetails, FailureReason};

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

const FAILED_AT: &str = "2026-11-22T01:00:00Z";
const NOW: &str = "2026-11-22T02:12:00.123456789Z";
const CONTROLLER: &str = keys::DEFAULT_CONTROLLER_USERNAME;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        username: name.to_owned(),
        uid: Some(format!("uid-{name}")),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..UserInfo::default()
    }
}

fn alice() -> UserInfo {
    user("alice", &["sre", "system:authenticated"])
}

fn failed(execution: bool, failures: i32) -> WorkflowExecutionStatus {
    WorkflowExecutionStatus {
        phase: Some(Phase::Failed),
        consecutive_failures: Some(failures),
        failure_details: Some(Box::new(FailureDetails {
            reason: FailureReason::TaskFailed,
            message: "task failed".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: Time(t(FAILED_AT)),
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: execution,
        })),
        ..WorkflowExecutionStatus::default()
    }
}

fn stamped(by: &UserInfo) -> BlockClearance {
    stamp_clearance(
        by,
        "reason".into(),
        t(NOW),
        Some(Time(t(FAILED_AT))),
        "req-1",
    )
    .to_record()
}

#[test]
fn blocking_kind_follows_phase_failure_kind_and_limit() {
    let policy = BlockPolicy::default();
    let kind = |s: &WorkflowExecutionStatus| BlockFacts::from(s).blocking_kind(&policy);
    assert_eq!(
        kind(&failed(true, 0)),
        Some(BlockKind::PreviousExecutionFailed)
    );
    assert_eq!(kind(&failed(false, 4)), None);
    assert_eq!(kind(&failed(false, 5)), Some(BlockKind::ExhaustedRetries));
    assert_eq!(kind(&failed(false, 9)), Some(BlockKind::ExhaustedRetries));
    for phase in [
        Phase::Pending,
        Phase::Running,
        Phase::Completed,
        Phase::Skipped,
    ] {
        let mut s = failed(true, 9);
        s.phase = Some(phase);
        assert_eq!(kind(&s), None, "{phase:?} never blocks");
    }
    let no_details = WorkflowExecutionStatus {
        phase: Some(Phase::Failed),
        ..Default::default()
    };
    assert_eq!(kind(&no_details), None);
    let strict = BlockPolicy {
        max_consecutive_failures: 2,
        ..BlockPolicy::default()
    };
    assert_eq!(
        BlockFacts::from(&failed(false, 2)).blocking_kind(&strict),
        Some(BlockKind::ExhaustedRetries)
    );
    assert!(BlockKind::PreviousExecutionFailed > BlockKind::ExhaustedRetries);
    assert_eq!(BlockKind::ExhaustedRetries.as_str(), "ExhaustedRetries");
}

/// Every persisted record × the verdict the controller reaches on it.
#[test]
fn only_a_webhook_stamped_record_for_this_failure_by_a_clearer_releases_the_block() {
    let policy = BlockPolicy::default();
    let mut sa_allowed = policy.clone();
    sa_allowed
        .clearance
        .allow_service_accounts
        .push("system:serviceaccount:ops:bot".into());
    let bot = user("system:serviceaccount:ops:bot", &[]);
    type Edit = fn(&mut BlockClearance);
    type Case<'a> = (
        &'a str,
        UserInfo,
        Edit,
        &'a BlockPolicy,
        Option<Vec<RecordProblem>>,
    );
    let cases: Vec<Case<'_>> = vec![
        ("alice, as stamped", alice(), |_| {}, &policy, None),
        (
            "allow-listed service account",
            bot.clone(),
            |_| {},
            &sa_allowed,
            None,
        ),
        (
            // Allow-lists, groups and RBAC were judged when the record was written; a later
            // configuration change must not re-block a target an operator already cleared.
            "service account no longer allow-listed",
            bot.clone(),
            |_| {},
            &policy,
            None,
        ),
        (
            "the controller's token",
            user(CONTROLLER, &[]),
            |_| {},
            &policy,
            Some(vec![RecordProblem::Identity(IdentityRefusal::Controller(
                CONTROLLER.into(),
            ))]),
        ),
        (
            "the runner",
            user(DEFAULT_RUNNER_USERNAME, &[]),
            |_| {},
            &policy,
            Some(vec![RecordProblem::Identity(IdentityRefusal::Runner(
                DEFAULT_RUNNER_USERNAME.into(),
            ))]),
        ),
        (
            "anonymous",
            user("system:anonymous", &[]),
            |_| {},
            &policy,
            Some(vec![RecordProblem::Identity(IdentityRefusal::Anonymous)]),
        ),
        (
            "hand-written method",
            alice(),
            |c| c.clear_method = "kubectl".into(),
            &policy,
            Some(vec![RecordProblem::Method("kubectl".into())]),
        ),
        (
            "bound to another failure",
            alice(),
            |c| c.cleared_failure_at = Some(Time(t("2026-11-21T00:00:00Z"))),
            &policy,
            Some(vec![RecordProblem::NotBoundToFailure]),
        ),
        (
            "bound to no failure",
            alice(),
            |c| c.cleared_failure_at = None,
            &policy,
            Some(vec![RecordProblem::NotBoundToFailure]),
        ),
        (
            "everything wrong at once",
            user(CONTROLLER, &[]),
            |c| {
                c.clear_method = "x".into();
                c.cleared_failure_at = None;
            },
            &policy,
            Some(vec![
                RecordProblem::Method("x".into()),
                RecordProblem::NotBoundToFailure,
                RecordProblem::Identity(IdentityRefusal::Controller(CONTROLLER.into())),
            ]),
        ),
    ];
    for (name, by, edit, policy, want) in cases {
        let mut status = failed(true, 0);
        let mut record = stamped(&by);
        edit(&mut record);
        status.block_clearance = Some(Box::new(record));
        let facts = BlockFacts::from(&status);
        let verdict = facts.clearance(policy);
        match want {
            None => {
                assert!(
                    matches!(verdict, ClearanceVerdict::Valid(_)),
                    "{name}: {verdict:?}"
                );
                assert!(facts.is_cleared(policy), "{name}");
                assert_eq!(facts.active_block(policy), None, "{name}");
            }
            Some(problems) => {
                match &verdict {
                    ClearanceVerdict::Rejected { problems: got, .. } => {
                        assert_eq!(got, &problems, "{name}")
                    }
                    other => panic!("{name}: expected a rejection, got {other:?}"),
                }
                assert_eq!(
                    facts.active_block(policy),
                    Some(BlockKind::PreviousExecutionFailed),
                    "{name}: the block stays"
                );
            }
        }
    }
    let bare = failed(true, 0);
    assert_eq!(
        BlockFacts::from(&bare).clearance(&policy),
        ClearanceVerdict::Absent
    );
    // A record on a failure that blocks nothing releases nothing (step 3 is part of the rule).
    let mut not_blocking = failed(false, 1);
    not_blocking.block_clearance = Some(Box::new(stamped(&alice())));
    assert!(!BlockFacts::from(&not_blocking).is_cleared(&policy));
}

#[test]
fn clearable_only_when_failed_blocking_and_uncleared() {
    let policy = BlockPolicy::default();
    let at = Time(t(FAILED_AT));
    assert_eq!(
        BlockFacts::from(&failed(true, 0)).clearable(&policy),
        Ok(Some(&at))
    );
    assert_eq!(
        BlockFacts::from(&failed(false, 5)).clearable(&policy),
        Ok(Some(&at))
    );
    assert_eq!(
        BlockFacts::from(&failed(false, 4)).clearable(&policy),
        Err(NotClearable::NotBlocking {
            failures: 4,
            max: 5
        })
    );
    let mut running = failed(true, 0);
    running.phase = Some(Phase::Running);
    let err = BlockFacts::from(&running).clearable(&policy).unwrap_err();
    assert_eq!(err, NotClearable::NotFailed(Some(Phase::Running)));
    assert!(err.message("ns/w").contains("phase is Running, not Failed"));
    let mut cleared = failed(true, 0);
    cleared.block_clearance = Some(Box::new(stamped(&alice())));
    let err = BlockFacts::from(&cleared).clearable(&policy).unwrap_err();
    assert_eq!(
        err.message("ns/w"),
        "WorkflowExecution ns/w was already cleared by alice at 2026-11-22T02:12:00.123456Z; a clearance is write-once, create a new WorkflowExecution if another run is needed"
    );
    // Even a forged record is write-once: it cannot be replaced through the webhook.
    let mut forged = failed(true, 0);
    forged.block_clearance = Some(Box::new(stamped(&user(CONTROLLER, &[]))));
    assert!(matches!(
        BlockFacts::from(&forged).clearable(&policy),
        Err(NotClearable::AlreadyCleared { .. })
    ));
}

#[test]
fn identities_that_may_never_clear() {
    let mut policy = BlockPolicy::default();
    assert_eq!(may_clear(&alice(), &policy), Ok(()));
    let refused = [
        (user("", &[]), IdentityRefusal::Anonymous),
        (user("system:anonymous", &[]), IdentityRefusal::Anonymous),
        (
            user("mallory", &["system:unauthenticated"]),
            IdentityRefusal::Anonymous,
        ),
        (
            user(CONTROLLER, &[]),
            IdentityRefusal::Controller(CONTROLLER.into()),
        ),
        (
            user(DEFAULT_RUNNER_USERNAME, &[]),
            IdentityRefusal::Runner(DEFAULT_RUNNER_USERNAME.into()),
        ),
        (
            user("system:serviceaccount:ci:bot", &[]),
            IdentityRefusal::ServiceAccount("system:serviceaccount:ci:bot".into()),
        ),
    ];
    for (who, why) in &refused {
        assert_eq!(may_clear(who, &policy).as_ref(), Err(why), "{who:?}");
    }
    // Allow-listing a service account admits it, but never the controller or the runner.
    policy.clearance.allow_service_accounts = vec![
        "system:serviceaccount:ci:bot".into(),
        CONTROLLER.into(),
        DEFAULT_RUNNER_USERNAME.into(),
    ];
    assert_eq!(
        may_clear(&user("system:serviceaccount:ci:bot", &[]), &policy),
        Ok(())
    );
    assert!(may_clear(&user(CONTROLLER, &[]), &policy).is_err());
    assert!(may_clear(&user(DEFAULT_RUNNER_USERNAME, &[]), &policy).is_err());
    policy.clearance.allowed_groups = vec!["sre".into()];
    assert!(policy.clearance.admits_groups(&alice()));
    assert!(!policy.clearance.admits_groups(&user("bob", &["dev"])));
}

/// Identities × what they try to add onto a blocked failure (the ownership webhook's check).
#[test]
fn added_clearance_must_be_exactly_what_the_webhook_stamps_for_the_requester() {
    let policy = BlockPolicy::default();
    let at = Time(t(FAILED_AT));
    let problems = |record: &BlockClearance, who: &UserInfo| {
        added_clearance_problems(record, who, Some(&at), &policy)
    };
    assert!(problems(&stamped(&alice()), &alice()).is_empty());

    // Alice writing a record in bob's name.
    let bob = user("bob", &["system:authenticated"]);
    assert_eq!(
        problems(&stamped(&bob), &alice()),
        vec![
            AddedClearanceProblem::ClearerMismatch {
                cleared_by: "bob".into(),
                requester: "alice".into()
            },
            AddedClearanceProblem::Uid,
            AddedClearanceProblem::Groups,
        ]
    );
    // The controller's token writing a record in alice's name.
    let controller = user(CONTROLLER, &[]);
    let got = problems(&stamped(&alice()), &controller);
    assert!(got.contains(&AddedClearanceProblem::Identity(
        IdentityRefusal::Controller(CONTROLLER.into())
    )));
    assert!(got.contains(&AddedClearanceProblem::ClearerMismatch {
        cleared_by: "alice".into(),
        requester: CONTROLLER.into()
    }));
    // The controller naming itself is still refused.
    assert_eq!(
        problems(&stamped(&controller), &controller),
        vec![AddedClearanceProblem::Identity(
            IdentityRefusal::Controller(CONTROLLER.into())
        )]
    );
    let mut hand = stamped(&alice());
    hand.clear_method = "manual".into();
    hand.cleared_failure_at = None;
    assert_eq!(
        problems(&hand, &alice()),
        vec![
            AddedClearanceProblem::Method,
            AddedClearanceProblem::FailureAt
        ]
    );
    assert_eq!(
        clearer_problem(None, &alice()),
        Some(AddedClearanceProblem::ClearerMissing)
    );
    assert_eq!(
        AddedClearanceProblem::Uid.message(),
        "status.blockClearance.clearedByUID: does not match the requesting user's uid"
    );
}

#[test]
fn stamped_record_carries_identity_server_time_in_microseconds_and_the_failure() {
    let record = stamped(&alice());
    assert_eq!(record.cleared_by, "alice");
    assert_eq!(record.cleared_by_uid.as_deref(), Some("uid-alice"));
    assert_eq!(
        record.cleared_by_groups,
        vec!["sre", "system:authenticated"]
    );
    assert_eq!(record.cleared_at.0, t("2026-11-22T02:12:00.123456Z"));
    assert_eq!(record.clear_method, keys::CLEAR_METHOD_WEBHOOK);
    assert_eq!(record.admission_request_uid, "req-1");
    assert_eq!(record.cleared_failure_at, Some(Time(t(FAILED_AT))));
    let no_uid = UserInfo {
        uid: Some(String::new()),
        ..alice()
    };
    assert_eq!(
        stamp_clearance(&no_uid, "r".into(), t(NOW), None, "x").cleared_by_uid,
        None
    );
}

#[test]
fn reason_rules_in_order_with_stable_messages() {
    let rules = ClearanceRules::default();
    let ten = "one two three four five six seven eight nine ten";
    assert_eq!(check_reason(ten, &rules), Ok(()));
    let cases = [
        (
            "   ",
            "reason is empty; set status.blockClearanceRequest.clearReason to at least 10 words explaining why it is safe to remediate the target again",
        ),
        ("a b c", "reason must have at least 10 words (got 3)"),
        (
            "a b c d e f g h i j",
            "reason must have at least 20 characters (got 19)",
        ),
        (
            CLEAR_REASON_PLACEHOLDER,
            "reason still contains the placeholder from the TargetBlocked message; replace the placeholder with your own words explaining why it is safe to remediate the target again",
        ),
    ];
    for (reason, message) in cases {
        assert_eq!(
            check_reason(reason, &rules).map_err(|p| p.to_string()),
            Err(message.to_owned()),
            "{reason:?}"
        );
    }
    let long = format!("{ten} {}", "x".repeat(1000));
    assert_eq!(
        check_reason(&long, &rules),
        Err(ReasonProblem::TooManyChars {
            max: 1000,
            got: long.chars().count()
        })
    );
    assert_eq!(
        check_reason(&format!("{ten}\u{7}"), &rules),
        Err(ReasonProblem::ControlChar('\u{7}'))
    );
    assert_eq!(check_reason(&format!("{ten}\n\tok"), &rules), Ok(()));
    // The placeholder with words around it is still the placeholder.
    assert_eq!(
        check_reason(
            &format!(
                "fixed it {} honestly",
                CLEAR_REASON_PLACEHOLDER.to_uppercase()
            ),
            &rules
        ),
        Err(ReasonProblem::Placeholder)
    );
}

#[test]
fn stored_status_view_reads_what_the_rules_need_and_skips_the_rest() {
    let mut status = failed(true, 3);
    status.block_clearance = Some(Box::new(stamped(&alice())));
    let json = serde_json::to_value(&status).expect("json");
    let mut with_noise = json.clone();
    with_noise["conditions"] = serde_json::json!([{"type": "X", "status": "True"}]);
    with_noise["unknownField"] = serde_json::json!({"deep": [1, 2]});
    let stored: StoredBlockStatus = serde_json::from_value(with_noise).expect("view");
    assert_eq!(stored.facts(), BlockFacts::from(&status));
    let empty: StoredBlockStatus = serde_json::from_value(serde_json::json!({})).expect("empty");
    assert_eq!(empty.facts(), BlockFacts::default());
}

/// The placeholder check finds exactly what lowercasing both strings would, for any text
/// (non-ASCII letters whose lowercase is ASCII included).
#[test]
fn placeholder_check_matches_the_lowercase_comparison() {
    let inner = CLEAR_REASON_PLACEHOLDER
        .trim_start_matches('<')
        .trim_end_matches('>');
    assert!(inner.is_ascii(), "the check relies on an ASCII placeholder");
    let reference = |r: &str| r.to_lowercase().contains(&inner.to_lowercase());
    let upper = inner.to_uppercase();
    let mixed: String = inner
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let cut = inner.replacen("placeholder", "place\u{212A}holder", 1);
    for text in [
        inner.to_owned(),
        upper.clone(),
        mixed.clone(),
        format!("é€ {mixed} 😀"),
        format!("İ{upper}İ"),
        inner.replace(' ', "\u{A0}"),
        cut,
        inner[..inner.len() - 1].to_owned(),
        "\u{212A}elvin and friends".to_owned(),
        String::new(),
    ] {
        assert_eq!(is_placeholder(&text), reference(&text), "{text:?}");
    }
}

proptest::proptest! {
    /// Random text around random-case pieces of the placeholder: the same answer as lowercasing.
    #[test]
    fn placeholder_check_agrees_on_random_text(
        before in "\\PC{0,12}",
        after in "\\PC{0,12}",
        upper in proptest::collection::vec(proptest::bool::ANY, 80),
        keep in 40usize..80,
    ) {
        let inner = CLEAR_REASON_PLACEHOLDER.trim_start_matches('<').trim_end_matches('>');
        let piece: String = inner
            .chars()
            .zip(upper.iter().cycle())
            .take(keep.min(inner.len()))
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
            .collect();
        let text = format!("{before}{piece}{after}");
        let reference = text.to_lowercase().contains(&inner.to_lowercase());
        proptest::prop_assert_eq!(is_placeholder(&text), reference, "{:?}", text);
    }
}
