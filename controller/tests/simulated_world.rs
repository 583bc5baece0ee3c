//! Property test: drive the pure decision core through random sequences of WFE creations,
//! Tekton completions/failures, external deletions, clearances and time, in a tiny simulated
//! cluster, and check the safety invariants of DESIGN §4.2–4.3 after every step.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use proptest::prelude::*;
use wfe_api::block::{BlockFacts, BlockKind};
use wfe_api::{BlockClearance, Phase, WorkflowExecution, keys, naming};
use wfe_controller::Settings;
use wfe_controller::decision::{CreateOutcome, Step, World, decide, decide_after_create};
use wfe_controller::history;
use wfe_controller::neighbour::Neighbour;
use wfe_controller::tekton::{
    ChildTaskRun, FailedTask, RunOwner, RunView, SucceededCondition, TaskRunView,
};

/// When a terminal WFE finished.
fn finished(w: &WorkflowExecution) -> Option<Timestamp> {
    w.status.as_ref().and_then(wfe_api::block::finished_at)
}

const TARGETS: [&str; 3] = ["ns/Deployment/a", "ns/Deployment/b", "Node/worker-1"];

#[derive(Debug, Clone)]
enum Op {
    Create {
        target: usize,
    },
    Reconcile {
        pick: usize,
    },
    /// A reconcile whose lock actions happen but whose status write is lost (conflict, crash).
    ReconcileLost {
        pick: usize,
    },
    Succeed {
        target: usize,
    },
    FailDuringExecution {
        target: usize,
    },
    FailBeforeExecution {
        target: usize,
    },
    DeleteRunExternally {
        target: usize,
    },
    Clear {
        pick: usize,
    },
    Advance {
        secs: u64,
    },
    CreateInvalid {
        target: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TARGETS.len()).prop_map(|target| Op::Create { target }),
        6 => any::<usize>().prop_map(|pick| Op::Reconcile { pick }),
        1 => any::<usize>().prop_map(|pick| Op::ReconcileLost { pick }),
        2 => (0..TARGETS.len()).prop_map(|target| Op::Succeed { target }),
        1 => (0..TARGETS.len()).prop_map(|target| Op::FailDuringExecution { target }),
        1 => (0..TARGETS.len()).prop_map(|target| Op::FailBeforeExecution { target }),
        1 => (0..TARGETS.len()).prop_map(|target| Op::DeleteRunExternally { target }),
        1 => any::<usize>().prop_map(|pick| Op::Clear { pick }),
        3 => (0u64..400).prop_map(|secs| Op::Advance { secs }),
        1 => (0..TARGETS.len()).prop_map(|target| Op::CreateInvalid { target }),
    ]
}

struct Sim {
    now: Timestamp,
    settings: Settings,
    wfes: Vec<WorkflowExecution>,
    /// The lock PipelineRun per target: the API server allows one name, so at most one.
    runs: BTreeMap<String, RunView>,
    failed_tasks: BTreeMap<String, FailedTask>,
    next_uid: u32,
}

impl Sim {
    fn new() -> Self {
        Sim {
            now: "2026-03-01T12:00:00Z".parse().unwrap(),
            settings: Settings::default(),
            wfes: Vec::new(),
            runs: BTreeMap::new(),
            failed_tasks: BTreeMap::new(),
            next_uid: 0,
        }
    }

    fn create(&mut self, target: &str, valid: bool) {
        self.next_uid += 1;
        let name = format!("w{}", self.next_uid);
        let mut w = wfe_testing::wfe_on(&name, target);
        if !valid {
            w.spec.workflow_ref.container_image = String::new();
        }
        self.wfes.push(w);
    }

    fn owner_of(&self, run: &RunView) -> Option<&WorkflowExecution> {
        let owner = run.owner.as_ref()?;
        self.wfes
            .iter()
            .find(|w| w.metadata.uid.as_deref() == Some(owner.uid.as_str()))
    }

    /// Whether a target is blocked, from ground truth (DESIGN §4.3): an uncleared execution
    /// failure, or an uncleared failure at the retry limit that no later success or clearance
    /// on the target has ended.
    fn blocked(&self, target: &str) -> bool {
        let on: Vec<&WorkflowExecution> = self
            .wfes
            .iter()
            .filter(|w| w.spec.target_resource == target)
            .collect();
        let ended_after = |failed: Option<Timestamp>| {
            on.iter().any(|w| {
                let kind = w
                    .status
                    .as_ref()
                    .and_then(|s| BlockFacts::from(s).blocking_kind(&self.settings.block));
                let ended = match (w.phase(), kind) {
                    (Phase::Completed, _) => finished(w),
                    // Clearing exhausted retries ends the run when it is given; clearing an
                    // execution failure releases that failure only.
                    (Phase::Failed, Some(BlockKind::ExhaustedRetries))
                        if history::is_cleared(w, &self.settings) =>
                    {
                        w.status
                            .as_ref()
                            .and_then(|s| s.block_clearance.as_deref())
                            .map(|c| c.cleared_at.0)
                    }
                    (Phase::Failed, _) if history::is_cleared(w, &self.settings) => finished(w),
                    _ => None,
                };
                ended.is_some_and(|e| failed.is_some_and(|f| e > f))
            })
        };
        on.iter()
            .any(|w| match history::block_reason(w, &self.settings) {
                Some(BlockKind::PreviousExecutionFailed) => true,
                Some(BlockKind::ExhaustedRetries) => !ended_after(finished(w)),
                None => false,
            })
    }

