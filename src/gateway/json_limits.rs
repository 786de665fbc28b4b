//! JSON complexity limits, checked on the raw bytes while the body is read.
//!
//! serde_json builds the whole `Value` before anyone can look at it, and a 30 MiB body of
//! `[1,1,1,...]` becomes gigabytes of `Value`s. [`JsonScanner`] is fed each body chunk as it
//! arrives and fails as soon as one limit is crossed, so a hostile body is refused after a few
//! kilobytes and nothing of it is materialised. It does not validate the JSON: serde_json still
//! parses (and rejects) whatever passes; the scanner only has to find where strings, containers
//! and scalars start and end, which it does for any input without panicking.
//!
//! The limits are Vault's four (`max_json_depth`, `max_json_string_value_length`,
//! `max_json_object_entry_count`, `max_json_array_element_count`) and OpenBao's two
//! (`max_request_json_memory`, an estimate of the decoded size with OpenBao's per-token costs,
//! and `max_request_json_strings`, the number of strings, keys included).

use crate::config::JsonLimits;
use crate::logical::Error;

// OpenBao's per-token memory estimate: a pointer and a type word for every value, plus the
// value's own overhead.
const COST_BASE: u64 = 8 + 8;
const COST_NULL: u64 = 1;
const COST_BOOL: u64 = 1;
const COST_NUMBER: u64 = 8;
const COST_STRING: u64 = 16;
const COST_ARRAY: u64 = 8 + 8 + 8;
const COST_OBJECT: u64 = 8 + 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between tokens.
    Between,
    /// Inside a string; `escaped` after a backslash.
    InString { escaped: bool },
    /// Inside a number or a literal (`true`, `false`, `null`).
    InScalar,
}

/// Which limit a body crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Depth,
    StringLength,
    ObjectEntries,
    ArrayElements,
    Memory,
    Strings,
}

impl Exceeded {
    fn reason(self) -> &'static str {
        match self {
            Exceeded::Depth => "exceeded maximum nesting depth",
            Exceeded::StringLength => "exceeded maximum string value length",
            Exceeded::ObjectEntries => "exceeded maximum number of object entries",
            Exceeded::ArrayElements => "exceeded maximum number of array elements",
            Exceeded::Memory => "exceeded maximum estimated memory limits",
            Exceeded::Strings => "exceeded maximum number of strings",
        }
    }

    /// The 400 answer, worded as OpenBao words its complexity refusal.
    pub fn into_error(self) -> Error {
        Error::bad_request(format!(
            "failed to parse JSON input: refused JSON input due to high complexity: {}",
            self.reason()
        ))
    }
}

/// A streaming check of one body against [`JsonLimits`].
pub struct JsonScanner {
    limits: JsonLimits,
    state: State,
    /// Open containers with the number of entries or elements seen so far. Its length is
    /// bounded by `max_json_depth` (or by the body size when that limit is off).
    stack: Vec<(Container, u64)>,
    /// Inside an object, whether the next string is a key.
    expect_key: bool,
    string_len: u64,
    strings: u64,
    memory: u64,
}

impl JsonScanner {
    pub fn new(limits: &JsonLimits) -> Self {
        JsonScanner {
            limits: limits.clone(),
            state: State::Between,
            stack: Vec::new(),
            expect_key: false,
            string_len: 0,
            strings: 0,
            memory: 0,
        }
    }

