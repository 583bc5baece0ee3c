//! Cache index from `spec.targetResource` to what the WFEs on that target mean for a decision,
//! maintained from the WFE watch stream. A reconcile asks it for the few neighbours a decision
//! can depend on, at a cost independent of the target's history, never for the whole history.
//! It is also where those neighbours live: each WFE's [`Neighbour`] projection is made once per
//! watch event and kept here, so the WFE cache need not keep whole objects for their sake.
//!
//! Every history rule the decision applies (`crate::history`, DESIGN §4.2–4.3) is a "first
//! Running WFE", a "WFE with this UID", a "maximum by some key" over the other WFEs on the
//! target, visited in namespace/name order with the last of equal keys winning, or a rule over
//! a maximum over the current run of failures (the uncleared failures since the latest reset:
//! the highest count, the newest exhausted-retries failure). The index keeps, per target, the
//! WFEs ordered by each of those keys (with the name as tie-break), so the top two of each order
//! (two, because the WFE being reconciled is excluded and may itself be on top) contain every
//! winner; for the run's highest counts it walks the failures by finish time and by count side by
//! side until either settles them (`Target::highest_counts`). The decision then runs unchanged
//! over that subset and reaches the same result as over the whole history;
//! `tests::decides_as_over_the_whole_history` checks that.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use std::time::Duration;

use jiff::Timestamp;
use kube::runtime::watcher;
use wfe_api::Phase;
use wfe_api::WorkflowExecution;
use wfe_api::block::BlockKind;

use crate::neighbour::{Name, Neighbour};
use crate::settings::Settings;

/// An uncleared failure's finish time (whether it is in the current run) and the failures in a
/// row it carries (`history::previous_failure_count` takes the run's highest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct FailureKey {
    finished: Option<Timestamp>,
    carried: u32,
}

/// The same, sorted by count first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct CountKey {
    carried: u32,
    finished: Option<Timestamp>,
}

impl FailureKey {
    fn by_count(self) -> CountKey {
        CountKey {
            carried: self.carried,
            finished: self.finished,
        }
    }
}

/// Where one WFE sits: its target and what the decision reads of it, from which its place in
/// each of the target's orders follows.
#[derive(Debug, Clone, PartialEq)]
struct Placement {
    target: Arc<str>,
    facts: Arc<Neighbour>,
}

impl Placement {
    fn of(w: &WorkflowExecution, settings: &Settings) -> Self {
        Placement {
            target: Arc::from(w.spec.target_resource.as_str()),
            facts: Arc::new(Neighbour::of(w, settings)),
        }
    }

    fn running(&self) -> bool {
        self.facts.phase == Phase::Running
    }

    /// What the run-of-failures rules read of an uncleared failure, which belongs to the run
    /// if it finished at or after the last reset.
    fn uncleared_failure(&self) -> Option<FailureKey> {
        let f = &self.facts;
        f.in_failure_run(None).then(|| FailureKey {
            finished: f.finished,
            carried: f.carried_failures(),
        })
    }

    /// Finish time of an uncleared failure that blocks for exhausted retries.
    fn exhausted(&self) -> Option<Option<Timestamp>> {
        let f = &self.facts;
        (f.block == Some(BlockKind::ExhaustedRetries)).then_some(f.finished)
    }

    /// Finish time of a failed WFE whose uncleared execution failure blocks the target.
    fn execution_block(&self) -> Option<Option<Timestamp>> {
        let f = &self.facts;
        (f.block == Some(BlockKind::PreviousExecutionFailed)).then_some(f.finished)
    }
}

/// WFEs sorted by a key, then by name. A sorted vector rather than a B-tree: most targets hold
/// a handful of WFEs and a B-tree leaf is sized for eleven; a target with thousands pays a
/// memmove per change, never a scan per reconcile.
#[derive(Debug)]
struct Order<K>(Vec<(K, Name)>);

impl<K> Default for Order<K> {
    fn default() -> Self {
        Order(Vec::new())
    }
}

