use std::time::Duration;

use jiff::SignedDuration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use proptest::prelude::*;
use wfe_api::{BlockClearance, FailureDetails, FailureReason, PipelineRunRef, keys};
use wfe_testing::{wfe_on, with_status};

use super::*;
use crate::decision::{World, decide};
use crate::tekton::{RunOwner, RunView, SucceededCondition};

const TARGET: &str = "team-a/Deployment/payment-api";

fn names(index: &TargetIndex, target: &str) -> Vec<String> {
    index
        .relevant(target, None, None)
        .into_iter()
        .map(|r| r.name().to_owned())
        .collect()
}

fn completed(name: &str, target: &str, secs: i64) -> WorkflowExecution {
    with_status(wfe_on(name, target), |s| {
        s.phase = Some(Phase::Completed);
        s.completion_time = Some(Time(at(secs)));
        s.start_time = Some(Time(at(secs)));
    })
}

#[test]
fn follows_applies_deletes_and_relists() {
    let index = TargetIndex::new(&Settings::default());
    let a = completed("a", "ns/Deployment/x", 0);
    let b = completed("b", "ns/Deployment/x", 10);
    let c = completed("c", "ns/Deployment/y", 0);
    for w in [&a, &b, &c] {
        index.observe(&watcher::Event::Apply(w.clone()));
    }
    assert_eq!(names(&index, "ns/Deployment/x"), vec!["a", "b"]);
    assert_eq!(names(&index, "ns/Deployment/y"), vec!["c"]);
    index.observe(&watcher::Event::Delete(a.clone()));
    assert_eq!(names(&index, "ns/Deployment/x"), vec!["b"]);
    // A WFE whose target changes leaves its old target.
    index.observe(&watcher::Event::Apply(completed(
        "b",
        "ns/Deployment/y",
        10,
    )));
    assert!(names(&index, "ns/Deployment/x").is_empty());
    assert_eq!(names(&index, "ns/Deployment/y"), vec!["b", "c"]);
    // A relist replaces everything atomically at InitDone.
    index.observe(&watcher::Event::Init);
    index.observe(&watcher::Event::InitApply(c.clone()));
    assert_eq!(
        names(&index, "ns/Deployment/y"),
        vec!["b", "c"],
        "old view served until the relist is done"
    );
    index.observe(&watcher::Event::InitDone);
    assert_eq!(names(&index, "ns/Deployment/y"), vec!["c"]);
}

#[test]
fn a_long_history_yields_a_bounded_neighbourhood() {
    let settings = Settings::default();
    let index = TargetIndex::new(&settings);
    for i in 0..1000 {
        index.observe(&watcher::Event::Apply(completed(
            &format!("done-{i:04}"),
            TARGET,
            i,
        )));
    }
    let running = with_status(wfe_on("now-running", TARGET), |s| {
        s.phase = Some(Phase::Running)
    });
    index.observe(&watcher::Event::Apply(running));
    let relevant = names(&index, TARGET);
    // The newest two by finish time (latest resets and longest cooldowns) and the Running one.
    assert_eq!(relevant, vec!["done-0998", "done-0999", "now-running"]);
    // The lock owner is found by the UID its label carries, however old.
    let with_owner: Vec<String> = index
        .relevant(TARGET, None, Some("uid-done-0003"))
        .into_iter()
        .map(|r| r.name().to_owned())
        .collect();
    assert!(with_owner.contains(&"done-0003".to_owned()));
}

fn t0() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

fn at(secs: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_secs(secs)).unwrap()
}

/// One generated WFE on the target; times are coarse so that ties are common.
#[derive(Debug, Clone)]
struct Shape {
    phase: u8,
    finished: Option<i64>,
    had_run: bool,
    execution: bool,
    count: i32,
    backoff: Option<i64>,
    clearance: u8,
    /// Ten-minute steps from the failure to its clearance.
    cleared_after: i64,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        // Mostly terminal and Pending: one Running WFE makes every Pending decision "busy".
        prop_oneof![3 => Just(0u8), 1 => Just(1), 4 => Just(2), 5 => Just(3), 2 => Just(4)],
        proptest::option::of(0i64..6),
        any::<bool>(),
        any::<bool>(),
        0i32..5,
        proptest::option::of(0i64..8),
        0u8..5,
        0i64..3,
    )
        .prop_map(
            |(phase, finished, had_run, execution, count, backoff, clearance, cleared_after)| {
                Shape {
                    phase,
                    finished,
                    had_run,
                    execution,
                    count,
                    backoff,
                    clearance,
                    cleared_after,
                }
            },
        )
}