    /// Scans the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Exceeded> {
        for &byte in chunk {
            self.byte(byte)?;
        }
        Ok(())
    }

    fn byte(&mut self, byte: u8) -> Result<(), Exceeded> {
        match self.state {
            State::InString { escaped: true } => {
                // An escape counts as one character; the hex digits of `\u` then count too,
                // which makes the length at most a little stricter than the decoded one.
                self.state = State::InString { escaped: false };
                Ok(())
            }
            State::InString { escaped: false } => {
                match byte {
                    b'"' => self.state = State::Between,
                    b'\\' => {
                        self.state = State::InString { escaped: true };
                        self.string_char()?;
                    }
                    _ => self.string_char()?,
                }
                Ok(())
            }
            State::InScalar => {
                if is_delimiter(byte) {
                    self.state = State::Between;
                    self.between(byte)
                } else {
                    Ok(())
                }
            }
            State::Between => self.between(byte),
        }
    }

    fn string_char(&mut self) -> Result<(), Exceeded> {
        self.string_len += 1;
        self.memory += 1;
        check(
            self.limits.max_json_string_value_length,
            self.string_len,
            Exceeded::StringLength,
        )?;
        check(
            self.limits.max_request_json_memory,
            self.memory,
            Exceeded::Memory,
        )
    }

    fn between(&mut self, byte: u8) -> Result<(), Exceeded> {
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b':' => Ok(()),
            b',' => {
                self.expect_key = matches!(self.stack.last(), Some((Container::Object, _)));
                Ok(())
            }
            b'{' => {
                self.value_starts(COST_OBJECT)?;
                self.open(Container::Object)
            }
            b'[' => {
                self.value_starts(COST_ARRAY)?;
                self.open(Container::Array)
            }
            b'}' | b']' => {
                self.stack.pop();
                self.expect_key = false;
                Ok(())
            }
            b'"' => {
                self.strings += 1;
                check(
                    self.limits.max_request_json_strings,
                    self.strings,
                    Exceeded::Strings,
                )?;
                if self.expect_key {
                    // A key: one more entry of the object it opens.
                    self.expect_key = false;
                    self.memory += COST_BASE + COST_STRING;
                    check(
                        self.limits.max_request_json_memory,
                        self.memory,
                        Exceeded::Memory,
                    )?;
                    if let Some((Container::Object, entries)) = self.stack.last_mut() {
                        *entries += 1;
                        check(
                            self.limits.max_json_object_entry_count,
                            *entries,
                            Exceeded::ObjectEntries,
                        )?;
                    }
                } else {
                    self.value_starts(COST_STRING)?;
                }
                self.string_len = 0;
                self.state = State::InString { escaped: false };
                Ok(())
            }
            first => {
                let cost = match first {
                    b't' | b'f' => COST_BOOL,
                    b'n' => COST_NULL,
                    _ => COST_NUMBER,
                };
                self.value_starts(cost)?;
                self.state = State::InScalar;
                Ok(())
            }
        }
    }

    /// A value starts: it costs memory, and inside an array it is one more element.
    fn value_starts(&mut self, cost: u64) -> Result<(), Exceeded> {
        self.memory += COST_BASE + cost;
        check(
            self.limits.max_request_json_memory,
            self.memory,
            Exceeded::Memory,
        )?;
        if let Some((Container::Array, elements)) = self.stack.last_mut() {
            *elements += 1;
            check(
                self.limits.max_json_array_element_count,
                *elements,
                Exceeded::ArrayElements,
            )?;
        }
        Ok(())
    }

    fn open(&mut self, container: Container) -> Result<(), Exceeded> {
        self.stack.push((container, 0));
        self.expect_key = container == Container::Object;
        check(
            self.limits.max_json_depth,
            self.stack.len() as u64,
            Exceeded::Depth,
        )
    }
}

fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' | b'{' | b'}' | b'[' | b']' | b'"'
    )
}