impl<K: Ord> Order<K> {
    fn insert(&mut self, key: K, name: &Name) {
        let entry = (key, name.clone());
        if let Err(at) = self.0.binary_search(&entry) {
            if self.0.len() < 8 {
                self.0.reserve_exact(1);
            }
            self.0.insert(at, entry);
        }
    }

    fn remove(&mut self, key: K, name: &Name) {
        if let Ok(at) = self.0.binary_search(&(key, name.clone())) {
            self.0.remove(at);
        }
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
    }

    /// The last two: the winner of a "last of the maximum" rule and its runner-up.
    fn top_two(&self) -> impl Iterator<Item = &Name> {
        self.0.iter().rev().take(2).map(|(_, n)| n)
    }
}

/// A target's uncleared failures, in the orders the run-of-failures rules read.
#[derive(Debug, Default)]
struct Failures {
    by_finish: Order<FailureKey>,
    by_count: Order<CountKey>,
    /// Those that block for exhausted retries, by finish time.
    exhausted: Order<Option<Timestamp>>,
}

impl Failures {
    fn insert(&mut self, key: FailureKey, exhausted: Option<Option<Timestamp>>, name: &Name) {
        self.by_finish.insert(key, name);
        self.by_count.insert(key.by_count(), name);
        if let Some(finished) = exhausted {
            self.exhausted.insert(finished, name);
        }
    }

    fn remove(&mut self, key: FailureKey, exhausted: Option<Option<Timestamp>>, name: &Name) {
        self.by_finish.remove(key, name);
        self.by_count.remove(key.by_count(), name);
        if let Some(finished) = exhausted {
            self.exhausted.remove(finished, name);
        }
    }
}

/// One target's WFEs, in each order a decision reads.
#[derive(Debug, Default)]
struct Target {
    members: usize,
    running: Order<()>,
    resets: Order<Timestamp>,
    /// Absent on the many targets without an uncleared failure.
    failures: Option<Box<Failures>>,
    execution_blocks: Order<Option<Timestamp>>,
    cooldowns: Order<Timestamp>,
    backoffs: Order<Timestamp>,
}

impl Target {
    fn add(&mut self, name: &Name, p: &Placement, cooldown: Duration) {
        self.members += 1;
        if p.running() {
            self.running.insert((), name);
        }
        if let Some(key) = p.facts.reset_at {
            self.resets.insert(key, name);
        }
        if let Some(key) = p.uncleared_failure() {
            self.failures
                .get_or_insert_with(Box::default)
                .insert(key, p.exhausted(), name);
        }
        if let Some(key) = p.execution_block() {
            self.execution_blocks.insert(key, name);
        }
        if let Some(key) = p.facts.cooldown_end(cooldown) {
            self.cooldowns.insert(key, name);
        }
        if let Some(key) = p.facts.backoff_end {
            self.backoffs.insert(key, name);
        }
    }

    fn remove(&mut self, name: &Name, p: &Placement, cooldown: Duration) {
        self.members -= 1;
        if p.running() {
            self.running.remove((), name);
        }
        if let Some(key) = p.facts.reset_at {
            self.resets.remove(key, name);
        }
        if let (Some(key), Some(failures)) = (p.uncleared_failure(), self.failures.as_mut()) {
            failures.remove(key, p.exhausted(), name);
            if failures.by_finish.0.is_empty() {
                self.failures = None;
            }
        }
        if let Some(key) = p.execution_block() {
            self.execution_blocks.remove(key, name);
        }
        if let Some(key) = p.facts.cooldown_end(cooldown) {
            self.cooldowns.remove(key, name);
        }
        if let Some(key) = p.facts.backoff_end {
            self.backoffs.remove(key, name);
        }
    }

