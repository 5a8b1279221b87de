//! Records → log lines: the configurable rules that find a record's app, dyno, source,
//! stream and message (see [`crate::config::Rules`]).
//!
//! A record is a msgpack map read in place: its top-level pairs are listed once (into a
//! scratch vector reused across records, so no allocation), then each rule looks keys up
//! in that list, going into nested maps (`kubernetes.labels.*`) only when asked. The pairs
//! no rule consumed are copied as raw msgpack into the line's fields.

use std::borrow::Cow;

use crate::config::{self, RuleSource};
use crate::line::{Line, LineBatch, Timestamp};
pub use crate::msgpack::Pair;
use crate::msgpack::{self, Head, Reader};

/// The compiled rules.
#[derive(Debug, Clone)]
pub struct Rules {
    app: Vec<RuleSource>,
    dyno: Vec<RuleSource>,
    source: Vec<RuleSource>,
    default_source: String,
    tag_pattern: Option<regex::Regex>,
    message_keys: Vec<String>,
    stream_key: String,
    drop_keys: Vec<String>,
    fallback_app: Option<String>,
}

/// What the tag pattern captured, computed once per frame (all its entries share the tag).
#[derive(Debug, Default, Clone)]
pub struct TagInfo<'t> {
    app: Option<&'t str>,
    dyno: Option<&'t str>,
    source: Option<&'t str>,
}

/// Why a record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The record is not a well-formed msgpack map.
    Malformed(msgpack::Error),
}

/// A record turned into a line's parts, with its app (borrowed from the record, the tag or
/// the rules when possible, so the line's text is copied once, into its [`LineBatch`]).
#[derive(Debug)]
pub struct Mapped<'r> {
    /// The app, or `None`: no rule gave one and there is no fallback (drop it).
    pub app: Option<Cow<'r, str>>,
    time: Timestamp,
    source: Cow<'r, str>,
    dyno: Cow<'r, str>,
    stream: &'r str,
    message: Cow<'r, str>,
    fields: Box<[u8]>,
}

impl Mapped<'_> {
    /// Adds the line to a frame's batch for its app.
    #[inline]
    pub fn push_to(self, batch: &mut LineBatch) {
        batch.push(self.time, &self.source, &self.dyno, self.stream, &self.message, self.fields);
    }

    /// The line on its own.
    pub fn into_line(self) -> Line {
        Line::new(self.time, &self.source, &self.dyno, self.stream, &self.message, self.fields)
    }
}

impl Rules {
    /// Compiles the configured rules.
    pub fn new(c: &config::Rules) -> Rules {
        Rules {
            app: c.app.clone(),
            dyno: c.dyno.clone(),
            source: c.source.clone(),
            default_source: c.default_source.clone(),
            tag_pattern: c.tag_pattern.clone(),
            message_keys: c.message_keys.clone(),
            stream_key: c.stream_key.clone(),
            drop_keys: c.drop_keys.clone(),
            fallback_app: (!c.fallback_app.is_empty()).then(|| c.fallback_app.clone()),
        }
    }

