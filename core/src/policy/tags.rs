//! A task's tags (`tags` of its definition), compact. In a listing of
//! thousands of tasks the same keys and values (`kind`, `test`, `os`,
//! `linux`, `retrigger`, `true`, …) recur on every task, and most tasks of
//! a kind carry the same set apart from their `label`: a listing interns
//! the strings and the sets ([`Interner`]), so a task holds a pointer to
//! its set and its own label.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The key kept apart from the shared set (unique to each task).
const LABEL: &str = "label";

/// Sorted key and value pairs, each key once.
type Pairs = [(Arc<str>, Arc<str>)];

/// Tags by key: the `label` tag apart, the others a sorted set shared with
/// the tasks that have the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tags {
    label: Option<Arc<str>>,
    rest: Arc<Pairs>,
}

impl Default for Tags {
    fn default() -> Self {
        Tags {
            label: None,
            rest: Arc::from(Vec::new()),
        }
    }
}

impl Tags {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        if key == LABEL {
            return self.label.as_deref();
        }
        self.position(key).ok().map(|i| &*self.rest[i].1)
    }

    /// The value of `key`, shared (no copy of the text).
    pub fn get_shared(&self, key: &str) -> Option<Arc<str>> {
        if key == LABEL {
            return self.label.clone();
        }
        self.position(key).ok().map(|i| self.rest[i].1.clone())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value` (replacing an earlier value). The set is
    /// copied, not changed for the other tasks that share it.
    pub fn insert(&mut self, key: impl Into<Arc<str>>, value: impl Into<Arc<str>>) {
        let (key, value) = (key.into(), value.into());
        if &*key == LABEL {
            self.label = Some(value);
            return;
        }
        let mut pairs = self.rest.to_vec();
        match self.position(&key) {
            Ok(i) => pairs[i].1 = value,
            Err(i) => pairs.insert(i, (key, value)),
        }
        self.rest = Arc::from(pairs);
    }

    /// Key and value pairs, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut pairs: Vec<(&str, &str)> = self.rest.iter().map(|(k, v)| (&**k, &**v)).collect();
        if let Some(label) = &self.label {
            let at = pairs.partition_point(|(k, _)| *k < LABEL);
            pairs.insert(at, (LABEL, label));
        }
        pairs.into_iter()
    }

    pub fn len(&self) -> usize {
        self.rest.len() + usize::from(self.label.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.rest.binary_search_by(|(k, _)| (**k).cmp(key))
    }

    /// Tags from pairs, their strings and their set shared through
    /// `interner`.
    pub fn interned<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        interner: &mut Interner,
    ) -> Tags {
        let mut label = None;
        let mut rest: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (k, v) in pairs {
            if k == LABEL {
                // Unique to the task: not worth a place in the interner.
                label = Some(Arc::from(v));
                continue;
            }
            let (k, v) = (interner.intern(k), interner.intern(v));
            match rest.binary_search_by(|(have, _)| have.cmp(&k)) {
                Ok(i) => rest[i].1 = v,
                Err(i) => rest.insert(i, (k, v)),
            }
        }
        Tags {
            label,
            rest: interner.intern_set(rest),
        }
    }
}

impl<K: Into<Arc<str>>, V: Into<Arc<str>>> FromIterator<(K, V)> for Tags {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut tags = Tags::default();
        for (k, v) in iter {
            tags.insert(k, v);
        }
        tags
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

/// One copy of each string and of each tag set seen while reading a
/// listing.
#[derive(Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
    sets: HashSet<Arc<Pairs>>,
}

impl Interner {
    pub fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.strings.insert(shared.clone());
        shared
    }

    fn intern_set(&mut self, pairs: Vec<(Arc<str>, Arc<str>)>) -> Arc<Pairs> {
        if let Some(shared) = self.sets.get(pairs.as_slice()) {
            return shared.clone();
        }
        let shared: Arc<Pairs> = Arc::from(pairs);
        self.sets.insert(shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_like_a_map_and_share_their_strings() {
        let mut interner = Interner::default();
        let a = Tags::interned([("kind", "test"), ("retrigger", "true")], &mut interner);
        let b = Tags::interned([("retrigger", "true"), ("kind", "build")], &mut interner);
        let rows: [(&Tags, &str, Option<&str>); 4] = [
            (&a, "kind", Some("test")),
            (&b, "kind", Some("build")),
            (&a, "retrigger", Some("true")),
            (&a, "label", None),
        ];
        for (tags, key, want) in rows {
            assert_eq!(tags.get(key), want, "{key}");
            assert_eq!(tags.contains_key(key), want.is_some(), "{key}");
        }
        assert!(
            Arc::ptr_eq(
                &a.get_shared("retrigger").expect("a"),
                &b.get_shared("retrigger").expect("b")
            ),
            "one `true` for both"
        );
        let c1 = Tags::interned([("kind", "test"), ("label", "x-1")], &mut interner);
        let c2 = Tags::interned([("label", "x-2"), ("kind", "test")], &mut interner);
        assert!(Arc::ptr_eq(&c1.rest, &c2.rest), "one set, two labels");
        assert_eq!(
            (c1.get("label"), c2.get("label")),
            (Some("x-1"), Some("x-2"))
        );
        assert_eq!(
            c2.iter().collect::<Vec<_>>(),
            [("kind", "test"), ("label", "x-2")]
        );
        let mut c: Tags = [("z", "1"), ("a", "2")].into_iter().collect();
        c.insert("a", "3");
        assert_eq!(c.iter().collect::<Vec<_>>(), [("a", "3"), ("z", "1")]);
        let json = serde_json::to_string(&c).expect("serializes");
        assert_eq!(json, r#"{"a":"3","z":"1"}"#);
        assert_eq!(serde_json::from_str::<Tags>(&json).expect("reads"), c);
    }
}