fn check(limit: Option<u64>, value: u64, exceeded: Exceeded) -> Result<(), Exceeded> {
    match limit {
        Some(limit) if value > limit => Err(exceeded),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(limits: &JsonLimits, body: &[u8]) -> Result<(), Exceeded> {
        let mut s = JsonScanner::new(limits);
        s.feed(body)
    }

    fn off() -> JsonLimits {
        JsonLimits {
            max_json_depth: None,
            max_json_string_value_length: None,
            max_json_object_entry_count: None,
            max_json_array_element_count: None,
            max_request_json_memory: None,
            max_request_json_strings: None,
        }
    }

    #[test]
    fn ordinary_bodies_pass_the_defaults() {
        let d = JsonLimits::default();
        for body in [
            &br#"{"data":{"k":"v","n":1,"b":true,"x":null,"a":[1,2,{"c":"d\"}"}]}}"#[..],
            b"",
            b"   ",
            b"{}",
            b"[]",
            br#"{"options":{"cas":0},"data":{"password":"p\\u00e9"}}"#,
        ] {
            assert_eq!(scan(&d, body), Ok(()), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn each_limit_is_enforced_at_its_boundary() {
        let limits = |f: fn(&mut JsonLimits)| {
            let mut l = off();
            f(&mut l);
            l
        };
        let depth = limits(|l| l.max_json_depth = Some(3));
        assert_eq!(scan(&depth, b"[[[1]]]"), Ok(()));
        assert_eq!(scan(&depth, b"[[[[1]]]]"), Err(Exceeded::Depth));
        assert_eq!(
            scan(&depth, br#"{"a":{"b":{"c":{}}}}"#),
            Err(Exceeded::Depth)
        );
        // Depth is the current nesting, not the number of containers.
        assert_eq!(scan(&depth, b"[[[]],[[]],[[]],[[]]]"), Ok(()));

        let len = limits(|l| l.max_json_string_value_length = Some(4));
        assert_eq!(scan(&len, br#"{"abcd":"wxyz"}"#), Ok(()));
        assert_eq!(scan(&len, br#"{"k":"vwxyz"}"#), Err(Exceeded::StringLength));
        assert_eq!(scan(&len, br#"{"abcde":1}"#), Err(Exceeded::StringLength));
        // A `"` inside a string, escaped, does not end it.
        assert_eq!(scan(&len, br#"["a\"bcd"]"#), Err(Exceeded::StringLength));

        let entries = limits(|l| l.max_json_object_entry_count = Some(2));
        assert_eq!(scan(&entries, br#"{"a":"x","b":{"c":1,"d":2}}"#), Ok(()));
        assert_eq!(
            scan(&entries, br#"{"a":1,"b":2,"c":3}"#),
            Err(Exceeded::ObjectEntries)
        );
        // String values and strings in arrays are not keys.
        assert_eq!(scan(&entries, br#"{"a":["x","y","z"],"b":"w"}"#), Ok(()));

        let elements = limits(|l| l.max_json_array_element_count = Some(3));
        assert_eq!(scan(&elements, br#"[1,"a",{"x":[1,2,3]}]"#), Ok(()));
        assert_eq!(
            scan(&elements, b"[1, 2, 3, 4]"),
            Err(Exceeded::ArrayElements)
        );
        assert_eq!(
            scan(&elements, br#"[[],{},"s",true]"#),
            Err(Exceeded::ArrayElements)
        );

        let strings = limits(|l| l.max_request_json_strings = Some(3));
        assert_eq!(scan(&strings, br#"{"a":"b","c":1}"#), Ok(()));
        assert_eq!(
            scan(&strings, br#"{"a":"b","c":"d"}"#),
            Err(Exceeded::Strings)
        );

        // OpenBao's costs: `[` 40, a number 24.
        let memory = limits(|l| l.max_request_json_memory = Some(40 + 2 * 24));
        assert_eq!(scan(&memory, b"[1,2]"), Ok(()));
        assert_eq!(scan(&memory, b"[1,2,3]"), Err(Exceeded::Memory));
    }

    #[test]
    fn the_scan_is_the_same_whatever_the_chunking() {
        let d = JsonLimits {
            max_json_array_element_count: Some(5),
            ..JsonLimits::default()
        };
        let body = br#"{"a":"x\"y","b":[true,false,null,12.5e3,"q"],"c":[1,2,3,4,5,6]}"#;
        assert_eq!(scan(&d, body), Err(Exceeded::ArrayElements));
        for size in 1..body.len() {
            let mut s = JsonScanner::new(&d);
            let result = body.chunks(size).try_for_each(|c| s.feed(c));
            assert_eq!(result, Err(Exceeded::ArrayElements), "chunks of {size}");
        }
    }

    #[test]
    fn a_huge_hostile_array_is_refused_after_a_few_kilobytes() {
        let mut s = JsonScanner::new(&JsonLimits::default());
        let mut fed = 0usize;
        let chunk = b"1,".repeat(4096);
        let mut result = s.feed(b"[");
        while result.is_ok() && fed < 30 * 1024 * 1024 {
            result = s.feed(&chunk);
            fed += chunk.len();
        }
        assert_eq!(result, Err(Exceeded::ArrayElements));
        assert!(fed <= 3 * chunk.len(), "read {fed} bytes before refusing");
        assert!(s.stack.len() <= 1);
    }

    #[test]
    fn garbage_never_panics_and_depth_keeps_the_stack_small() {
        let d = JsonLimits::default();
        let mut s = JsonScanner::new(&d);
        assert_eq!(s.feed(&b"[".repeat(100_000)), Err(Exceeded::Depth));
        assert!(s.stack.len() <= 301);
        for body in [
            &b"]]]}}}"[..],
            b"\"\\",
            b"{\"a\"\"b\"::,,}",
            &[0xff, 0xfe, 0x00, b'"', 0x80],
        ] {
            let _ = scan(&d, body);
        }
    }

    #[test]
    fn the_refusal_reads_like_openbaos() {
        let e = Exceeded::Memory.into_error();
        assert!(e
            .to_string()
            .contains("refused JSON input due to high complexity"));
        assert!(matches!(e, Error::BadRequest(_)));
    }
}