    /// Applies the tag pattern to a frame's tag.
    pub fn tag_info<'t>(&self, tag: &'t str) -> TagInfo<'t> {
        let Some(re) = &self.tag_pattern else { return TagInfo::default() };
        let Some(caps) = re.captures(tag) else { return TagInfo::default() };
        let group = |name: &str| caps.name(name).map(|m| m.as_str()).filter(|s| !s.is_empty());
        TagInfo { app: group("app"), dyno: group("dyno"), source: group("source") }
    }

    /// Maps one record (a msgpack map) to a line.
    pub fn map<'r>(
        &'r self,
        tag: &TagInfo<'r>,
        time: Timestamp,
        record: &'r [u8],
        pairs: &mut Vec<Pair<'r>>,
    ) -> Result<Mapped<'r>, RecordError> {
        let record = msgpack::list_map(&mut Reader::new(record), pairs).map_err(RecordError::Malformed)?;
        Ok(self.map_listed(tag, time, record, pairs))
    }

    /// Maps a record whose top-level pairs are already listed in `pairs` (by
    /// [`msgpack::list_map`], as the forward decoder does while it delimits the record, so
    /// the record is walked once). A non-string key stays a field and never matches a rule.
    pub fn map_listed<'r>(
        &'r self,
        tag: &TagInfo<'r>,
        time: Timestamp,
        record: &'r [u8],
        pairs: &[Pair<'r>],
    ) -> Mapped<'r> {
        // Bit i set: pair i is consumed by a rule and not kept as a field (first 64 pairs).
        let mut used: u64 = 0;
        let app = self
            .pick(&self.app, pairs, tag.app, &mut used, slipway_config::app_name::is_valid)
            .or_else(|| self.fallback_app.as_deref().map(Cow::Borrowed));
        let dyno = self.pick(&self.dyno, pairs, tag.dyno, &mut used, |s| !s.is_empty()).unwrap_or_default();
        let source = self
            .pick(&self.source, pairs, tag.source, &mut used, |s| !s.is_empty())
            .unwrap_or(Cow::Borrowed(&self.default_source));
        let mut message = Cow::Borrowed("");
        for key in &self.message_keys {
            if let Some(i) = find(pairs, key.as_bytes())
                && let Ok(Head::Str(b) | Head::Bin(b)) = Reader::new(pairs[i].value).head()
            {
                // The usual valid text is checked once, word by word, and borrowed.
                let b = trim_newline(b);
                message = std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b), Cow::Borrowed);
                mark(&mut used, i);
                break;
            }
        }
        let mut stream = "";
        if let Some(i) = find(pairs, self.stream_key.as_bytes())
            && let Some(s) = msgpack::as_str(pairs[i].value)
        {
            stream = s;
            mark(&mut used, i);
        }
        for key in &self.drop_keys {
            if let Some(i) = find(pairs, key.as_bytes()) {
                mark(&mut used, i);
            }
        }
        let kept = pairs.iter().enumerate().filter(|(i, _)| *i >= 64 || used & (1 << i) == 0);
        // Only the first 64 pairs can be marked as used.
        let count = pairs.len() - used.count_ones() as usize;
        let fields: Box<[u8]> = if count == 0 {
            Box::new([])
        } else {
            let mut out = Vec::with_capacity(record.len());
            // u32 cannot overflow: the map had `n: u32` pairs.
            let _ = rmp::encode::write_map_len(&mut out, u32::try_from(count).unwrap_or(u32::MAX));
            for (_, p) in kept {
                out.extend_from_slice(&record[p.start..p.end]);
            }
            out.into_boxed_slice()
        };
        Mapped { app, time, source, dyno, stream, message, fields }
    }

    /// The first value a list of sources gives that `ok` accepts.
    fn pick<'r>(
        &'r self,
        sources: &[RuleSource],
        pairs: &[Pair<'r>],
        from_tag: Option<&'r str>,
        used: &mut u64,
        ok: impl Fn(&str) -> bool,
    ) -> Option<Cow<'r, str>> {
        for source in sources {
            let found: Option<Cow<'r, str>> = match source {
                RuleSource::Tag => from_tag.map(Cow::Borrowed),
                RuleSource::Key(path) => {
                    let Some(i) = find(pairs, path[0].as_bytes()) else { continue };
                    let mut value = pairs[i].value;
                    let mut found = true;
                    for key in &path[1..] {
                        match msgpack::map_get(value, key.as_bytes()) {
                            Some(v) => value = v,
                            None => {
                                found = false;
                                break;
                            }
                        }
                    }
                    let text = if found { msgpack::as_str(value) } else { None };
                    if text.is_some_and(&ok) && path.len() == 1 {
                        mark(used, i);
                    }
                    text.map(Cow::Borrowed)
                }
                RuleSource::Label(name) => kubernetes(pairs, &["labels", name]).map(Cow::Borrowed),
                RuleSource::Namespace => kubernetes(pairs, &["namespace_name"]).map(Cow::Borrowed),
                RuleSource::Pod => kubernetes(pairs, &["pod_name"]).map(pod_to_dyno),
            };
            if let Some(value) = found
                && ok(&value)
            {
                return Some(value);
            }
        }
        None
    }
}

fn find(pairs: &[Pair<'_>], key: &[u8]) -> Option<usize> {
    pairs.iter().position(|p| p.key == key)
}

fn mark(used: &mut u64, i: usize) {
    if i < 64 {
        *used |= 1 << i;
    }
}

/// `kubernetes.<path...>` as text.
fn kubernetes<'r>(pairs: &[Pair<'r>], path: &[&str]) -> Option<&'r str> {
    let mut value = pairs[find(pairs, b"kubernetes")?].value;
    for key in path {
        value = msgpack::map_get(value, key.as_bytes())?;
    }
    msgpack::as_str(value)
}

fn trim_newline(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// A pod name as a dyno: a Deployment's `web-7d9c8b5f4-x2k8p` becomes `web.x2k8p`, a
/// StatefulSet's `worker-0` becomes `worker.0`; anything else stays as it is.
pub fn pod_to_dyno(pod: &str) -> Cow<'_, str> {
    let parts: Vec<&str> = pod.rsplitn(3, '-').collect();
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    match parts.as_slice() {
        [suffix, hash, process]
            if suffix.len() == 5 && alnum(suffix) && (6..=10).contains(&hash.len()) && alnum(hash) =>
        {
            Cow::Owned(format!("{process}.{suffix}"))
        }
        [ordinal, rest @ ..]
            if !rest.is_empty() && !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let process = &pod[..pod.len() - ordinal.len() - 1];
            Cow::Owned(format!("{process}.{ordinal}"))
        }
        _ => Cow::Borrowed(pod),
    }
}

#[cfg(test)]
mod tests;
