//! `spec.parameters`: a string map held as a vector sorted by name.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Workflow parameters, sorted by name (the order DESIGN §4.4 passes them to the PipelineRun).
/// A sorted vector rather than a `BTreeMap`: every WFE the controller caches carries one, and a
/// `BTreeMap` allocates a node sized for eleven pairs (~540 bytes) for the usual one or two.
/// JSON is the same object either way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parameters(Vec<(String, String)>);

impl Parameters {
    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|at| self.0[at].1.as_str())
    }

    /// Sets `name` to `value`, returning the value it replaces.
    pub fn insert(&mut self, name: String, value: String) -> Option<String> {
        match self.0.binary_search_by(|(k, _)| k.cmp(&name)) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (name, value));
                None
            }
        }
    }
}

impl FromIterator<(String, String)> for Parameters {
    /// Later pairs win over earlier ones of the same name ([`sort_last_wins`]).
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
        sort_last_wins(&mut pairs);
        pairs.shrink_to_fit();
        Parameters(pairs)
    }
}

/// Sorts name/value pairs by name, keeping of each name only the last pair given: what a map
/// insert, and JSON's last duplicate key, would keep. Sorting once keeps a hostile body with
/// many keys at O(n log n).
pub fn sort_last_wins<K: Ord, V>(pairs: &mut Vec<(K, V)>) {
    pairs.reverse();
    // Stable: of equal names the last given comes first now, and dedup keeps the first.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.dedup_by(|later, kept| later.0 == kept.0);
}

impl<const N: usize> From<[(String, String); N]> for Parameters {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Parameters {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;

        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Parameters;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parameters, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(pairs.into_iter().collect())
            }
        }

        deserializer.deserialize_map(PairsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_the_same_json_object_as_a_map_in_name_order() {
        let p: Parameters =
            serde_json::from_value(json!({"ZONE": "b", "REPLICAS": "3", "A": "x"})).unwrap();
        assert_eq!(
            p.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["A=x", "REPLICAS=3", "ZONE=b"]
        );
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"A":"x","REPLICAS":"3","ZONE":"b"}"#
        );
        assert_eq!(p.get("REPLICAS"), Some("3"));
        assert_eq!(p.get("MISSING"), None);
    }

    #[test]
    fn the_last_of_duplicate_names_wins_like_a_map() {
        let p: Parameters =
            serde_json::from_str(r#"{"A": "first", "B": "b", "A": "last"}"#).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p.get("A"), Some("last"));
        let mut q = Parameters::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(q.insert("A".into(), "2".into()), Some("1".into()));
        assert_eq!(q.insert("0".into(), "z".into()), None);
        assert_eq!(q.iter().next(), Some((&"0".to_owned(), &"z".to_owned())));
    }

    #[test]
    fn a_non_string_value_is_an_error_at_its_key() {
        let err =
            serde_path_to_error::deserialize::<_, Parameters>(json!({"REPLICAS": 3})).unwrap_err();
        assert_eq!(err.path().to_string(), "REPLICAS");
        assert!(err.to_string().contains("expected a string"), "{err}");
        let err = serde_json::from_value::<Parameters>(json!(["REPLICAS"])).unwrap_err();
        assert!(err.to_string().contains("expected a map"), "{err}");
    }
}
