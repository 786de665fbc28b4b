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
/// levels. The bound keeps every recursion over a parsed document (this parser, [`Node::to_json`],
/// and dropping a [`Node`] or the JSON made from it) at most this deep, whatever the input's
/// size: a 100 KB item of 50,000 keys once built 50,000 nested objects, whose drop overflowed
/// the stack and aborted the server.
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
    /// A string, heredoc, number or bool, already as JSON.
    Literal(Value),
    List(Vec<Node>),
    /// `{ ... }`, with its items in order (keys may repeat).
    Object(Vec<Item>),
}

impl Node {
    /// The value as JSON. An item with several keys (`a "b" { ... }`) nests: `{"a": {"b":
    /// {...}}}`. Within one object a repeated key whose values are both lists gets the two
    /// lists joined, as HCL1 decodes `{ x = ["1"]  x = ["2"] }`; otherwise the last one wins.
    pub fn to_json(&self) -> Value {
        match self {
            Node::Literal(v) => v.clone(),
            Node::List(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Object(items) => {
                let mut map = serde_json::Map::new();
                for item in items {
                    let (key, value) = item.to_json_entry();
                    match (map.get_mut(&key), value) {
                        (Some(Value::Array(old)), Value::Array(new)) => old.extend(new),
                        (_, value) => {
                            map.insert(key, value);
                        }
                    }
                }
                Value::Object(map)
            }
        }
    }
}

impl Item {
    /// The first key, and the value with any further keys as nested objects.
    pub fn to_json_entry(&self) -> (String, Value) {
        let mut value = self.value.to_json();
        for key in self.keys[1..].iter().rev() {
            let mut map = serde_json::Map::new();
            map.insert(key.text.clone(), value);
            value = Value::Object(map);
        }
        (self.keys[0].text.clone(), value)
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

type Failure = (Pos, String);

struct Parser {
    lexer: Lexer,
    peeked: Option<Token>,
    depth: usize,
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

    fn document(&mut self) -> Result<Vec<Item>, Failure> {
        self.items(false)
    }

    /// Items up to the end of the text, or up to a `}` inside an object; one comma may
    /// follow each item.
    fn items(&mut self, in_object: bool) -> Result<Vec<Item>, Failure> {
        let mut items = Vec::new();
        loop {
            match self.peek().kind {
                Kind::Eof => break,
                Kind::RBrace if in_object => break,
                _ => {}
            }
            match self.item()? {
                Some(item) => items.push(item),
                // `key =` at the very end: OpenBao drops it and stops.
                None => break,
            }
            if self.peek().kind == Kind::Comma {
                self.next();
            }
        }
        Ok(items)
    }

    /// `key key... = value` or `key key... { items }`.
    fn item(&mut self) -> Result<Option<Item>, Failure> {
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
                    // Each key after the first nests one more object.
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
                Kind::Assign => {
                    return Ok(self.value()?.map(|value| Item { keys, value }));
                }
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
                    let value = self.object(token.pos)?;
                    self.depth -= extra;
                    return Ok(Some(Item { keys, value }));
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

    /// The value after `=`; `None` at the end of the text.
    fn value(&mut self) -> Result<Option<Node>, Failure> {
        let token = self.next();
        Ok(Some(match token.kind {
            Kind::Eof => return Ok(None),
            Kind::LBrack => self.list(token.pos)?,
            Kind::LBrace => self.object(token.pos)?,
            _ => literal(token).map_err(|t| {
                let at = t.pos;
                let (name, raw) = (t.kind.name(), t.raw);
                (
                    at,
                    format!("Unknown token: {}:{} {name} {raw}", at.line, at.column),
                )
            })?,
        }))
    }

    fn enter(&mut self, pos: Pos) -> Result<(), Failure> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((pos, too_deep()));
        }
        Ok(())
    }

    /// The items of `{ ... }` after its `{`.
    fn object(&mut self, open: Pos) -> Result<Node, Failure> {
        self.enter(open)?;
        let items = self.items(true)?;
        let close = self.next();
        if close.kind != Kind::RBrace {
            return Err((
                close.pos,
                format!("object expected closing RBRACE got: {}", close.kind.name()),
            ));
        }
        self.depth -= 1;
        Ok(Node::Object(items))
    }

    /// The elements of `[ ... ]` after its `[`. Commas may stand anywhere between elements
    /// (`[,"a",,"b",]`); a literal or an object must be followed by a comma or the `]`.
    /// OpenBao does not ask that of a nested list (`[["a"] "b"]` reads), nor does this.
    fn list(&mut self, open: Pos) -> Result<Node, Failure> {
        self.enter(open)?;
        let mut elements = Vec::new();
        loop {
            let token = self.next();
            let element = match token.kind {
                Kind::RBrack => break,
                Kind::Comma => continue,
                Kind::LBrack => {
                    elements.push(self.list(token.pos)?);
                    continue;
                }
                Kind::LBrace => self.object(token.pos)?,
                _ => literal(token).map_err(|t| {
                    let message = format!("unexpected token while parsing list: {}", t.kind.name());
                    (t.pos, message)
                })?,
            };
            elements.push(element);
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
        }
        self.depth -= 1;
        Ok(Node::List(elements))
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
