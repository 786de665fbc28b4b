//! A reader for HCL1, the syntax Vault and OpenBao read ACL policies in.
//!
//! HCL1 is looser than HCL2: attributes may share a line (`{ capabilities = ["read"] policy =
//! "write" }`), may be separated by commas, may repeat, keys may be quoted (`"capabilities" =
//! [...]`), lists take stray commas (`[,"read",,]`), and strings take Go escapes. This module
//! reads the whole language as far as a policy can use it: no expressions, no interpolation
//! (a `${...}` inside a string is kept as text).
//!
//! The result is a list of [`Item`]s, each with its keys (`path "a" { ... }` has the keys
//! `path` and `a`) and a [`Node`] value. Repeated keys are kept in order; what a repeat means
//! is for the caller to decide (see `parse.rs`).
//!
//! Errors read like OpenBao's (`At 3:25: literal not terminated`), since operators search for
//! them; each message here was checked against a real OpenBao 2.7. Like OpenBao, the reader
//! pulls tokens only as far as the parser gets, and a lexical error (a bad escape, an illegal
//! character, an unterminated string or comment) seen on the way wins over a later syntax
//! error; of several lexical errors the last one is reported. One known difference: at the end
//! of the text OpenBao sometimes reports a column one or two past the end (its scanner counts
//! each look at the end), where this reader gives the column just past the last character.

use serde_json::Value;

/// How deep lists and objects may nest, counting each key of an item after its first as a
/// level (`a "b" "c" { }` becomes three nested JSON objects). Real policies nest two or three
/// levels. The parser refuses a document the moment a key or an opening bracket would pass the
/// bound, before the value is built, so no [`Node`] it returns, and no JSON [`Node::to_json`]
/// makes of one, is deeper than this. That matters for what still recurses over a value: the
/// derived `Clone`, `PartialEq` and `Debug` of [`Node`], and everything serde_json does with a
/// [`Value`] (its drop included). The parser, [`Node::to_json`] and the drop of a [`Node`] use
/// no recursion at all. A 100 KB item of 50,000 keys once built 50,000 nested objects, whose
/// drop overflowed the stack and aborted the server.
pub(super) const MAX_DEPTH: usize = 100;

/// A line and a column, both from 1; columns count characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One `keys... = value` or `keys... { ... }` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub keys: Vec<Key>,
    pub value: Node,
}

/// A key as written (an identifier or a quoted string), and its text after unquoting.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A string, heredoc, number or bool, already as JSON (never an array or an object).
    Literal(Value),
    List(Vec<Node>),
    /// `{ ... }`, with its items in order (keys may repeat).
    Object(Vec<Item>),
}

/// A list or object of [`Node::to_json`] whose members are being converted.
enum Converting<'a> {
    List {
        rest: std::slice::Iter<'a, Node>,
        done: Vec<Value>,
    },
    Object {
        rest: std::slice::Iter<'a, Item>,
        /// The item whose value is being converted.
        current: Option<&'a Item>,
        done: serde_json::Map<String, Value>,
    },
}

impl<'a> Converting<'a> {
    /// A list or object node to convert, or a literal's value.
    fn open(node: &'a Node) -> Result<Converting<'a>, &'a Value> {
        match node {
            Node::Literal(v) => Err(v),
            Node::List(items) => Ok(Converting::List {
                rest: items.iter(),
                done: Vec::with_capacity(items.len()),
            }),
            Node::Object(items) => Ok(Converting::Object {
                rest: items.iter(),
                current: None,
                done: serde_json::Map::new(),
            }),
        }
    }

    /// The next member to convert, if any is left.
    fn next_member(&mut self) -> Option<&'a Node> {
        match self {
            Converting::List { rest, .. } => rest.next(),
            Converting::Object { rest, current, .. } => {
                *current = rest.next();
                current.map(|item| &item.value)
            }
        }
    }

    /// Adds the member just converted.
    fn add(&mut self, value: Value) {
        match self {
            Converting::List { done, .. } => done.push(value),
            Converting::Object { current, done, .. } => {
                if let Some(item) = current.take() {
                    let (key, value) = entry(&item.keys, value);
                    merge(done, key, value);
                }
            }
        }
    }

    fn finish(self) -> Value {
        match self {
            Converting::List { done, .. } => Value::Array(done),
            Converting::Object { done, .. } => Value::Object(done),
        }
    }
}

impl Node {
    /// The value as JSON. An item with several keys (`a "b" { ... }`) nests: `{"a": {"b":
    /// {...}}}`. Within one object a repeated key whose values are both lists gets the two
    /// lists joined, as HCL1 decodes `{ x = ["1"]  x = ["2"] }`; otherwise the last one wins.
    ///
    /// The walk keeps its own stack of the lists and objects it is inside instead of
    /// recursing, so its use of the thread's stack does not grow with the depth.
    pub fn to_json(&self) -> Value {
        let mut open: Vec<Converting<'_>> = Vec::new();
        let mut node = self;
        loop {
            // Down: from `node` to its first literal or empty list or object.
            let mut made = match Converting::open(node) {
                Err(literal) => literal.clone(),
                Ok(mut container) => match container.next_member() {
                    Some(first) => {
                        open.push(container);
                        node = first;
                        continue;
                    }
                    None => container.finish(),
                },
            };
            // Up: hand the finished value to its container, and finish every container that
            // has no member left, until one has.
            loop {
                let Some(top) = open.last_mut() else {
                    return made;
                };
                top.add(made);
                if let Some(next) = top.next_member() {
                    node = next;
                    break;
                }
                made = open.pop().map_or(Value::Null, Converting::finish);
            }
        }
    }
}

