//! What the WFE cache keeps of each WorkflowExecution (DESIGN §10 memory): its name, and the
//! object the watch delivered only while a reconcile may have something to do with it.
//!
//! Nearly every cached WFE is a finished one with nothing left to do, and the decision reads the
//! other WFEs on a target through their `Neighbour` projections in the target index. So a WFE
//! that a reconcile would leave alone (`executor::is_quiet`) is cached without its object, and an
//! entry whose reconcile ends with nothing to do until the WFE changes lets go of it. A change
//! arrives as a new entry with the new object. A settled entry reconciled again (a timer, a
//! PipelineRun event, a re-list) has nothing to do unless its WFE holds its target's lock; then
//! the WFE is read fresh from the API server (`executor::reconcile_cached`).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};
use wfe_api::WorkflowExecution;

/// One entry of the WFE cache: a WFE's name and, until it is settled, the object itself.
pub struct CachedWfe {
    /// Namespace and name only: what the cache and the controller's queue key entries by.
    metadata: ObjectMeta,
    body: Mutex<Option<Arc<WorkflowExecution>>>,
}

impl CachedWfe {
    /// An entry for `wfe` as a watch event delivered it, holding the object.
    pub fn new(wfe: WorkflowExecution) -> Self {
        let entry = CachedWfe::settled(&wfe);
        *entry.lock() = Some(Arc::new(wfe));
        entry
    }

    /// An entry for `wfe` that is settled from the start: a reconcile would find nothing to do
    /// (`executor::is_quiet`), so only its name is kept.
    pub fn settled(wfe: &WorkflowExecution) -> Self {
        CachedWfe {
            metadata: ObjectMeta {
                name: wfe.metadata.name.clone(),
                namespace: wfe.metadata.namespace.clone(),
                ..ObjectMeta::default()
            },
            body: Mutex::new(None),
        }
    }

    /// The object the watch delivered, unless a reconcile has settled it since.
    pub fn body(&self) -> Option<Arc<WorkflowExecution>> {
        self.lock().clone()
    }

    /// Lets go of the object: a reconcile of it found nothing left to do until it changes (and
    /// a change arrives as a new entry).
    pub fn settle(&self) {
        self.lock().take();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<WorkflowExecution>>> {
        // The guarded value is a plain `Option`: a panic elsewhere cannot leave it half-written.
        self.body.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clone for CachedWfe {
    fn clone(&self) -> Self {
        CachedWfe {
            metadata: self.metadata.clone(),
            body: Mutex::new(self.body()),
        }
    }
}

impl fmt::Debug for CachedWfe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedWfe")
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .field("settled", &self.body().is_none())
            .finish()
    }
}

impl<'de> Deserialize<'de> for CachedWfe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WorkflowExecution::deserialize(deserializer).map(CachedWfe::new)
    }
}

impl Resource for CachedWfe {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        WorkflowExecution::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        WorkflowExecution::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        WorkflowExecution::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        WorkflowExecution::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::ResourceExt;
    use kube::runtime::reflector::ObjectRef;

    #[test]
    fn keeps_the_name_and_the_object_until_settled() {
        let mut w = wfe_testing::wfe_on("w-1", "team-a/Deployment/api");
        w.metadata.namespace = Some("team-a".into());
        w.metadata.uid = Some("uid-1".into());
        let cached = CachedWfe::new(w.clone());
        assert_eq!(cached.name_any(), "w-1");
        assert_eq!(cached.namespace().as_deref(), Some("team-a"));
        assert_eq!(
            cached.meta().uid,
            None,
            "only the name is kept outside the body"
        );
        assert_eq!(
            ObjectRef::from_obj(&cached),
            ObjectRef::<CachedWfe>::new("w-1").within("team-a")
        );
        assert_eq!(cached.body().as_deref(), Some(&w));
        let copy = cached.clone();
        cached.settle();
        assert!(cached.body().is_none());
        assert!(copy.body().is_some(), "a copy taken before is unaffected");
        assert_eq!(
            CachedWfe::url_path(&(), Some("team-a")),
            WorkflowExecution::url_path(&(), Some("team-a"))
        );
    }
}
