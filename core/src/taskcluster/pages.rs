//! Reading one `listTaskGroup` page (`{tasks: [...], continuationToken?}`)
//! entry by entry: each `{status, task}` entry is handed over as soon as it
//! is parsed and dropped after, so a page of 1,000 full task definitions
//! never becomes one tree of JSON values (several times its size in bytes).

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// What a page said besides its entries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PageEnd {
    /// The page had a `tasks` array.
    pub had_tasks: bool,
    /// The token of the next page (`None`: last page; empty counts as none).
    pub continuation_token: Option<String>,
}

/// Parses `bytes` as a `listTaskGroup` page, calling `on_entry` once per
/// element of `tasks`, in order.
pub fn read_page(
    bytes: &[u8],
    on_entry: &mut dyn FnMut(Value),
) -> Result<PageEnd, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut end = PageSeed { on_entry }.deserialize(&mut de)?;
    de.end()?;
    end.continuation_token = end.continuation_token.filter(|t| !t.is_empty());
    Ok(end)
}

struct PageSeed<'a> {
    on_entry: &'a mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = PageEnd;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PageEnd, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = PageEnd;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a listTaskGroup page")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageEnd, A::Error> {
        let mut end = PageEnd::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "tasks" => {
                    map.next_value_seed(Entries {
                        on_entry: &mut *self.on_entry,
                    })?;
                    end.had_tasks = true;
                }
                "continuationToken" => end.continuation_token = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(end)
    }
}

struct Entries<'a> {
    on_entry: &'a mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of task entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<Value>()? {
            (self.on_entry)(entry);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries seen, `tasks` present, next token; `Err` for a bad page.
    type Read = Result<(usize, bool, Option<&'static str>), ()>;

    #[test]
    fn pages_are_read_entry_by_entry() {
        let rows: &[(&str, &str, Read)] = &[
            (
                "two entries and a token",
                r#"{"taskGroupId": "G", "tasks": [{"a": 1}, {"b": 2}], "continuationToken": "t1"}"#,
                Ok((2, true, Some("t1"))),
            ),
            (
                "token first, last page",
                r#"{"continuationToken": "", "tasks": []}"#,
                Ok((0, true, None)),
            ),
            ("no tasks array", r#"{"x": [1]}"#, Ok((0, false, None))),
            ("tasks not an array", r#"{"tasks": {}}"#, Err(())),
            ("not JSON", "{\"tasks\": [", Err(())),
            ("trailing bytes", r#"{"tasks": []} x"#, Err(())),
        ];
        for (name, text, want) in rows {
            let mut seen = 0;
            let got = read_page(text.as_bytes(), &mut |_| seen += 1).map(|end| {
                (
                    seen,
                    end.had_tasks,
                    end.continuation_token.as_deref().map(str::to_owned),
                )
            });
            match (got, want) {
                (Ok((n, had, token)), Ok((wn, whad, wtoken))) => {
                    assert_eq!((n, had, token.as_deref()), (*wn, *whad, *wtoken), "{name}");
                }
                (Err(_), Err(())) => {}
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
    }
}