    /// The two highest counts of the current run of failures as the decision on `subject` sees
    /// it (the uncleared failures since the last reset among the other WFEs). Two walks go
    /// side by side, one down the run by finish time, one down all uncleared failures by count,
    /// and the first to settle the answer stops both: a long run has its highest counts on top
    /// of the count order, a short one is walked whole at once, so neither a long run nor a long
    /// history of older runs makes a reconcile long.
    fn highest_counts<'a>(&'a self, subject: Option<&'a Name>) -> [Option<&'a Name>; 2] {
        let since = self
            .resets
            .0
            .iter()
            .rev()
            .find(|(_, n)| Some(n) != subject)
            .map(|(at, _)| *at);
        let in_run = |finished: Option<Timestamp>| {
            since.is_none_or(|reset| finished.is_some_and(|f| f >= reset))
        };
        let Some(failures) = self.failures.as_deref() else {
            return [None; 2];
        };
        let mut by_finish = failures.by_finish.0.iter().rev();
        let mut by_count = failures.by_count.0.iter().rev();
        // The run walked by finish time: its two highest counts, by count then name.
        let mut scanned: [Option<(u32, &Name)>; 2] = [None; 2];
        // The run's failures met walking by count: the first two are its highest.
        let mut met: [Option<&Name>; 2] = [None; 2];
        loop {
            match by_finish.next() {
                Some((key, name)) if in_run(key.finished) => {
                    let entry = Some((key.carried, name));
                    if entry > scanned[0] {
                        scanned = [entry, scanned[0]];
                    } else if entry > scanned[1] {
                        scanned[1] = entry;
                    }
                }
                _ => return scanned.map(|e| e.map(|(_, n)| n)),
            }
            match by_count.next() {
                Some((key, name)) if in_run(key.finished) => {
                    if met[0].is_none() {
                        met[0] = Some(name);
                    } else {
                        met[1] = Some(name);
                        return met;
                    }
                }
                Some(_) => {}
                None => return met,
            }
        }
    }

    /// Every WFE a decision on `subject` can depend on (see the module docs), unordered.
    fn relevant<'a>(&'a self, subject: Option<&'a Name>, owner: Option<&'a Name>) -> Vec<&'a Name> {
        self.running
            .0
            .iter()
            .map(|(_, n)| n)
            .chain(self.resets.top_two())
            .chain(self.highest_counts(subject).into_iter().flatten())
            .chain(self.failures.iter().flat_map(|f| f.exhausted.top_two()))
            .chain(self.execution_blocks.top_two())
            .chain(self.cooldowns.top_two())
            .chain(self.backoffs.top_two())
            .chain(owner)
            .collect()
    }
}

#[derive(Default)]
struct State {
    /// The controller's cooldown, which places a WFE in the cooldown order.
    cooldown: Duration,
    /// Boxed: the table is sized in powers of two, and most targets hold one or two WFEs.
    targets: HashMap<Arc<str>, Box<Target>>,
    placed: HashMap<Name, Placement>,
    /// Every WFE by the UID its lock PipelineRuns' owner label carries.
    by_owner_uid: HashMap<Arc<str>, Name>,
    /// Objects seen since a watch (re)start, swapped in at `InitDone` like the reflector does.
    relisting: Option<HashMap<Name, Placement>>,
}

impl State {
    fn place(&mut self, mut p: Placement) {
        let name = p.facts.name.clone();
        if self.placed.get(&name) == Some(&p) {
            return;
        }
        self.unplace(&name);
        // One copy of a target's name however many WFEs it has.
        if let Some((target, _)) = self.targets.get_key_value(&p.target) {
            p.target = target.clone();
        }
        self.targets
            .entry(p.target.clone())
            .or_default()
            .add(&name, &p, self.cooldown);
        if let Some(uid) = &p.facts.owner_uid {
            self.by_owner_uid.insert(uid.clone(), name.clone());
        }
        self.placed.insert(name, p);
    }

    fn unplace(&mut self, name: &Name) {
        let Some(old) = self.placed.remove(name) else {
            return;
        };
        if let Some(uid) = &old.facts.owner_uid
            && self.by_owner_uid.get(uid) == Some(name)
        {
            self.by_owner_uid.remove(uid);
        }
        if let Some(target) = self.targets.get_mut(&old.target) {
            target.remove(name, &old, self.cooldown);
            if target.members == 0 {
                self.targets.remove(&old.target);
            }
        }
    }
}