fn build(i: usize, s: &Shape) -> WorkflowExecution {
    let w = wfe_on(&format!("w{i}"), TARGET);
    let phase = match s.phase {
        0 => return w,
        1 => Phase::Running,
        2 => Phase::Completed,
        3 => Phase::Failed,
        _ => Phase::Skipped,
    };
    with_status(w, |st| {
        st.phase = Some(phase);
        let finished = s.finished.map(|m| Time(at(m * 600)));
        if s.had_run {
            st.start_time = Some(Time(at(0)));
            st.pipeline_run_ref = Some(PipelineRunRef {
                name: wfe_api::naming::pipeline_run_name(TARGET),
                namespace: "kubernaut-workflows".into(),
            });
        }
        if phase != Phase::Failed {
            st.completion_time = finished;
            return;
        }
        st.consecutive_failures = Some(s.count);
        st.next_allowed_execution = s.backoff.map(|m| Time(at(m * 600)));
        let failed_at = finished.unwrap_or(Time(at(0)));
        st.failure_details = Some(Box::new(FailureDetails {
            reason: FailureReason::TaskFailed,
            message: "boom".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: failed_at.clone(),
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: s.execution,
        }));
        // 0: none; 1: valid; 2: another method; 3: bound to another failure; 4: the controller.
        if s.clearance > 0 {
            st.block_clearance = Some(Box::new(BlockClearance {
                cleared_by: if s.clearance == 4 {
                    "system:serviceaccount:kubernaut-system:workflowexecution-controller".into()
                } else {
                    "alice".into()
                },
                cleared_by_uid: None,
                cleared_by_groups: vec![],
                cleared_at: MicroTime(at(s.finished.unwrap_or(0) * 600 + s.cleared_after * 600)),
                clear_reason: "rolled back by hand and verified healthy by the on-call".into(),
                clear_method: if s.clearance == 2 {
                    "kubectl".into()
                } else {
                    keys::CLEAR_METHOD_WEBHOOK.into()
                },
                admission_request_uid: "adm-1".into(),
                cleared_failure_at: Some(if s.clearance == 3 {
                    Time(at(-1))
                } else {
                    failed_at
                }),
            }));
        }
    })
}