/// Adds one item's entry to an object: a list joins a list given before under the same key;
/// anything else replaces what was there.
fn merge(map: &mut serde_json::Map<String, Value>, key: String, value: Value) {
    match (map.get_mut(&key), value) {
        (Some(Value::Array(old)), Value::Array(new)) => old.extend(new),
        (_, value) => {
            map.insert(key, value);
        }
    }
}

/// The first key, and `value` inside one object per further key, folded from the innermost
/// (`a "b" "c" = v` is `a` and `{"b": {"c": v}}`).
fn entry(keys: &[Key], value: Value) -> (String, Value) {
    let mut value = value;
    for key in keys.iter().skip(1).rev() {
        let mut map = serde_json::Map::new();
        map.insert(key.text.clone(), value);
        value = Value::Object(map);
    }
    let first = keys.first().map(|k| k.text.clone()).unwrap_or_default();
    (first, value)
}

impl Item {
    /// The first key, and the value with any further keys as nested objects.
    pub fn to_json_entry(&self) -> (String, Value) {
        entry(&self.keys, self.value.to_json())
    }
}

/// Dropping a node moves the lists and objects below it onto a heap stack and drops them from
/// there one by one, each with its own members already taken, so the drop does not recurse
/// once per level as the derived drop would.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending: Vec<Node> = Vec::new();
        take_members(self, &mut pending);
        while let Some(mut node) = pending.pop() {
            take_members(&mut node, &mut pending);
            // `node` now holds no list or object and drops without going deeper.
        }
    }
}

/// Moves the members of `node` that are lists or objects into `pending`; literals are dropped
/// in place, as they hold no nodes.
fn take_members(node: &mut Node, pending: &mut Vec<Node>) {
    let nested = |n: &Node| !matches!(n, Node::Literal(_));
    match node {
        Node::Literal(_) => {}
        Node::List(items) => pending.extend(items.drain(..).filter(nested)),
        Node::Object(items) => {
            pending.extend(items.drain(..).map(|item| item.value).filter(nested));
        }
    }
}

/// Parses an HCL1 document. Errors are `At line:column: message`.
pub fn parse(text: &str) -> Result<Vec<Item>, String> {
    let mut parser = Parser {
        lexer: Lexer::new(text),
        peeked: None,
        depth: 0,
    };
    let result = parser.document();
    // A lexical error met on the way is what OpenBao reports, even when the parse went on
    // (a string with a bad escape is still a string) or failed later.
    if let Some((pos, message)) = parser.lexer.error.take() {
        return Err(at(pos, &message));
    }
    result.map_err(|(pos, message)| at(pos, &message))
}

fn at(pos: Pos, message: &str) -> String {
    format!("At {}:{}: {message}", pos.line, pos.column)
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Eof,
    Illegal,
    Ident,
    Number(Value),
    Float(Value),
    Bool(bool),
    /// A quoted string, with its value after unescaping.
    Str(String),
    Heredoc(String),
    LBrack,
    RBrack,
    LBrace,
    RBrace,
    Comma,
    Period,
    Assign,
    Add,
    Sub,
}