    fn check_deletion(
        &self,
        run_name: &str,
        uid: &str,
        deleter: &WorkflowExecution,
    ) -> Result<(), TestCaseError> {
        let run = self.runs.values().find(|r| r.name == run_name);
        let Some(run) = run else { return Ok(()) };
        prop_assert_eq!(
            run.uid.as_deref(),
            Some(uid),
            "deletion precondition must name the run's UID"
        );
        if run.is_owned_by(deleter.metadata.uid.as_deref().unwrap()) {
            return Ok(());
        }
        match self.owner_of(run) {
            Some(owner) => {
                prop_assert!(
                    history::counts_as_history(owner),
                    "deleted the run of live WFE {:?} ({:?})",
                    owner.metadata.name,
                    owner.phase()
                );
                let end = finished(owner).unwrap()
                    + SignedDuration::try_from(self.settings.cooldown).unwrap();
                prop_assert!(
                    self.now >= end,
                    "deleted the run of {:?} inside its cooldown",
                    owner.metadata.name
                );
            }
            None => prop_assert!(
                run.succeeded
                    .as_ref()
                    .is_some_and(|c| c.status != "Unknown"),
                "deleted an unfinished orphan run"
            ),
        }
        Ok(())
    }

    /// The other WFEs on `target`, as the target index hands them to the decision.
    fn neighbours(&self, target: &str, wfe: &WorkflowExecution) -> Vec<Neighbour> {
        self.wfes
            .iter()
            .filter(|w| w.spec.target_resource == target && w.metadata.uid != wfe.metadata.uid)
            .map(|w| Neighbour::of(w, &self.settings))
            .collect()
    }

    fn reconcile(&mut self, index: usize, persist: bool) -> Result<(), TestCaseError> {
        let wfe = self.wfes[index].clone();
        let target = wfe.spec.target_resource.clone();
        let others = self.neighbours(&target, &wfe);
        let others: Vec<&Neighbour> = others.iter().collect();
        let lock = self.runs.get(&target).cloned();
        let failed = self.failed_tasks.get(&target).cloned();
        let world = World {
            lock: lock.as_ref(),
            others: &others,
            failed_task: failed.as_ref(),
            now: self.now,
        };
        let mut d = decide(&wfe, &world, &self.settings);
        let blocked_before = self.blocked(&target);
        drop(others);
        let mut guard = 0;
        while let Step::Start { expired_lock } = d.step.clone() {
            guard += 1;
            prop_assert!(guard < 5, "lock acquisition loops");
            prop_assert!(!blocked_before, "tried to start on a blocked target");
            if let Some(expired) = expired_lock {
                self.check_deletion(&expired.name, &expired.uid, &wfe)?;
                if self
                    .runs
                    .get(&target)
                    .is_some_and(|r| r.uid.as_deref() == Some(expired.uid.as_str()))
                {
                    self.runs.remove(&target);
                    self.failed_tasks.remove(&target);
                }
            }
            let others = self.neighbours(&target, &wfe);
            let others: Vec<&Neighbour> = others.iter().collect();
            let world = World {
                lock: None,
                others: &others,
                failed_task: None,
                now: self.now,
            };
            match self.runs.get(&target) {
                Some(existing) => {
                    let existing = existing.clone();
                    d = decide_after_create(
                        &wfe,
                        CreateOutcome::AlreadyExists(&existing),
                        &world,
                        &self.settings,
                    );
                }
                None => {
                    self.next_uid += 1;
                    let run = RunView {
                        name: naming::pipeline_run_name(&target),
                        uid: Some(format!("run-{}", self.next_uid)),
                        owner: Some(RunOwner {
                            namespace: "ns".into(),
                            name: wfe.metadata.name.clone().unwrap(),
                            uid: wfe.metadata.uid.clone().unwrap(),
                        }),
                        succeeded: None,
                        task_runs: vec![],
                        start_time: Some(self.now),
                        completion_time: None,
                        deleting: false,
                    };
                    d = decide_after_create(
                        &wfe,
                        CreateOutcome::Created(&run),
                        &world,
                        &self.settings,
                    );
                    drop(others);
                    self.runs.insert(target.clone(), run);
                }
            }
        }
        if let Step::ReleaseLock(del) = &d.step {
            let run = self.runs.get(&target);
            prop_assert!(
                run.is_some_and(|r| r.is_owned_by(wfe.metadata.uid.as_deref().unwrap())),
                "released a lock it does not own"
            );
            self.check_deletion(&del.name, &del.uid, &wfe)?;
            self.runs.remove(&target);
            self.failed_tasks.remove(&target);
        }
        // Regression 2: a terminal WFE still holding its lock always knows when to come back.
        let holds = self
            .runs
            .get(&target)
            .is_some_and(|r| r.is_owned_by(wfe.metadata.uid.as_deref().unwrap()));
        if holds
            && matches!(d.status.phase, Some(Phase::Completed | Phase::Failed))
            && !matches!(d.step, Step::ReleaseLock(_))
        {
            prop_assert!(
                d.requeue_after.is_some(),
                "terminal lock holder without requeue"
            );
        }
        if persist {
            self.wfes[index].status = Some(d.status);
        }
        Ok(())
    }

