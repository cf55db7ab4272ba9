//! A task's tags (`tags` of its definition), compact: a short sorted list
//! of shared strings. In a listing of thousands of tasks the same keys and
//! most values (`kind`, `test`, `os`, `linux`, `retrigger`, `true`, …) recur
//! on every task; a listing interns them ([`Interner`]), so each task holds
//! pointers, not copies.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Tags by key, sorted, each key once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags(Vec<(Arc<str>, Arc<str>)>);

impl Tags {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).ok().map(|i| &*self.0[i].1)
    }

    /// The value of `key`, shared (no copy of the text).
    pub fn get_shared(&self, key: &str) -> Option<Arc<str>> {
        self.position(key).ok().map(|i| self.0[i].1.clone())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value` (replacing an earlier value).
    pub fn insert(&mut self, key: impl Into<Arc<str>>, value: impl Into<Arc<str>>) {
        let (key, value) = (key.into(), value.into());
        match self.position(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// Key and value pairs, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(key))
    }

    /// Tags from pairs, their strings shared through `interner`.
    pub fn interned<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        interner: &mut Interner,
    ) -> Tags {
        let mut tags = Tags::default();
        for (k, v) in pairs {
            tags.insert(interner.intern(k), interner.intern(v));
        }
        tags.0.shrink_to_fit();
        tags
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

/// One copy of each string seen while reading a listing.
#[derive(Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(shared.clone());
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
        assert!(Arc::ptr_eq(&a.0[1].1, &b.0[1].1), "one `true` for both");
        let mut c: Tags = [("z", "1"), ("a", "2")].into_iter().collect();
        c.insert("a", "3");
        assert_eq!(c.iter().collect::<Vec<_>>(), [("a", "3"), ("z", "1")]);
        let json = serde_json::to_string(&c).expect("serializes");
        assert_eq!(json, r#"{"a":"3","z":"1"}"#);
        assert_eq!(serde_json::from_str::<Tags>(&json).expect("reads"), c);
    }
}