impl Kind {
    /// The token names OpenBao's messages use.
    fn name(&self) -> &'static str {
        match self {
            Kind::Eof => "EOF",
            Kind::Illegal => "ILLEGAL",
            Kind::Ident => "IDENT",
            Kind::Number(_) => "NUMBER",
            Kind::Float(_) => "FLOAT",
            Kind::Bool(_) => "BOOL",
            Kind::Str(_) => "STRING",
            Kind::Heredoc(_) => "HEREDOC",
            Kind::LBrack => "LBRACK",
            Kind::RBrack => "RBRACK",
            Kind::LBrace => "LBRACE",
            Kind::RBrace => "RBRACE",
            Kind::Comma => "COMMA",
            Kind::Period => "PERIOD",
            Kind::Assign => "ASSIGN",
            Kind::Add => "ADD",
            Kind::Sub => "SUB",
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// The text as written (quotes included), for messages.
    raw: String,
    pos: Pos,
}

// ---------------------------------------------------------------------------------------------
// Lexer

struct Lexer {
    chars: Vec<char>,
    /// Index of the next character to read.
    i: usize,
    /// Position of `chars[i]` (or just past the end).
    pos: Pos,
    /// The last lexical error, which wins over any syntax error.
    error: Option<(Pos, String)>,
}

fn is_letter(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    is_letter(c) || c.is_numeric() || c == '-' || c == '.'
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            i: 0,
            pos: Pos { line: 1, column: 1 },
            error: None,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    fn fail(&mut self, pos: Pos, message: &str) {
        self.error = Some((pos, message.to_string()));
    }

    fn text_from(&self, start: usize) -> String {
        self.chars[start..self.i].iter().collect()
    }

    /// The next token, skipping whitespace and comments.
    fn next_token(&mut self) -> Token {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\n' | '\r') => {
                    self.bump();
                }
                Some('#') => self.skip_line(),
                Some('/') => {
                    let slash = self.pos;
                    match self.peek_at(1) {
                        Some('/') => self.skip_line(),
                        Some('*') => self.skip_block_comment(),
                        _ => {
                            self.bump();
                            self.fail(slash, "expected '/' for comment");
                            return self.token(Kind::Illegal, self.i - 1, slash);
                        }
                    }
                }
                _ => break,
            }
        }
        let start = self.i;
        let pos = self.pos;
        let Some(c) = self.bump() else {
            return self.token(Kind::Eof, start, pos);
        };
        let kind = match c {
            '[' => Kind::LBrack,
            ']' => Kind::RBrack,
            '{' => Kind::LBrace,
            '}' => Kind::RBrace,
            ',' => Kind::Comma,
            '=' => Kind::Assign,
            '+' => Kind::Add,
            '"' => self.string(),
            '<' => self.heredoc(),
            '-' if self.peek().is_some_and(|c| c.is_ascii_digit()) => self.number(start, pos),
            '-' => Kind::Sub,
            '.' if self.peek().is_some_and(|c| c.is_ascii_digit()) => self.number(start, pos),
            '.' => Kind::Period,
            c if c.is_ascii_digit() => self.number(start, pos),
            c if is_letter(c) => {
                while self.peek().is_some_and(is_ident_char) {
                    self.bump();
                }
                match self.text_from(start).as_str() {
                    "true" => Kind::Bool(true),
                    "false" => Kind::Bool(false),
                    _ => Kind::Ident,
                }
            }
            '\0' => {
                self.fail(pos, "unexpected null character (0x00)");
                Kind::Illegal
            }
            _ => {
                self.fail(pos, "illegal char");
                Kind::Illegal
            }
        };
        self.token(kind, start, pos)
    }

    fn token(&self, kind: Kind, start: usize, pos: Pos) -> Token {
        Token {
            kind,
            raw: self.text_from(start),
            pos,
        }
    }

    /// `#` or `//` up to (not including) the end of the line.
    fn skip_line(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    /// `/* ... */`, which does not nest.
    fn skip_block_comment(&mut self) {
        self.bump();
        self.bump();
        loop {
            match self.bump() {
                None => {
                    self.fail(self.pos, "comment not terminated");
                    return;
                }
                Some('*') if self.peek() == Some('/') => {
                    self.bump();
                    return;
                }
                Some(_) => {}
            }
        }
    }

    /// A number after its first character (a digit, or a `-` or `.` before one): decimal,
    /// `0x` hex, `0` octal, or a float with a fraction and/or an exponent. Integers become
    /// JSON integers; a float whose value is whole does too (`1e3` is 1000, as a TTL reads
    /// it), others stay floats.
    fn number(&mut self, start: usize, pos: Pos) -> Kind {
        let mut float = self.chars[self.i - 1] == '.';
        if self.chars[self.i - 1] == '-' {
            self.bump();
        }
        let hex = self.chars[self.i - 1] == '0'
            && matches!(self.peek(), Some('x' | 'X'))
            && self.peek_at(1).is_some_and(|c| c.is_ascii_hexdigit());
        if hex {
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.bump();
            }
            return self.integer(start, pos);
        }
        self.digits();
        if !float && self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit())
        {
            float = true;
            self.bump();
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek_at(1), Some('+' | '-')));
            if self.peek_at(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                for _ in 0..=sign {
                    self.bump();
                }
                self.digits();
            }
        }
        if !float {
            return self.integer(start, pos);
        }
        let value = self.text_from(start).parse::<f64>().unwrap_or(f64::NAN);
        // Whole values within ±2^53 are exact as integers.
        let json = if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
            Value::from(value as i64)
        } else {
            serde_json::Number::from_f64(value)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        };
        Kind::Float(json)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    /// The integer just read (Go's base-0 rules: `0x` hex, leading `0` octal).
    fn integer(&mut self, start: usize, pos: Pos) -> Kind {
        let text = self.text_from(start);
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let (radix, digits) = if let Some(hex) = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            (16, hex)
        } else if digits.len() > 1 && digits.starts_with('0') {
            (8, &digits[1..])
        } else {
            (10, digits)
        };
        let parsed = i64::from_str_radix(digits, radix)
            .map(|n| if negative { -n } else { n })
            .map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    format!("strconv.ParseInt: parsing \"{text}\": value out of range")
                }
                _ => format!("strconv.ParseInt: parsing \"{text}\": invalid syntax"),
            });
        match parsed {
            Ok(n) => Kind::Number(Value::from(n)),
            Err(message) => {
                self.fail(pos, &message);
                Kind::Illegal
            }
        }
    }

    /// A quoted string after its opening quote. A `${ ... }` inside may hold quotes and line
    /// breaks; elsewhere a line break ends the string with an error, as in OpenBao.
    fn string(&mut self) -> Kind {
        let mut value = String::new();
        let mut braces = 0usize;
        loop {
            let pos = self.pos;
            match self.peek() {
                None => {
                    self.fail(pos, "literal not terminated");
                    return Kind::Str(value);
                }
                Some('\n') if braces == 0 => {
                    self.fail(pos, "literal not terminated");
                    return Kind::Str(value);
                }
                Some('"') if braces == 0 => {
                    self.bump();
                    return Kind::Str(value);
                }
                Some('\\') => {
                    self.bump();
                    if let Some(c) = self.escape() {
                        value.push(c);
                    }
                }
                Some('$') if self.peek_at(1) == Some('{') => {
                    braces += 1;
                    self.bump();
                    self.bump();
                    value.push_str("${");
                }
                Some(c) => {
                    if c == '}' && braces > 0 {
                        braces -= 1;
                    }
                    self.bump();
                    value.push(c);
                }
            }
        }
    }

    /// One escape after its backslash: Go's set (`\n`, `\"`, `\\`, `\x41`, `\101`, `\u00e9`,
    /// `\U0001F600`, ...). A bad one is an error at the offending character, which is left for
    /// the string to go on with.
    fn escape(&mut self) -> Option<char> {
        let pos = self.pos;
        let c = self.peek()?;
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if simple.is_some() {
            self.bump();
            return simple;
        }
        let (radix, count) = match c {
            '0'..='7' => (8, 3),
            'x' => (16, 2),
            'u' => (16, 4),
            'U' => (16, 8),
            _ => {
                self.fail(pos, "illegal char escape");
                return None;
            }
        };
        if radix == 16 {
            self.bump();
        }
        let mut code: u32 = 0;
        for _ in 0..count {
            let pos = self.pos;
            match self.peek().and_then(|c| c.to_digit(radix)) {
                Some(d) => {
                    self.bump();
                    code = code * radix + d;
                }
                None => {
                    // At the end of the text the string's own error follows.
                    if self.peek().is_some() {
                        self.fail(pos, "illegal char escape");
                    }
                    return None;
                }
            }
        }
        if ((radix == 8 || c == 'x') && code > 0xFF) || code > 0x10FFFF {
            // OpenBao fails the request outright on `\U00110000`; refusing is the safe reading.
            self.fail(pos, "illegal char escape");
            return None;
        }
        // Go keeps `\x` and octal escapes as bytes; for a policy, the code point will do.
        Some(char::from_u32(code).unwrap_or('\u{FFFD}'))
    }

    /// A heredoc after its first `<`: `<<EOT` or `<<-EOT`, a line break, the lines, and a line
    /// holding only the anchor (after any indentation).
    ///
    /// With `<<` the text is every line up to the anchor's line, plus that line's indentation
    /// (OpenBao keeps it). With `<<-` the anchor line's indentation is removed from every line
    /// that starts with it, but only if all of them do. Line breaks are `\n` (`\r\n` counts).
    fn heredoc(&mut self) -> Kind {
        if self.peek() != Some('<') {
            let pos = self.pos;
            self.fail(pos, "heredoc expected second '<', didn't see it");
            return Kind::Illegal;
        }
        self.bump();
        let indented = self.peek() == Some('-');
        if indented {
            self.bump();
        }
        let mut anchor = String::new();
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            anchor.push(c);
            self.bump();
        }
        if self.peek() == Some('\r') && self.peek_at(1) == Some('\n') {
            self.bump();
        }
        match self.peek() {
            Some('\n') if anchor.is_empty() => {
                let pos = self.pos;
                self.fail(pos, "zero-length heredoc anchor");
                return Kind::Illegal;
            }
            Some('\n') => {
                self.bump();
            }
            Some(_) => {
                let pos = self.pos;
                self.fail(pos, "invalid characters in heredoc anchor");
                return Kind::Illegal;
            }
            None => {
                self.fail(self.pos, "heredoc not terminated");
                return Kind::Illegal;
            }
        }

        let mut lines: Vec<String> = Vec::new();
        loop {
            let mut line = String::new();
            let mut ended = false;
            while let Some(c) = self.bump() {
                if c == '\n' {
                    ended = true;
                    break;
                }
                line.push(c);
            }
            if !ended {
                // The anchor's line must end with a line break too.
                self.fail(self.pos, "heredoc not terminated");
                return Kind::Illegal;
            }
            if line.ends_with('\r') {
                line.pop();
            }
            let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
            if line[indent_len..] == anchor {
                let indent = &line[..indent_len];
                let mut text = String::new();
                if indented && lines.iter().all(|l| l.starts_with(indent)) {
                    for l in &lines {
                        text.push_str(&l[indent.len()..]);
                        text.push('\n');
                    }
                } else {
                    for l in &lines {
                        text.push_str(l);
                        text.push('\n');
                    }
                    if !indented {
                        text.push_str(indent);
                    }
                }
                return Kind::Heredoc(text);
            }
            lines.push(line);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
//
// The grammar nests (an object holds items whose values hold lists and objects), but the
// parser does not recurse: every list or object being read is a [`Frame`] on a heap stack,
// so the thread's stack stays flat whatever the input. Tokens are pulled in the same order a
// recursive descent would pull them, which the messages depend on (a lexical error met on the
// way wins).

type Failure = (Pos, String);

struct Parser {
    lexer: Lexer,
    peeked: Option<Token>,
    /// The levels open: one per list or object being read, plus one per key after the first
    /// of each item whose object is being read.
    depth: usize,
}

/// A list or object being read.
struct Frame {
    body: Body,
    /// Where the finished value goes.
    then: Then,
}

enum Body {
    /// The items of an object, or of the document at the bottom of the stack.
    Object(Vec<Item>),
    List(Vec<Node>),
}

enum Then {
    /// The document itself: its items are the result.
    Document,
    /// The value of an item in the object below, with the item's keys. `extra` levels were
    /// opened for the keys after the first, and close with the value.
    Item { keys: Vec<Key>, extra: usize },
    /// An element of the list below. After an object the list wants a comma or its end;
    /// after a list it does not (OpenBao reads `[["a"] "b"]`).
    Element { wants_separator: bool },
}

/// What reading one item came to.
enum ItemStart {
    /// The item is complete (its value is a literal).
    Done(Item),
    /// Its value is a list or object, now open.
    Opened(Frame),
    /// `key =` at the very end: OpenBao drops it and stops.
    End,
}

impl Parser {
    fn next(&mut self) -> Token {
        self.peeked
            .take()
            .unwrap_or_else(|| self.lexer.next_token())
    }

    fn peek(&mut self) -> &Token {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token());
        }
        self.peeked.as_ref().expect("just filled")
    }

    /// Items up to the end of the text. In an object, items go up to its `}`; one comma may
    /// follow each item.
    fn document(&mut self) -> Result<Vec<Item>, Failure> {
        let mut stack = vec![Frame {
            body: Body::Object(Vec::new()),
            then: Then::Document,
        }];
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(Vec::new());
            };
            let in_object = !matches!(top.then, Then::Document);
            let finished = match &mut top.body {
                Body::Object(items) => {
                    let end = match self.peek().kind {
                        Kind::Eof => true,
                        Kind::RBrace => in_object,
                        _ => false,
                    };
                    if !end {
                        match self.item()? {
                            ItemStart::Done(item) => {
                                items.push(item);
                                self.separator();
                                continue;
                            }
                            ItemStart::Opened(frame) => {
                                stack.push(frame);
                                continue;
                            }
                            ItemStart::End => {}
                        }
                    }
                    if !in_object {
                        return Ok(std::mem::take(items));
                    }
                    let close = self.next();
                    if close.kind != Kind::RBrace {
                        return Err((
                            close.pos,
                            format!("object expected closing RBRACE got: {}", close.kind.name()),
                        ));
                    }
                    Node::Object(std::mem::take(items))
                }
                Body::List(elements) => {
                    let token = self.next();
                    match token.kind {
                        Kind::RBrack => Node::List(std::mem::take(elements)),
                        Kind::Comma => continue,
                        Kind::LBrack => {
                            let frame = self.open(
                                token.pos,
                                Body::List(Vec::new()),
                                Then::Element {
                                    wants_separator: false,
                                },
                            )?;
                            stack.push(frame);
                            continue;
                        }
                        Kind::LBrace => {
                            let frame = self.open(
                                token.pos,
                                Body::Object(Vec::new()),
                                Then::Element {
                                    wants_separator: true,
                                },
                            )?;
                            stack.push(frame);
                            continue;
                        }
                        _ => {
                            let element = literal(token).map_err(|t| {
                                let message = format!(
                                    "unexpected token while parsing list: {}",
                                    t.kind.name()
                                );
                                (t.pos, message)
                            })?;
                            elements.push(element);
                            self.list_separator()?;
                            continue;
                        }
                    }
                }
            };
            // The top frame is read: its level closes, and its value goes to the frame below.
            self.depth -= 1;
            let Some(Frame { then, .. }) = stack.pop() else {
                continue;
            };
            let below = stack.last_mut().map(|frame| &mut frame.body);
            match (then, below) {
                (Then::Item { keys, extra }, Some(Body::Object(items))) => {
                    self.depth -= extra;
                    items.push(Item {
                        keys,
                        value: finished,
                    });
                    self.separator();
                }
                (Then::Element { wants_separator }, Some(Body::List(elements))) => {
                    elements.push(finished);
                    if wants_separator {
                        self.list_separator()?;
                    }
                }
                // Frames are pushed only onto the body their `then` names.
                _ => {}
            }
        }
    }

    /// One comma may follow an item.
    fn separator(&mut self) {
        if self.peek().kind == Kind::Comma {
            self.next();
        }
    }

    /// After a literal or an object in a list comes a comma or the list's end.
    fn list_separator(&mut self) -> Result<(), Failure> {
        let after = self.peek();
        if !matches!(after.kind, Kind::Comma | Kind::RBrack) {
            return Err((
                after.pos,
                format!(
                    "error parsing list, expected comma or list end, got: {}",
                    after.kind.name()
                ),
            ));
        }
        Ok(())
    }

    /// `key key... = value` or `key key... { items }`, up to its value: a literal completes
    /// the item, a list or object is opened for the caller to read.
    fn item(&mut self) -> Result<ItemStart, Failure> {
        let mut keys: Vec<Key> = Vec::new();
        loop {
            let token = self.next();
            match token.kind {
                Kind::Ident | Kind::Str(_) => {
                    let text = match &token.kind {
                        Kind::Str(s) => s.clone(),
                        _ => token.raw.clone(),
                    };
                    keys.push(Key {
                        text,
                        raw: token.raw,
                    });
                    // Each key after the first nests one more object, and the object after
                    // them one more: an item may have only as many keys as levels are left,
                    // and the chain is refused here, while it is a list of keys, before any
                    // value is built from it.
                    if self.depth + keys.len() > MAX_DEPTH {
                        return Err((token.pos, too_deep()));
                    }
                }
                Kind::Assign if keys.is_empty() => {
                    return Err((token.pos, "no object keys found!".to_string()));
                }
                Kind::Assign if keys.len() > 1 => {
                    return Err((
                        token.pos,
                        "nested object expected: LBRACE got: ASSIGN".to_string(),
                    ));
                }
                Kind::Assign => return self.value(keys),
                Kind::LBrace if keys.is_empty() => {
                    return Err((
                        token.pos,
                        "expected: IDENT | STRING got: LBRACE".to_string(),
                    ));
                }
                Kind::LBrace => {
                    // The object nests inside the levels the extra keys make.
                    let extra = keys.len() - 1;
                    self.depth += extra;
                    let then = Then::Item { keys, extra };
                    return Ok(ItemStart::Opened(self.open(
                        token.pos,
                        Body::Object(Vec::new()),
                        then,
                    )?));
                }
                Kind::Eof | Kind::RBrace if !keys.is_empty() => {
                    let names: Vec<&str> = keys.iter().map(|k| k.raw.as_str()).collect();
                    return Err((
                        token.pos,
                        format!(
                            "key '{}' expected start of object ('{{') or assignment ('=')",
                            names.join(" ")
                        ),
                    ));
                }
                other => {
                    return Err((
                        token.pos,
                        format!(
                            "expected: IDENT | STRING | ASSIGN | LBRACE got: {}",
                            other.name()
                        ),
                    ));
                }
            }
        }
    }

    /// The value after `key =`.
    fn value(&mut self, keys: Vec<Key>) -> Result<ItemStart, Failure> {
        let token = self.next();
        let body = match token.kind {
            Kind::Eof => return Ok(ItemStart::End),
            Kind::LBrack => Body::List(Vec::new()),
            Kind::LBrace => Body::Object(Vec::new()),
            _ => {
                let value = literal(token).map_err(|t| {
                    let at = t.pos;
                    let (name, raw) = (t.kind.name(), t.raw);
                    (
                        at,
                        format!("Unknown token: {}:{} {name} {raw}", at.line, at.column),
                    )
                })?;
                return Ok(ItemStart::Done(Item { keys, value }));
            }
        };
        let frame = self.open(token.pos, body, Then::Item { keys, extra: 0 })?;
        Ok(ItemStart::Opened(frame))
    }

    /// A list or object just opened at `pos`, one level deeper, if the bound allows it.
    fn open(&mut self, pos: Pos, body: Body, then: Then) -> Result<Frame, Failure> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((pos, too_deep()));
        }
        Ok(Frame { body, then })
    }
}