    fn finish(&mut self, target: &str, ok: bool, executed: bool) {
        let now = self.now;
        if let Some(run) = self.runs.get_mut(target) {
            if run.succeeded.is_some() {
                return;
            }
            run.completion_time = Some(now);
            if executed {
                run.task_runs = vec![ChildTaskRun {
                    name: "tr-1".into(),
                    pipeline_task_name: Some("fix".into()),
                }];
            }
            run.succeeded = Some(SucceededCondition {
                status: if ok { "True" } else { "False" }.into(),
                reason: Some(
                    if ok {
                        "Succeeded"
                    } else if executed {
                        "Failed"
                    } else {
                        "CouldntGetPipeline"
                    }
                    .into(),
                ),
                message: Some(if ok || executed {
                    "Task exited with code 1".into()
                } else {
                    "invalid bundle".into()
                }),
            });
            if executed && !ok {
                self.failed_tasks.insert(
                    target.to_owned(),
                    FailedTask {
                        task_name: "fix".into(),
                        index: 0,
                        task_run: TaskRunView {
                            name: "tr-1".into(),
                            started: true,
                            exit_code: Some(1),
                            ..Default::default()
                        },
                    },
                );
            }
        }
    }

    fn clear(&mut self, pick: usize) {
        let blockers: Vec<usize> = (0..self.wfes.len())
            .filter(|&i| history::block_reason(&self.wfes[i], &self.settings).is_some())
            .collect();
        if blockers.is_empty() {
            return;
        }
        let i = blockers[pick % blockers.len()];
        let now = self.now;
        let status = self.wfes[i].status.as_mut().unwrap();
        let failed_at = status.failure_details.as_deref().unwrap().failed_at.clone();
        status.block_clearance = Some(Box::new(BlockClearance {
            cleared_by: "alice".into(),
            cleared_by_uid: None,
            cleared_by_groups: vec![],
            cleared_at: MicroTime(now),
            clear_reason: "verified by hand that the target is healthy and safe to remediate again"
                .into(),
            clear_method: keys::CLEAR_METHOD_WEBHOOK.into(),
            admission_request_uid: "adm".into(),
            cleared_failure_at: Some(failed_at),
        }));
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        for target in TARGETS {
            let running: Vec<_> = self
                .wfes
                .iter()
                .filter(|w| w.spec.target_resource == target && w.phase() == Phase::Running)
                .collect();
            prop_assert!(running.len() <= 1, "two Running WFEs on {}", target);
            if let (Some(w), Some(run)) = (running.first(), self.runs.get(target)) {
                prop_assert!(
                    run.is_owned_by(w.metadata.uid.as_deref().unwrap()),
                    "{:?} is Running but the lock on {} belongs to someone else",
                    w.metadata.name,
                    target
                );
            }
        }
        for w in &self.wfes {
            if let Some(s) = &w.status {
                // Terminal WFEs always have a completion time.
                if s.phase.is_some_and(Phase::is_terminal) {
                    prop_assert!(
                        s.completion_time.is_some(),
                        "terminal without completionTime"
                    );
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn lock_block_and_ownership_invariants_hold(ops in proptest::collection::vec(op(), 1..80)) {
        let mut sim = Sim::new();
        for op in ops {
            match op {
                Op::Create { target } => sim.create(TARGETS[target], true),
                Op::CreateInvalid { target } => sim.create(TARGETS[target], false),
                Op::Reconcile { pick } => {
                    if !sim.wfes.is_empty() {
                        let i = pick % sim.wfes.len();
                        sim.reconcile(i, true)?;
                    }
                }
                Op::ReconcileLost { pick } => {
                    if !sim.wfes.is_empty() {
                        let i = pick % sim.wfes.len();
                        sim.reconcile(i, false)?;
                    }
                }
                Op::Succeed { target } => sim.finish(TARGETS[target], true, true),
                Op::FailDuringExecution { target } => sim.finish(TARGETS[target], false, true),
                Op::FailBeforeExecution { target } => sim.finish(TARGETS[target], false, false),
                Op::DeleteRunExternally { target } => {
                    sim.runs.remove(TARGETS[target]);
                    sim.failed_tasks.remove(TARGETS[target]);
                }
                Op::Clear { pick } => sim.clear(pick),
                Op::Advance { secs } => sim.now += Duration::from_secs(secs),
            }
            sim.check_invariants()?;
        }
    }
}
