//! Cache index from `spec.targetResource` to the WFEs on that target, maintained from the WFE
//! watch stream so a reconcile finds its neighbours without listing anything, at a cost that
//! depends only on how many WFEs share its target.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use wfe_api::WorkflowExecution;

type Ref = ObjectRef<WorkflowExecution>;

#[derive(Default)]
struct State {
    by_target: HashMap<String, HashSet<Ref>>,
    target_of: HashMap<Ref, String>,
    /// Objects seen since a watch (re)start, swapped in at `InitDone` like the reflector does.
    relisting: Option<HashMap<Ref, String>>,
}

impl State {
    fn insert(&mut self, r: Ref, target: String) {
        if let Some(old) = self.target_of.insert(r.clone(), target.clone())
            && old != target
        {
            self.remove_from(&old, &r);
        }
        self.by_target.entry(target).or_default().insert(r);
    }

    fn remove(&mut self, r: &Ref) {
        if let Some(old) = self.target_of.remove(r) {
            self.remove_from(&old, r);
        }
    }

    fn remove_from(&mut self, target: &str, r: &Ref) {
        if let Some(set) = self.by_target.get_mut(target) {
            set.remove(r);
            if set.is_empty() {
                self.by_target.remove(target);
            }
        }
    }
}

/// WFEs by target resource.
#[derive(Default)]
pub struct TargetIndex {
    state: RwLock<State>,
}

impl std::fmt::Debug for TargetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetIndex")
            .field("targets", &self.read().by_target.len())
            .finish()
    }
}

impl TargetIndex {
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
            watcher::Event::Apply(w) => {
                state.insert(ObjectRef::from_obj(w), w.spec.target_resource.clone())
            }
            watcher::Event::Delete(w) => state.remove(&ObjectRef::from_obj(w)),
            watcher::Event::Init => state.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(w) => {
                let target = w.spec.target_resource.clone();
                state
                    .relisting
                    .get_or_insert_with(HashMap::new)
                    .insert(ObjectRef::from_obj(w), target);
            }
            watcher::Event::InitDone => {
                let listed = state.relisting.take().unwrap_or_default();
                state.by_target.clear();
                state.target_of.clear();
                for (r, target) in listed {
                    state.insert(r, target);
                }
            }
        }
    }

    /// The WFEs currently on `target`, sorted by namespace and name.
    pub fn on_target(&self, target: &str) -> Vec<Ref> {
        let mut refs: Vec<Ref> = self
            .read()
            .by_target
            .get(target)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        refs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        refs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfe_testing::wfe_on;

    #[test]
    fn follows_applies_deletes_and_relists() {
        let index = TargetIndex::default();
        let a = wfe_on("a", "ns/Deployment/x");
        let b = wfe_on("b", "ns/Deployment/x");
        let c = wfe_on("c", "ns/Deployment/y");
        index.observe(&watcher::Event::Apply(a.clone()));
        index.observe(&watcher::Event::Apply(b.clone()));
        index.observe(&watcher::Event::Apply(c.clone()));
        let names = |t: &str| {
            index
                .on_target(t)
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("ns/Deployment/x"), vec!["a", "b"]);
        assert_eq!(names("ns/Deployment/y"), vec!["c"]);
        index.observe(&watcher::Event::Delete(a.clone()));
        assert_eq!(names("ns/Deployment/x"), vec!["b"]);
        // A relist replaces everything atomically at InitDone.
        index.observe(&watcher::Event::Init);
        index.observe(&watcher::Event::InitApply(c.clone()));
        assert_eq!(
            names("ns/Deployment/x"),
            vec!["b"],
            "old view served until the relist is done"
        );
        index.observe(&watcher::Event::InitDone);
        assert!(names("ns/Deployment/x").is_empty());
        assert_eq!(names("ns/Deployment/y"), vec!["c"]);
    }
}