fn lock_of(owner_uid: &str, finished: Option<i64>) -> RunView {
    RunView {
        name: wfe_api::naming::pipeline_run_name(TARGET),
        uid: Some("run-uid".into()),
        owner: Some(RunOwner {
            namespace: "team-a".into(),
            name: "owner".into(),
            uid: owner_uid.into(),
        }),
        succeeded: Some(SucceededCondition {
            status: if finished.is_some() {
                "False"
            } else {
                "Unknown"
            }
            .into(),
            reason: Some("Failed".into()),
            message: Some("task failed".into()),
        }),
        task_runs: vec![],
        start_time: Some(at(0)),
        completion_time: finished.map(|m| at(m * 600)),
        deleting: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The heart of the index: whatever the history, a decision over the neighbours the index
    /// returns equals the decision over every other WFE on the target.
    #[test]
    fn decides_as_over_the_whole_history(
        shapes in proptest::collection::vec(shape(), 0..12),
        subject in proptest::option::of((any::<proptest::sample::Index>(), proptest::option::of(shape()))),
        lock_owner in proptest::option::of((any::<proptest::sample::Index>(), proptest::option::of(0i64..6))),
        now in 0i64..10,
        cooldown in prop_oneof![Just(0u64), Just(300), Just(1800)],
        max_failures in 1u32..4,
    ) {
        let mut settings = Settings { cooldown: Duration::from_secs(cooldown), ..Default::default() };
        settings.block.max_consecutive_failures = max_failures;
        let wfes: Vec<WorkflowExecution> = shapes.iter().enumerate().map(|(i, s)| build(i, s)).collect();
        let index = TargetIndex::new(&settings);
        for w in &wfes {
            index.observe(&watcher::Event::Apply(w.clone()));
        }
        // The WFE reconciled: a member of the history, or a new Pending one.
        // A member may be reconciled from an older or newer copy than the one indexed (the
        // cache and the index see events at slightly different times): then the index must
        // still hold the runner-up of every order the indexed copy tops.
        let subject = match subject {
            Some((i, None)) if !wfes.is_empty() => wfes[i.index(wfes.len())].clone(),
            Some((i, Some(other))) if !wfes.is_empty() => build(i.index(wfes.len()), &other),
            _ => wfe_on("subject", TARGET),
        };
        let subject = &subject;
        let lock = lock_owner.map(|(i, finished)| {
            let uid = if wfes.is_empty() { "gone".to_owned() } else {
                wfes[i.index(wfes.len())].metadata.uid.clone().unwrap()
            };
            lock_of(&uid, finished)
        });
        let uid = subject.metadata.uid.as_deref();
        // Today's full view: every other WFE on the target, in namespace/name order.
        let mut all: Vec<&WorkflowExecution> = wfes.iter().filter(|w| w.metadata.uid.as_deref() != uid).collect();
        all.sort_by_key(|w| name_of(w));
        let subject_uid = uid.map(wfe_api::naming::label_value);
        let relevant_refs = index.relevant(
            TARGET,
            subject_uid.as_deref(),
            lock.as_ref().and_then(|r| r.owner.as_ref()).map(|o| o.uid.as_str()),
        );
        // Bounded by what the decision can read, not by the history: the Running ones, two per
        // order, four of the current run of failures and the owner.
        let running = wfes.iter().filter(|w| w.phase() == Phase::Running).count();
        prop_assert!(relevant_refs.len() <= running + 2 * 4 + 4 + 1);
        // What the index hands the decision is the projection of the indexed copy.
        for r in &relevant_refs {
            let indexed = wfes.iter().find(|w| w.metadata.name.as_deref() == Some(r.name())).unwrap();
            prop_assert_eq!(r.as_ref(), &Neighbour::of(indexed, &settings));
        }
        let relevant: Vec<&Neighbour> = relevant_refs
            .iter()
            .map(AsRef::as_ref)
            .filter(|n| n.owner_uid.as_deref() != uid.map(wfe_api::naming::label_value).as_deref())
            .collect();
        let all: Vec<Neighbour> = all.into_iter().map(|w| Neighbour::of(w, &settings)).collect();
        let all: Vec<&Neighbour> = all.iter().collect();
        let world = |others| World { lock: lock.as_ref(), others, failed_task: None, now: at(now * 600) };
        prop_assert_eq!(
            decide(subject, &world(&relevant), &settings),
            decide(subject, &world(&all), &settings)
        );
    }
}

/// A failed WFE with every field a neighbour is made of set, each to a value of its own: failed
/// before execution (Forbidden at +50 s) with `count` failures in a row, finished at +100 s,
/// started at +10 s, a backoff window until +700 s.
fn failed_with_everything(count: i32) -> WorkflowExecution {
    let mut w = wfe_on("w-1", TARGET);
    // Not a valid label value, so its label form differs from it.
    w.metadata.uid = Some("uid/of w-1, as no API server would write it".into());
    w.spec.workflow_ref.workflow_id = "scale-down".into();
    with_status(w, |s| {
        s.phase = Some(Phase::Failed);
        s.start_time = Some(Time(at(10)));
        s.completion_time = Some(Time(at(100)));
        s.consecutive_failures = Some(count);
        s.next_allowed_execution = Some(Time(at(700)));
        s.failure_details = Some(Box::new(FailureDetails {
            reason: FailureReason::Forbidden,
            message: "forbidden".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: Time(at(50)),
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: false,
        }));
    })
}

#[test]
fn a_neighbour_carries_each_field_of_its_object() {
    let settings = Settings::default();
    let max = i32::try_from(settings.block.max_consecutive_failures).unwrap();
    let w = failed_with_everything(max);
    let uid = w.metadata.uid.as_deref().unwrap();
    let label = wfe_api::naming::label_value(uid);
    assert_ne!(label, uid, "the test needs a UID whose label form differs");
    let expected = Neighbour {
        name: Arc::new((Some("team-a".to_owned()), "w-1".to_owned())),
        owner_uid: Some(Arc::from(label.as_str())),
        phase: Phase::Failed,
        workflow_id: "scale-down".into(),
        started: Some(Time(at(10))),
        // completionTime, not failureDetails.failedAt.
        finished: Some(at(100)),
        had_run: true,
        cleared: false,
        block: Some(BlockKind::ExhaustedRetries),
        consecutive_failures: Some(max),
        failure: Some((Time(at(50)), FailureReason::Forbidden)),
        backoff_end: Some(at(700)),
        reset_at: None,
    };
    let n = Neighbour::of(&w, &settings);
    assert_eq!(n, expected);
    assert_eq!((n.namespace(), n.name()), (Some("team-a"), "w-1"));
    assert!(n.has_owner_uid(&label) && !n.has_owner_uid(uid));

    // Without a completionTime it finished when it failed.
    let no_completion = with_status(w.clone(), |s| s.completion_time = None);
    assert_eq!(
        Neighbour::of(&no_completion, &settings),
        Neighbour {
            finished: Some(at(50)),
            ..expected.clone()
        }
    );
    // One failure short of the limit: no block, the backoff window still open.
    assert_eq!(
        Neighbour::of(&failed_with_everything(max - 1), &settings),
        Neighbour {
            block: None,
            consecutive_failures: Some(max - 1),
            ..expected.clone()
        }
    );
    // Validly cleared: no block and no backoff window, and the run of failures restarts when
    // it was cleared.
    let cleared = with_status(w.clone(), |s| {
        s.block_clearance = Some(Box::new(BlockClearance {
            cleared_by: "alice".into(),
            cleared_by_uid: None,
            cleared_by_groups: vec![],
            cleared_at: MicroTime(at(200)),
            clear_reason: "rolled back by hand and verified healthy by the on-call".into(),
            clear_method: keys::CLEAR_METHOD_WEBHOOK.into(),
            admission_request_uid: "adm-1".into(),
            cleared_failure_at: Some(Time(at(50))),
        }));
    });
    assert_eq!(
        Neighbour::of(&cleared, &settings),
        Neighbour {
            cleared: true,
            block: None,
            backoff_end: None,
            reset_at: Some(at(200)),
            ..expected.clone()
        }
    );
    // A clearance dated before the failure finished (clocks apart) restarts it no earlier.
    let early = with_status(cleared.clone(), |s| {
        s.block_clearance.as_mut().unwrap().cleared_at = MicroTime(at(60));
    });
    assert_eq!(Neighbour::of(&early, &settings).reset_at, Some(at(100)));
    // A success restarts it when it finished.
    let done = completed("w-3", TARGET, 300);
    assert_eq!(Neighbour::of(&done, &settings).reset_at, Some(at(300)));
    // Failed during execution: that block, and no backoff window.
    let execution = with_status(w.clone(), |s| {
        s.failure_details.as_mut().unwrap().was_execution_failure = true;
    });
    assert_eq!(
        Neighbour::of(&execution, &settings),
        Neighbour {
            block: Some(BlockKind::PreviousExecutionFailed),
            backoff_end: None,
            ..expected.clone()
        }
    );
    // A PipelineRun reference alone says it ran; neither says it did not.
    let referenced = with_status(w.clone(), |s| {
        s.start_time = None;
        s.pipeline_run_ref = Some(PipelineRunRef {
            name: wfe_api::naming::pipeline_run_name(TARGET),
            namespace: "kubernaut-workflows".into(),
        });
    });
    assert_eq!(
        Neighbour::of(&referenced, &settings),
        Neighbour {
            started: None,
            ..expected.clone()
        }
    );
    let never_ran = with_status(w.clone(), |s| s.start_time = None);
    assert_eq!(
        Neighbour::of(&never_ran, &settings),
        Neighbour {
            started: None,
            had_run: false,
            ..expected
        }
    );
    // A new WFE: Pending, nothing known yet; a valid UID is its own label form.
    let mut fresh = wfe_on("w-2", TARGET);
    fresh.metadata.namespace = Some("team-b".into());
    assert_eq!(
        Neighbour::of(&fresh, &settings),
        Neighbour {
            name: Arc::new((Some("team-b".to_owned()), "w-2".to_owned())),
            owner_uid: Some(Arc::from("uid-w-2")),
            phase: Phase::Pending,
            workflow_id: wfe_testing::WORKFLOW_ID.into(),
            started: None,
            finished: None,
            had_run: false,
            cleared: false,
            block: None,
            consecutive_failures: None,
            failure: None,
            backoff_end: None,
            reset_at: None,
        }
    );
}

#[test]
fn the_observed_phase_is_that_of_the_same_wfe_only() {
    let index = TargetIndex::new(&Settings::default());
    let a = completed("a", TARGET, 0);
    index.observe(&watcher::Event::Apply(a.clone()));
    let ns = a.metadata.namespace.as_deref().expect("namespace");
    let uid = wfe_api::naming::label_value(a.metadata.uid.as_deref().expect("uid"));
    assert_eq!(index.observed_phase(ns, "a", &uid), Some(Phase::Completed));
    // The name now held by another WFE (another UID), or not indexed at all: nothing observed.
    assert_eq!(index.observed_phase(ns, "a", "another-uid"), None);
    assert_eq!(index.observed_phase(ns, "b", &uid), None);
    assert_eq!(index.observed_phase("other-namespace", "a", &uid), None);
    index.observe(&watcher::Event::Delete(a.clone()));
    assert_eq!(index.observed_phase(ns, "a", &uid), None);
}

mod run;
