//! NIP-01 subscription filters.
//!
//! Semantics: every present condition must hold (AND); within a list any value may match (OR).
//! `ids`/`authors` are exact 64-hex values (NIP-01 no longer allows prefixes); an empty list
//! matches nothing. `#x` matches when the event has a tag `["x", v, ...]` with `v` in the list.
//! `since <= created_at <= until`. `limit` only bounds the stored-event replay of a REQ.

use super::{Error, Event, Result, hex_lower};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub ids: Option<Vec<[u8; 32]>>,
    pub authors: Option<Vec<[u8; 32]>>,
    pub kinds: Option<Vec<u16>>,
    /// Single-letter tag filters: `'p'` ↔ `"#p"`.
    pub tags: BTreeMap<char, Vec<String>>,
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub limit: Option<usize>,
}

impl Filter {
    pub fn new() -> Filter {
        Filter::default()
    }
    pub fn ids(mut self, ids: impl IntoIterator<Item = [u8; 32]>) -> Self {
        self.ids = Some(ids.into_iter().collect());
        self
    }
    pub fn authors(mut self, authors: impl IntoIterator<Item = [u8; 32]>) -> Self {
        self.authors = Some(authors.into_iter().collect());
        self
    }
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = u16>) -> Self {
        self.kinds = Some(kinds.into_iter().collect());
        self
    }
    /// Adds a `#<letter>` condition.
    pub fn tag(mut self, letter: char, values: impl IntoIterator<Item = String>) -> Self {
        self.tags.entry(letter).or_default().extend(values);
        self
    }
    /// `#p` with lowercase-hex x-only keys.
    pub fn p_tags(self, keys: impl IntoIterator<Item = [u8; 32]>) -> Self {
        self.tag('p', keys.into_iter().map(hex::encode))
    }
    pub fn since(mut self, t: u64) -> Self {
        self.since = Some(t);
        self
    }
    pub fn until(mut self, t: u64) -> Self {
        self.until = Some(t);
        self
    }
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Whether `e` satisfies every condition of the filter (ignores `limit`).
    pub fn matches(&self, e: &Event) -> bool {
        if let Some(ids) = &self.ids
            && !ids.contains(&e.id)
        {
            return false;
        }
        if let Some(a) = &self.authors
            && !a.contains(&e.pubkey)
        {
            return false;
        }
        if let Some(k) = &self.kinds
            && !k.contains(&e.kind)
        {
            return false;
        }
        if self.since.is_some_and(|s| e.created_at < s)
            || self.until.is_some_and(|u| e.created_at > u)
        {
            return false;
        }
        self.tags.iter().all(|(letter, values)| {
            let mut buf = [0u8; 4];
            let name: &str = letter.encode_utf8(&mut buf);
            e.tags
                .iter()
                .any(|t| t.len() >= 2 && t[0] == name && values.iter().any(|v| *v == t[1]))
        })
    }

    /// Whether the filter can never match anything (an empty `ids`/`authors`/`kinds`/tag list,
    /// or `since > until`).
    pub fn is_unsatisfiable(&self) -> bool {
        self.ids.as_ref().is_some_and(Vec::is_empty)
            || self.authors.as_ref().is_some_and(Vec::is_empty)
            || self.kinds.as_ref().is_some_and(Vec::is_empty)
            || self.tags.values().any(Vec::is_empty)
            || matches!((self.since, self.until), (Some(s), Some(u)) if s > u)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Filter> {
        serde_json::from_str(s).map_err(|e| Error::InvalidFilter(e.to_string()))
    }

    /// Builds a filter from a parsed JSON object.
    pub fn from_value(v: &serde_json::Value) -> Result<Filter> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::InvalidFilter("filter must be an object".into()))?;
        let mut f = Filter::default();
        for (k, v) in obj {
            match k.as_str() {
                "ids" => f.ids = Some(hex_list(v, "ids")?),
                "authors" => f.authors = Some(hex_list(v, "authors")?),
                "kinds" => {
                    let arr = v.as_array().ok_or_else(|| bad("kinds must be an array"))?;
                    let mut kinds = Vec::with_capacity(arr.len());
                    for k in arr {
                        let n = k.as_u64().ok_or_else(|| bad("kinds must be integers"))?;
                        kinds.push(
                            u16::try_from(n).map_err(|_| bad("kind out of range 0..=65535"))?,
                        );
                    }
                    f.kinds = Some(kinds);
                }
                "since" => {
                    f.since = Some(
                        v.as_u64()
                            .ok_or_else(|| bad("since must be a non-negative integer"))?,
                    )
                }
                "until" => {
                    f.until = Some(
                        v.as_u64()
                            .ok_or_else(|| bad("until must be a non-negative integer"))?,
                    )
                }
                "limit" => {
                    let n = v
                        .as_u64()
                        .ok_or_else(|| bad("limit must be a non-negative integer"))?;
                    f.limit = Some(usize::try_from(n).unwrap_or(usize::MAX));
                }
                key if key.starts_with('#') => {
                    let mut chars = key[1..].chars();
                    let letter = match (chars.next(), chars.next()) {
                        (Some(c), None) if c.is_ascii_alphabetic() => c,
                        _ => {
                            return Err(bad(&format!(
                                "unsupported tag filter {key:?} (single letters only)"
                            )));
                        }
                    };
                    let arr = v
                        .as_array()
                        .ok_or_else(|| bad("tag filter values must be an array"))?;
                    let mut vals = Vec::with_capacity(arr.len());
                    for s in arr {
                        vals.push(
                            s.as_str()
                                .ok_or_else(|| bad("tag filter values must be strings"))?
                                .to_owned(),
                        );
                    }
                    f.tags.insert(letter, vals);
                }
                // Unknown keys (e.g. NIP-50 `search`) are ignored, as most relays do.
                _ => {}
            }
        }
        Ok(f)
    }
}

