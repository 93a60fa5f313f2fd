//! NIP-01 wire messages: parsing client→relay and relay→client frames, and building them.

use crate::nostr::event::write_json_string;
use crate::nostr::{Event, Filter};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// A message from a client to a relay.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Event(Box<Event>),
    Req {
        sub_id: String,
        filters: Vec<Filter>,
    },
    Count {
        sub_id: String,
        filters: Vec<Filter>,
    },
    Close(String),
    Auth(Box<Event>),
}

/// Why a client frame could not be used. `event_id` is set when an EVENT was recognisable
/// enough to answer with `OK false`; `sub_id` when a REQ/COUNT can be answered with `CLOSED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub event_id: Option<String>,
    pub sub_id: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn err(message: impl Into<String>) -> ParseError {
    ParseError {
        message: message.into(),
        event_id: None,
        sub_id: None,
    }
}

struct Raw(ClientMessageRaw);

enum ClientMessageRaw {
    Event(Box<Event>),
    Auth(Box<Event>),
    Other(String, Vec<Value>),
}

impl<'de> serde::Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array whose first element is the message type")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let tag: Cow<'de, str> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("empty message"))?;
                match tag.as_ref() {
                    "EVENT" | "AUTH" => {
                        let ev: Event = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::custom("missing event"))?;
                        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                        Ok(Raw(if tag == "EVENT" {
                            ClientMessageRaw::Event(Box::new(ev))
                        } else {
                            ClientMessageRaw::Auth(Box::new(ev))
                        }))
                    }
                    _ => {
                        let mut rest = Vec::new();
                        while let Some(v) = seq.next_element::<Value>()? {
                            rest.push(v);
                        }
                        Ok(Raw(ClientMessageRaw::Other(tag.into_owned(), rest)))
                    }
                }
            }
        }
        d.deserialize_seq(V).map_err(|e: D::Error| e)
    }
}

fn parse_filters(vals: &[Value], sub_id: &str) -> Result<Vec<Filter>, ParseError> {
    let mut out = Vec::with_capacity(vals.len());
    let mut push = |v: &Value| -> Result<(), ParseError> {
        let f = Filter::from_value(v).map_err(|e| ParseError {
            message: format!("invalid: {e}"),
            event_id: None,
            sub_id: Some(sub_id.to_owned()),
        })?;
        out.push(f);
        Ok(())
    };
    for v in vals {
        match v {
            // Some clients wrap the filters in one array: ["REQ", id, [f1, f2]].
            Value::Array(inner) => inner.iter().try_for_each(&mut push)?,
            other => push(other)?,
        }
    }
    Ok(out)
}