/// The WFEs of each target resource, ordered the ways the decision reads them.
pub struct TargetIndex {
    state: RwLock<State>,
    settings: Settings,
}

impl std::fmt::Debug for TargetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetIndex")
            .field("targets", &self.read().targets.len())
            .finish()
    }
}

fn name_of(w: &WorkflowExecution) -> Name {
    Arc::new((
        w.metadata.namespace.clone(),
        w.metadata.name.clone().unwrap_or_default(),
    ))
}

impl TargetIndex {
    /// An empty index judging blocks and windows with `settings` (the controller's, fixed for
    /// its lifetime).
    pub fn new(settings: &Settings) -> Self {
        TargetIndex {
            state: RwLock::new(State {
                cooldown: settings.cooldown,
                ..State::default()
            }),
            settings: settings.clone(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the whole controller, so keep serving.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies one watch event.
    pub fn observe(&self, event: &watcher::Event<WorkflowExecution>) {
        let mut state = self.write();
        match event {
            watcher::Event::Apply(w) => state.place(Placement::of(w, &self.settings)),
            watcher::Event::Delete(w) => state.unplace(&name_of(w)),
            watcher::Event::Init => state.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(w) => {
                let placement = Placement::of(w, &self.settings);
                state
                    .relisting
                    .get_or_insert_with(HashMap::new)
                    .insert(placement.facts.name.clone(), placement);
            }
            watcher::Event::InitDone => {
                let listed = state.relisting.take().unwrap_or_default();
                state.targets.clear();
                state.placed.clear();
                state.by_owner_uid.clear();
                for p in listed.into_values() {
                    state.place(p);
                }
            }
        }
    }

    /// The target of the indexed WFE `namespace/name` and its UID in label form.
    pub fn target_and_owner(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<(Arc<str>, Option<Arc<str>>)> {
        self.with_placed(namespace, name, |p| {
            (p.target.clone(), p.facts.owner_uid.clone())
        })
    }

    /// The phase the watch last reported for the WFE `namespace/name` whose UID, in label form,
    /// is `owner_uid` (`None` if it is not indexed, or the name now belongs to another WFE).
    pub fn observed_phase(&self, namespace: &str, name: &str, owner_uid: &str) -> Option<Phase> {
        self.with_placed(namespace, name, |p| {
            (p.facts.owner_uid.as_deref() == Some(owner_uid)).then_some(p.facts.phase)
        })
        .flatten()
    }

    /// `read` of the placement of the indexed WFE `namespace/name`, if any.
    fn with_placed<T>(
        &self,
        namespace: &str,
        name: &str,
        read: impl FnOnce(&Placement) -> T,
    ) -> Option<T> {
        let key: Name = Arc::new((Some(namespace.to_owned()), name.to_owned()));
        self.read().placed.get(&key).map(read)
    }

    /// The WFEs on `target` that a decision on the WFE whose UID in label form is `subject_uid`
    /// can depend on, sorted by namespace and name: the Running ones, the top two of each
    /// history order, the current run of failures and the lock PipelineRun's owner (by the UID
    /// its label carries). Its size does not grow with the target's history. The subject itself
    /// may be among them; the caller leaves it out.
    pub fn relevant(
        &self,
        target: &str,
        subject_uid: Option<&str>,
        lock_owner_uid: Option<&str>,
    ) -> Vec<Arc<Neighbour>> {
        let state = self.read();
        let Some(t) = state.targets.get(target) else {
            return Vec::new();
        };
        let on_target = |name: &&Name| {
            state
                .placed
                .get(*name)
                .is_some_and(|p| &*p.target == target)
        };
        // The owner counts only if it is on this target, like any neighbour.
        let owner = lock_owner_uid
            .and_then(|uid| state.by_owner_uid.get(uid))
            .filter(on_target);
        let subject = subject_uid
            .and_then(|uid| state.by_owner_uid.get(uid))
            .filter(on_target);
        let mut names = t.relevant(subject, owner);
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| state.placed.get(name).map(|p| p.facts.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests;