fn bad(msg: &str) -> Error {
    Error::InvalidFilter(msg.to_owned())
}

fn hex_list(v: &serde_json::Value, field: &'static str) -> Result<Vec<[u8; 32]>> {
    let arr = v
        .as_array()
        .ok_or_else(|| Error::InvalidFilter(format!("{field} must be an array")))?;
    arr.iter()
        .map(|s| {
            let s = s
                .as_str()
                .ok_or_else(|| Error::InvalidFilter(format!("{field} must be strings")))?;
            hex_lower::<32>(s, field).map_err(|_| {
                Error::InvalidFilter(format!("{field} must be 64-character lowercase hex"))
            })
        })
        .collect()
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(ids) = &self.ids {
            m.serialize_entry("ids", &ids.iter().map(hex::encode).collect::<Vec<_>>())?;
        }
        if let Some(a) = &self.authors {
            m.serialize_entry("authors", &a.iter().map(hex::encode).collect::<Vec<_>>())?;
        }
        if let Some(k) = &self.kinds {
            m.serialize_entry("kinds", k)?;
        }
        for (letter, vals) in &self.tags {
            m.serialize_entry(&format!("#{letter}"), vals)?;
        }
        if let Some(v) = self.since {
            m.serialize_entry("since", &v)?;
        }
        if let Some(v) = self.until {
            m.serialize_entry("until", &v)?;
        }
        if let Some(v) = self.limit {
            m.serialize_entry("limit", &v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Filter::from_value(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::secret::Secret32;

    fn ev(kind: u16, t: u64, tags: Vec<Vec<String>>) -> Event {
        Event::sign(
            &Secret32::new([4u8; 32]),
            t,
            kind,
            tags,
            "x".into(),
            [0; 32],
        )
        .expect("sign")
    }

    #[test]
    fn semantics() {
        let e = ev(
            1,
            100,
            vec![
                vec!["p".into(), "aa".into()],
                vec!["e".into(), "bb".into(), "relay".into()],
            ],
        );
        assert!(Filter::new().matches(&e));
        assert!(Filter::new().ids([e.id]).matches(&e));
        assert!(!Filter::new().ids([[0; 32]]).matches(&e));
        assert!(!Filter::new().ids([]).matches(&e));
        assert!(Filter::new().authors([e.pubkey]).kinds([0, 1]).matches(&e));
        assert!(!Filter::new().kinds([2]).matches(&e));
        assert!(Filter::new().since(100).until(100).matches(&e));
        assert!(!Filter::new().since(101).matches(&e));
        assert!(!Filter::new().until(99).matches(&e));
        assert!(
            Filter::new()
                .tag('p', ["zz".into(), "aa".into()])
                .matches(&e)
        );
        assert!(
            Filter::new()
                .tag('p', ["aa".into()])
                .tag('e', ["bb".into()])
                .matches(&e)
        );
        assert!(!Filter::new().tag('p', ["bb".into()]).matches(&e));
        assert!(!Filter::new().tag('q', ["aa".into()]).matches(&e));
        // an event without the tag does not match a tag filter (igloo-server bug 4)
        let bare = ev(1, 100, vec![]);
        assert!(!Filter::new().tag('p', ["aa".into()]).matches(&bare));
    }

    #[test]
    fn json_roundtrip_and_errors() {
        let j = format!(
            r##"{{"ids":["{}"],"kinds":[1,20000],"#p":["ab"],"since":5,"until":9,"limit":3,"search":"x"}}"##,
            "a".repeat(64)
        );
        let f = Filter::from_json(&j).expect("parse");
        assert_eq!(f.kinds, Some(vec![1, 20000]));
        assert_eq!(f.limit, Some(3));
        assert_eq!(f.tags.get(&'p'), Some(&vec!["ab".to_string()]));
        assert_eq!(Filter::from_json(&f.to_json()).expect("again"), f);
        for bad in [
            r#"{"ids":["abc"]}"#,
            r#"{"kinds":[70000]}"#,
            r#"{"kinds":"1"}"#,
            r#"{"since":-1}"#,
            r##"{"#pp":["a"]}"##,
            r##"{"#p":[1]}"##,
            r#"[]"#,
        ] {
            assert!(Filter::from_json(bad).is_err(), "{bad}");
        }
    }
}