/// Parses a client frame.
pub fn parse_client(text: &str) -> Result<ClientMessage, ParseError> {
    match serde_json::from_str::<Raw>(text) {
        Ok(Raw(ClientMessageRaw::Event(e))) => Ok(ClientMessage::Event(e)),
        Ok(Raw(ClientMessageRaw::Auth(e))) => Ok(ClientMessage::Auth(e)),
        Ok(Raw(ClientMessageRaw::Other(tag, rest))) => match tag.as_str() {
            "REQ" | "COUNT" => {
                let sub_id = rest
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(format!("invalid: {tag} needs a subscription id string")))?
                    .to_owned();
                let filters = parse_filters(&rest[1..], &sub_id)?;
                Ok(if tag == "REQ" {
                    ClientMessage::Req { sub_id, filters }
                } else {
                    ClientMessage::Count { sub_id, filters }
                })
            }
            "CLOSE" => rest
                .first()
                .and_then(Value::as_str)
                .map(|s| ClientMessage::Close(s.to_owned()))
                .ok_or_else(|| err("invalid: CLOSE needs a subscription id string")),
            other => Err(err(format!(
                "invalid: unknown message type {:?}",
                truncate(other, 32)
            ))),
        },
        Err(e) => {
            // Try to recover the event id so the client gets an OK it can match.
            let mut pe = err(format!("invalid: {}", truncate(&e.to_string(), 200)));
            if let Ok(Value::Array(arr)) = serde_json::from_str::<Value>(text) {
                if arr.first().and_then(Value::as_str) == Some("EVENT") {
                    pe.event_id = arr
                        .get(1)
                        .and_then(|e| e.get("id"))
                        .and_then(Value::as_str)
                        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                        .map(str::to_ascii_lowercase);
                }
            } else {
                pe.message = "invalid: malformed JSON".into();
            }
            Err(pe)
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A message from a relay to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayMessage {
    Event {
        sub_id: String,
        event: Box<Event>,
    },
    Ok {
        event_id: String,
        accepted: bool,
        message: String,
    },
    Eose(String),
    Closed {
        sub_id: String,
        message: String,
    },
    Notice(String),
    Auth(String),
    Count {
        sub_id: String,
        count: u64,
    },
}

/// Parses a relay frame (used by the client pool).
pub fn parse_relay(text: &str) -> Result<RelayMessage, String> {
    #[derive(serde::Deserialize)]
    struct EvMsg(serde::de::IgnoredAny, String, Event);
    if text.trim_start().starts_with("[\"EVENT\"") {
        let EvMsg(_, sub_id, event) = serde_json::from_str(text).map_err(|e| e.to_string())?;
        return Ok(RelayMessage::Event {
            sub_id,
            event: Box::new(event),
        });
    }
    let arr: Vec<Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let s = |i: usize| arr.get(i).and_then(Value::as_str).map(str::to_owned);
    let tag = s(0).ok_or("missing type")?;
    match tag.as_str() {
        "OK" => Ok(RelayMessage::Ok {
            event_id: s(1).ok_or("OK without id")?,
            accepted: arr
                .get(2)
                .and_then(Value::as_bool)
                .ok_or("OK without bool")?,
            message: s(3).unwrap_or_default(),
        }),
        "EOSE" => Ok(RelayMessage::Eose(s(1).ok_or("EOSE without id")?)),
        "CLOSED" => Ok(RelayMessage::Closed {
            sub_id: s(1).ok_or("CLOSED without id")?,
            message: s(2).unwrap_or_default(),
        }),
        "NOTICE" => Ok(RelayMessage::Notice(s(1).unwrap_or_default())),
        "AUTH" => Ok(RelayMessage::Auth(s(1).ok_or("AUTH without challenge")?)),
        "COUNT" => Ok(RelayMessage::Count {
            sub_id: s(1).ok_or("COUNT without id")?,
            count: arr
                .get(2)
                .and_then(|v| v.get("count"))
                .and_then(Value::as_u64)
                .ok_or("COUNT without count")?,
        }),
        other => Err(format!("unknown relay message {:?}", truncate(other, 32))),
    }
}

// ---- builders (compact JSON, escaping identical to serde_json) ----

fn open(tag: &str, cap: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(cap);
    v.extend_from_slice(b"[\"");
    v.extend_from_slice(tag.as_bytes());
    v.extend_from_slice(b"\"");
    v
}

fn finish(mut v: Vec<u8>) -> String {
    v.push(b']');
    String::from_utf8(v).unwrap_or_default()
}

/// `["EVENT", sub_id, <event json>]` from pre-serialised event JSON.
pub fn event_msg(sub_id: &str, event_json: &str) -> String {
    let mut v = open("EVENT", 16 + sub_id.len() + event_json.len());
    v.push(b',');
    write_json_string(&mut v, sub_id);
    v.push(b',');
    v.extend_from_slice(event_json.as_bytes());
    finish(v)
}

pub fn ok_msg(event_id_hex: &str, accepted: bool, message: &str) -> String {
    let mut v = open("OK", 100 + message.len());
    v.push(b',');
    write_json_string(&mut v, event_id_hex);
    v.extend_from_slice(if accepted { b",true," } else { b",false," });
    write_json_string(&mut v, message);
    finish(v)
}

pub fn eose_msg(sub_id: &str) -> String {
    let mut v = open("EOSE", 16 + sub_id.len());
    v.push(b',');
    write_json_string(&mut v, sub_id);
    finish(v)
}

pub fn closed_msg(sub_id: &str, message: &str) -> String {
    let mut v = open("CLOSED", 16 + sub_id.len() + message.len());
    v.push(b',');
    write_json_string(&mut v, sub_id);
    v.push(b',');
    write_json_string(&mut v, message);
    finish(v)
}

pub fn notice_msg(message: &str) -> String {
    let mut v = open("NOTICE", 16 + message.len());
    v.push(b',');
    write_json_string(&mut v, message);
    finish(v)
}

pub fn auth_msg(challenge: &str) -> String {
    let mut v = open("AUTH", 16 + challenge.len());
    v.push(b',');
    write_json_string(&mut v, challenge);
    finish(v)
}

pub fn count_msg(sub_id: &str, count: u64) -> String {
    let mut v = open("COUNT", 32 + sub_id.len());
    v.push(b',');
    write_json_string(&mut v, sub_id);
    v.extend_from_slice(format!(",{{\"count\":{count}}}").as_bytes());
    finish(v)
}

/// Client→relay builders (used by the pool).
pub fn client_event_msg(ev: &Event) -> String {
    let mut v = open("EVENT", 400 + ev.content.len());
    v.push(b',');
    ev.write_json(&mut v);
    finish(v)
}

pub fn client_auth_msg(ev: &Event) -> String {
    let mut v = open("AUTH", 400 + ev.content.len());
    v.push(b',');
    ev.write_json(&mut v);
    finish(v)
}

pub fn client_req_msg(sub_id: &str, filters: &[Filter]) -> String {
    let mut v = open("REQ", 64);
    v.push(b',');
    write_json_string(&mut v, sub_id);
    for f in filters {
        v.push(b',');
        v.extend_from_slice(f.to_json().as_bytes());
    }
    finish(v)
}

pub fn client_close_msg(sub_id: &str) -> String {
    let mut v = open("CLOSE", 16 + sub_id.len());
    v.push(b',');
    write_json_string(&mut v, sub_id);
    finish(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::secret::Secret32;

    #[test]
    fn client_messages() {
        let ev =
            Event::sign(&Secret32::new([9; 32]), 5, 1, vec![], "c".into(), [0; 32]).expect("sign");
        assert_eq!(
            parse_client(&client_event_msg(&ev)),
            Ok(ClientMessage::Event(Box::new(ev.clone())))
        );
        assert_eq!(
            parse_client(&client_auth_msg(&ev)),
            Ok(ClientMessage::Auth(Box::new(ev.clone())))
        );
        let f = Filter::new().kinds([1]).limit(2);
        let req = client_req_msg("s1", &[f.clone(), Filter::new()]);
        assert_eq!(
            parse_client(&req),
            Ok(ClientMessage::Req {
                sub_id: "s1".into(),
                filters: vec![f.clone(), Filter::new()]
            })
        );
        // wrapped filters
        assert_eq!(
            parse_client(r#"["REQ","s",[{"kinds":[1],"limit":2}]]"#),
            Ok(ClientMessage::Req {
                sub_id: "s".into(),
                filters: vec![f]
            })
        );
        assert_eq!(
            parse_client(&client_close_msg("s\"q")),
            Ok(ClientMessage::Close("s\"q".into()))
        );
        assert!(parse_client("{").is_err());
        assert!(parse_client("[]").is_err());
        assert!(parse_client(r#"["FOO"]"#).is_err());
        assert!(parse_client(r#"["REQ"]"#).is_err());
        assert!(
            parse_client(r#"["REQ","x",{"kinds":["a"]}]"#)
                .is_err_and(|e| e.sub_id.as_deref() == Some("x"))
        );
        let bad = client_event_msg(&ev).replace("\"kind\":1", "\"kind\":\"1\"");
        let e = parse_client(&bad).expect_err("bad kind");
        assert_eq!(e.event_id, Some(ev.id_hex()));
    }

    #[test]
    fn relay_messages_roundtrip() {
        let ev =
            Event::sign(&Secret32::new([9; 32]), 5, 1, vec![], "c".into(), [0; 32]).expect("sign");
        assert_eq!(
            parse_relay(&event_msg("a", &ev.to_json())),
            Ok(RelayMessage::Event {
                sub_id: "a".into(),
                event: Box::new(ev.clone())
            })
        );
        assert_eq!(
            parse_relay(&ok_msg("ab", false, "invalid: x")),
            Ok(RelayMessage::Ok {
                event_id: "ab".into(),
                accepted: false,
                message: "invalid: x".into()
            })
        );
        assert_eq!(
            parse_relay(&eose_msg("z")),
            Ok(RelayMessage::Eose("z".into()))
        );
        assert_eq!(
            parse_relay(&closed_msg("z", "m")),
            Ok(RelayMessage::Closed {
                sub_id: "z".into(),
                message: "m".into()
            })
        );
        assert_eq!(
            parse_relay(&notice_msg("n")),
            Ok(RelayMessage::Notice("n".into()))
        );
        assert_eq!(
            parse_relay(&auth_msg("c")),
            Ok(RelayMessage::Auth("c".into()))
        );
        assert_eq!(
            parse_relay(&count_msg("c", 7)),
            Ok(RelayMessage::Count {
                sub_id: "c".into(),
                count: 7
            })
        );
        for m in [ok_msg("a", true, "x\n"), closed_msg("\u{1}", "\\")] {
            serde_json::from_str::<Value>(&m).expect("valid JSON");
        }
    }
}