fn too_deep() -> String {
    format!("nested deeper than {MAX_DEPTH} levels")
}

/// A literal token (string, heredoc, number, bool) as a node, or the token back.
fn literal(token: Token) -> Result<Node, Token> {
    match token.kind {
        Kind::Str(s) | Kind::Heredoc(s) => Ok(Node::Literal(Value::String(s))),
        Kind::Number(v) | Kind::Float(v) => Ok(Node::Literal(v)),
        Kind::Bool(b) => Ok(Node::Literal(Value::Bool(b))),
        _ => Err(token),
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! The depth bound and the absence of recursion. Everything that could recurse runs on a
    //! thread with [`TINY_STACK`]: the recursive descent this reader once was needed between
    //! 512 KiB and 1 MiB at the bound in a debug build, so a recursion shows up as an abort.

    use serde_json::{json, Value};

    use super::{parse, Item, Key, Node, MAX_DEPTH};
    use crate::policy::tests_fuzz::on_stack;

    /// A quarter of a megabyte: an eighth of a server worker's stack.
    pub(crate) const TINY_STACK: usize = 256 * 1024;

    pub(crate) fn on_tiny_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        on_stack(TINY_STACK, f)
    }

    /// The levels a document nests, counted as the parser counts them: one per list or object,
    /// one per key of an item after its first. Walks with its own stack.
    pub(crate) fn depth_of_items(items: &[Item]) -> usize {
        let mut deepest = 0;
        let mut pending: Vec<(&Node, usize)> = items
            .iter()
            .map(|item| (&item.value, item.keys.len() - 1))
            .collect();
        while let Some((node, above)) = pending.pop() {
            match node {
                Node::Literal(_) => deepest = deepest.max(above),
                Node::List(elements) => {
                    deepest = deepest.max(above + 1);
                    pending.extend(elements.iter().map(|e| (e, above + 1)));
                }
                Node::Object(items) => {
                    deepest = deepest.max(above + 1);
                    pending.extend(
                        items
                            .iter()
                            .map(|item| (&item.value, above + item.keys.len())),
                    );
                }
            }
        }
        deepest
    }

    /// How many arrays and objects nest in `value`, walked with its own stack.
    pub(crate) fn depth_of_json(value: &Value) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(value, 0)];
        while let Some((value, above)) = pending.pop() {
            match value {
                Value::Array(v) => {
                    deepest = deepest.max(above + 1);
                    pending.extend(v.iter().map(|v| (v, above + 1)));
                }
                Value::Object(m) => {
                    deepest = deepest.max(above + 1);
                    pending.extend(m.values().map(|v| (v, above + 1)));
                }
                _ => {}
            }
        }
        deepest
    }

    /// Takes a JSON value apart one container at a time, for values deeper than serde_json's
    /// own (recursive) drop may take.
    fn dismantle(value: Value) {
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            match value {
                Value::Array(v) => pending.extend(v),
                Value::Object(m) => pending.extend(m.into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
    }

    /// Parses on the tiny stack; an accepted document's depth and JSON depth are checked
    /// against the bound there too.
    fn parse_tiny(text: String) -> Result<usize, String> {
        on_tiny_stack(move || {
            let items = parse(&text)?;
            let depth = depth_of_items(&items);
            assert!(depth <= MAX_DEPTH, "{depth} levels were built");
            for item in &items {
                let (_, value) = item.to_json_entry();
                assert!(depth_of_json(&value) <= MAX_DEPTH);
            }
            Ok(depth)
        })
    }

    fn too_deep_at(column: usize) -> Result<usize, String> {
        Err(format!(
            "At 1:{column}: nested deeper than {MAX_DEPTH} levels"
        ))
    }

    #[test]
    fn an_item_may_have_as_many_keys_as_the_bound_and_no_more() {
        // `k` x n `{}`: n - 1 nested objects around the innermost one.
        let chain = |n: usize| format!("{}{{}}", "k ".repeat(n));
        assert_eq!(parse_tiny(chain(MAX_DEPTH)), Ok(MAX_DEPTH));
        assert_eq!(
            parse_tiny(chain(MAX_DEPTH + 1)),
            too_deep_at(2 * MAX_DEPTH + 1)
        );
        // Refused at the first key past the bound, however many follow.
        assert_eq!(parse_tiny(chain(50_000)), too_deep_at(2 * MAX_DEPTH + 1));
        // The JSON of the longest chain is exactly as deep as the bound.
        let items = parse(&chain(MAX_DEPTH)).unwrap();
        let (key, value) = items[0].to_json_entry();
        assert_eq!(key, "k");
        assert_eq!(depth_of_json(&value), MAX_DEPTH);
        // A key chain also counts the levels it is inside.
        let inside = |n: usize| format!("a {{ b = [ {{ {}{{}} }} ] }}", "k ".repeat(n));
        assert_eq!(parse_tiny(inside(MAX_DEPTH - 3)), Ok(MAX_DEPTH));
        assert_eq!(
            parse_tiny(inside(MAX_DEPTH - 2)),
            too_deep_at(13 + 2 * (MAX_DEPTH - 3))
        );
    }

    #[test]
    fn objects_and_lists_may_nest_as_deep_as_the_bound_and_no_deeper() {
        // `a { a { ... } }`: each `a` is refused when its object would pass the bound.
        let blocks = |n: usize| "a { ".repeat(n) + &"} ".repeat(n);
        assert_eq!(parse_tiny(blocks(MAX_DEPTH)), Ok(MAX_DEPTH));
        assert_eq!(
            parse_tiny(blocks(MAX_DEPTH + 1)),
            too_deep_at(1 + 4 * MAX_DEPTH)
        );
        assert_eq!(
            parse_tiny("a { ".repeat(100_000)),
            too_deep_at(1 + 4 * MAX_DEPTH)
        );
        // `a = { a = { ... } }`.
        let assigned = |n: usize| "a = { ".repeat(n) + &"} ".repeat(n);
        assert_eq!(parse_tiny(assigned(MAX_DEPTH)), Ok(MAX_DEPTH));
        assert_eq!(
            parse_tiny(assigned(MAX_DEPTH + 1)),
            too_deep_at(1 + 6 * MAX_DEPTH)
        );
        // `x = [[[ ... ]]]`: the list past the bound is refused at its `[`.
        let lists = |n: usize| format!("x = {}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(parse_tiny(lists(MAX_DEPTH)), Ok(MAX_DEPTH));
        assert_eq!(parse_tiny(lists(MAX_DEPTH + 1)), too_deep_at(5 + MAX_DEPTH));
        assert_eq!(
            parse_tiny(format!("x = {}", "[".repeat(100_000))),
            too_deep_at(5 + MAX_DEPTH)
        );
        // `x = [{ a = [{ ... }] }]`: objects in lists, two levels a round. A key in an
        // object at the bound is refused too, so the deepest level is lists: `[[1]]`.
        let rounds = MAX_DEPTH / 2 - 1;
        let mixed = |tail: &str| {
            format!(
                "x = {}{tail}{}",
                "[{ a = ".repeat(rounds),
                " }]".repeat(rounds)
            )
        };
        assert_eq!(parse_tiny(mixed("[[1]]")), Ok(MAX_DEPTH));
        let tail = 5 + 7 * rounds;
        assert_eq!(parse_tiny(mixed("[[[1]]]")), too_deep_at(tail + 2));
        assert_eq!(parse_tiny(mixed("[{ a = 1 }]")), too_deep_at(tail + 3));
        // `x = [{ { {`: an object's items need keys, so the second `{` is refused at once.
        assert_eq!(
            parse_tiny(format!("x = [{}", "{ ".repeat(100_000))),
            Err("At 1:8: expected: IDENT | STRING got: LBRACE".to_string())
        );
        assert_eq!(
            parse_tiny("{ ".repeat(100_000)),
            Err("At 1:1: expected: IDENT | STRING got: LBRACE".to_string())
        );
    }

    /// What [`Node::to_json`] makes of each form, so the walk without recursion is checked
    /// for order, repeats and empty containers.
    #[test]
    fn json_of_nested_items_lists_and_repeats() {
        let text = r#"
            a "b" "c" { z = 1 }
            a "b" { x = ["1"] x = ["2"], y = "first" y = "last" }
            e = [] f = {} g = [[], {}, [[]], { h = [1, { i = true }] }]
            l = ["1"]
            l = ["2", ["3"]]
            m = "not a list" m = ["list"]
        "#;
        let items = parse(text).unwrap();
        let doc = Node::Object(items).to_json();
        assert_eq!(
            doc,
            json!({
                "a": {"b": {"x": ["1", "2"], "y": "last"}},
                "e": [],
                "f": {},
                "g": [[], {}, [[]], {"h": [1, {"i": true}]}],
                "l": ["1", "2", ["3"]],
                "m": ["list"],
            })
        );
        // The first `a` was replaced whole by the second, as HCL1 decodes a repeated object.
        let items = parse(r#"a "b" "c" { z = 1 }"#).unwrap();
        assert_eq!(
            items[0].to_json_entry(),
            ("a".to_string(), json!({"b": {"c": {"z": 1}}}))
        );
        assert_eq!(Node::List(Vec::new()).to_json(), json!([]));
        assert_eq!(Node::Literal(json!("s")).to_json(), json!("s"));
    }

    /// Nodes far deeper than the parser makes, built and torn down without recursion: the
    /// drop and the conversion to JSON both stay flat on the tiny stack.
    #[test]
    fn deep_nodes_drop_and_convert_without_recursion() {
        const DEEP: usize = 1_000_000;
        on_tiny_stack(|| {
            let mut list = Node::Literal(json!(1));
            for _ in 0..DEEP {
                list = Node::List(vec![list, Node::Literal(json!("x"))]);
            }
            drop(list);

            let mut object = Node::Object(Vec::new());
            for _ in 0..DEEP {
                let key = Key {
                    text: "k".to_string(),
                    raw: "k".to_string(),
                };
                object = Node::Object(vec![Item {
                    keys: vec![key.clone(), key],
                    value: object,
                }]);
            }
            let json = object.to_json();
            drop(object);
            // Each item adds its object and one for its second key.
            assert_eq!(depth_of_json(&json), 2 * DEEP + 1);
            dismantle(json);
        });
    }

    /// A reference [`Node::to_json`] as a plain recursion, for comparison on documents well
    /// within the bound (run on the test's ordinary stack).
    fn recursive_json(node: &Node) -> Value {
        match node {
            Node::Literal(v) => v.clone(),
            Node::List(items) => Value::Array(items.iter().map(recursive_json).collect()),
            Node::Object(items) => {
                let mut map = serde_json::Map::new();
                for item in items {
                    let mut value = recursive_json(&item.value);
                    for key in item.keys[1..].iter().rev() {
                        value = json!({ key.text.clone(): value });
                    }
                    match (map.get_mut(&item.keys[0].text), value) {
                        (Some(Value::Array(old)), Value::Array(new)) => old.extend(new),
                        (_, value) => {
                            map.insert(item.keys[0].text.clone(), value);
                        }
                    }
                }
                Value::Object(map)
            }
        }
    }

    pub(crate) fn check_json_matches_recursion(text: &str) -> Result<(), String> {
        if let Ok(items) = parse(text) {
            let doc = Node::Object(items);
            if doc.to_json() != recursive_json(&doc) {
                return Err(format!("to_json differs for {text:?}"));
            }
        }
        Ok(())
    }

    #[test]
    fn json_matches_a_plain_recursion_on_the_fixture() {
        let fixture: Value =
            serde_json::from_str(include_str!("testdata/hcl1_fixture.json")).unwrap();
        let mut read = 0;
        for case in fixture["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            read += usize::from(parse(text).is_ok());
            check_json_matches_recursion(text).unwrap();
        }
        assert!(read >= 50, "only {read} fixture texts parsed");
    }
}
