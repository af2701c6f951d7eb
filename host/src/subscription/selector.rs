//! The label selector of a subscription: `k=v`, `k!=v`, `k in (..)`, `k notin (..)`, `k`, `!k`,
//! parsed once into [`Requirement`]s with errors that name the term and its byte offset.

use super::SubscriptionError;
use event_controller_guest::head::Labels;
use std::fmt;

/// How a label selector requirement tests a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    /// The label is one of the values (`=`, `==`, `in`).
    In,
    /// The label is absent or none of the values (`!=`, `notin`).
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Whether the labels of an event satisfy this requirement.
    pub(super) fn matches(&self, labels: &Labels<'_>) -> bool {
        // A duplicated key keeps its last value, as when the object is decoded.
        let value = labels
            .iter()
            .rev()
            .find(|(key, _)| *key == self.key)
            .map(|(_, value)| value.as_ref());
        let listed = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In => value.is_some_and(listed),
            Operator::NotIn => value.is_none_or(|v| !listed(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match (self.operator, self.values.as_slice()) {
            (Operator::Exists, _) => write!(f, "{key}"),
            (Operator::DoesNotExist, _) => write!(f, "!{key}"),
            (Operator::In, [value]) => write!(f, "{key}={value}"),
            (Operator::NotIn, [value]) => write!(f, "{key}!={value}"),
            (Operator::In, values) => write!(f, "{key} in ({})", values.join(",")),
            (Operator::NotIn, values) => write!(f, "{key} notin ({})", values.join(",")),
        }
    }
}

/// A token of a label selector requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    Not,
    Equals,
    NotEquals,
    Open,
    Close,
    Comma,
}

impl Token<'_> {
    fn describe(self) -> String {
        match self {
            Token::Word(word) => format!("{word:?}"),
            Token::Not => "'!'".to_owned(),
            Token::Equals => "'='".to_owned(),
            Token::NotEquals => "'!='".to_owned(),
            Token::Open => "'('".to_owned(),
            Token::Close => "')'".to_owned(),
            Token::Comma => "','".to_owned(),
        }
    }
}

/// Parses a whole selector; an empty or blank one has no requirements.
pub(super) fn parse_selector(selector: &str) -> Result<Vec<Requirement>, SubscriptionError> {
    if selector.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut requirements = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                requirements.push(parse_requirement(selector, start, i)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    requirements.push(parse_requirement(selector, start, selector.len())?);
    Ok(requirements)
}

/// Parses the requirement at `selector[start..end]`.
fn parse_requirement(
    selector: &str,
    start: usize,
    end: usize,
) -> Result<Requirement, SubscriptionError> {
    let term = &selector[start..end];
    let tokens = tokenize(term, start);
    let parsed = tokens.and_then(|tokens| {
        let mut cursor = Cursor {
            tokens,
            next: 0,
            end,
        };
        let requirement = cursor.requirement(start)?;
        match cursor.next() {
            None => Ok(requirement),
            Some((at, token)) => Err((at, format!("unexpected {}", token.describe()))),
        }
    });
    parsed.map_err(|(offset, reason)| SubscriptionError::InvalidLabelSelector {
        selector: selector.to_owned(),
        term: term.trim().to_owned(),
        offset,
        reason,
    })
}

/// A parse error: the byte offset in the selector and what is wrong there.
type ParseError = (usize, String);

/// The tokens of one requirement, read from the front.
struct Cursor<'a> {
    tokens: Vec<(usize, Token<'a>)>,
    next: usize,
    /// The offset just past the requirement, where a missing token is reported.
    end: usize,
}

impl<'a> Cursor<'a> {
    fn next(&mut self) -> Option<(usize, Token<'a>)> {
        let token = self.tokens.get(self.next).copied();
        self.next += usize::from(token.is_some());
        token
    }

    /// The next token, which must be `want`; `what` names it in the error.
    fn expect(&mut self, want: Token<'a>, what: &str) -> Result<(), ParseError> {
        match self.next() {
            Some((_, token)) if token == want => Ok(()),
            Some((at, token)) => Err((at, format!("expected {what}, found {}", token.describe()))),
            None => Err((self.end, format!("expected {what}"))),
        }
    }

    /// A requirement starting at `start`, validated.
    fn requirement(&mut self, start: usize) -> Result<Requirement, ParseError> {
        let (key_at, key) = match self.next() {
            None => return Err((start, "empty requirement".to_owned())),
            Some((_, Token::Not)) => {
                let (at, key) = self.key("a label key after '!'")?;
                return requirement(at, key, Operator::DoesNotExist, Vec::new());
            }
            Some((at, Token::Word(key))) => (at, key),
            Some((at, token)) => {
                let found = token.describe();
                return Err((at, format!("expected a label key or '!', found {found}")));
            }
        };
        let (operator, values) = match self.next() {
            None => (Operator::Exists, Vec::new()),
            Some((at, Token::Equals)) => (Operator::In, vec![self.value(at)]),
            Some((at, Token::NotEquals)) => (Operator::NotIn, vec![self.value(at)]),
            Some((_, Token::Word("in"))) => (Operator::In, self.set("in")?),
            Some((_, Token::Word("notin"))) => (Operator::NotIn, self.set("notin")?),
            Some((at, token)) => {
                let found = token.describe();
                let expected = "expected '=', '==', '!=', 'in' or 'notin' after the key";
                return Err((at, format!("{expected}, found {found}")));
            }
        };
        requirement(key_at, key, operator, values)
    }

    fn key(&mut self, what: &str) -> Result<(usize, &'a str), ParseError> {
        match self.next() {
            Some((at, Token::Word(key))) => Ok((at, key)),
            Some((at, token)) => Err((at, format!("expected {what}, found {}", token.describe()))),
            None => Err((self.end, format!("expected {what}"))),
        }
    }

    /// The value after the `=` or `!=` at `at`: a word, or empty.
    fn value(&mut self, at: usize) -> (usize, &'a str) {
        match self.tokens.get(self.next) {
            Some(&(value_at, Token::Word(value))) => {
                self.next += 1;
                (value_at, value)
            }
            _ => (at, ""),
        }
    }

    /// `(v1,v2,..)` after `in`/`notin`; as in Kubernetes an omitted value is the empty value.
    fn set(&mut self, operator: &str) -> Result<Vec<(usize, &'a str)>, ParseError> {
        self.expect(Token::Open, &format!("'(' after '{operator}'"))?;
        let mut values = Vec::new();
        let mut want_value = true;
        loop {
            match self.next() {
                Some((at, Token::Word(value))) if want_value => {
                    values.push((at, value));
                    want_value = false;
                }
                Some((at, token @ (Token::Comma | Token::Close))) => {
                    if want_value {
                        values.push((at, ""));
                    }
                    if token == Token::Close {
                        return Ok(values);
                    }
                    want_value = true;
                }
                Some((at, token)) => {
                    let found = token.describe();
                    return Err((at, format!("expected a value, ',' or ')', found {found}")));
                }
                None => return Err((self.end, "missing ')'".to_owned())),
            }
        }
    }
}

/// A requirement whose key and values (with their byte offsets) are checked.
fn requirement(
    key_at: usize,
    key: &str,
    operator: Operator,
    values: Vec<(usize, &str)>,
) -> Result<Requirement, ParseError> {
    check_key(key).map_err(|reason| (key_at, format!("invalid label key {key:?}: {reason}")))?;
    for &(at, value) in &values {
        check_value(value)
            .map_err(|reason| (at, format!("invalid label value {value:?}: {reason}")))?;
    }
    Ok(Requirement {
        key: key.to_owned(),
        operator,
        values: values.into_iter().map(|(_, v)| v.to_owned()).collect(),
    })
}

/// Splits one requirement into tokens with their byte offsets in the selector (`base` is the
/// requirement's offset).
fn tokenize(term: &str, base: usize) -> Result<Vec<(usize, Token<'_>)>, ParseError> {
    const SPECIAL: &[char] = &['!', '=', '(', ')', ',', '<', '>'];
    let mut tokens = Vec::new();
    let mut chars = term.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '!' | '=' => {
                let doubled = chars.peek().is_some_and(|&(_, next)| next == '=');
                if doubled {
                    chars.next();
                }
                match (c, doubled) {
                    ('!', false) => Token::Not,
                    ('!', true) => Token::NotEquals,
                    _ => Token::Equals,
                }
            }
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '<' | '>' => {
                return Err((base + i, format!("operator '{c}' is not supported")));
            }
            _ => {
                let mut end = term.len();
                while let Some(&(j, next)) = chars.peek() {
                    if next.is_whitespace() || SPECIAL.contains(&next) {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                Token::Word(&term[i..end])
            }
        };
        tokens.push((base + i, token));
    }
    Ok(tokens)
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name (see [`check_name`]).
fn check_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            check_prefix(prefix).map_err(|reason| format!("prefix {prefix:?} {reason}"))?;
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err("the name part is empty".to_owned());
    }
    check_name(name)
}

/// A label value: empty, or like a key's name.
fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        Ok(())
    } else {
        check_name(value)
    }
}

/// At most 63 of `A-Z a-z 0-9 - _ .`, starting and ending with a letter or digit.
fn check_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    if bytes.len() > 63 {
        return Err("longer than 63 characters".to_owned());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("contains {c:?}"));
    }
    let alphanumeric = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    if !alphanumeric(bytes.first()) || !alphanumeric(bytes.last()) {
        return Err("must start and end with a letter or digit".to_owned());
    }
    Ok(())
}

/// A DNS subdomain: at most 253 characters, dot-separated parts of `a-z 0-9 -` that start and
/// end with a letter or digit.
fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 253 {
        return Err("must be 1 to 253 characters".to_owned());
    }
    let valid_part = |part: &str| {
        let bytes = part.as_bytes();
        let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        edge(bytes.first())
            && edge(bytes.last())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    };
    if prefix.split('.').all(valid_part) {
        Ok(())
    } else {
        Err("is not a lowercase DNS subdomain".to_owned())
    }
}

/// A label selector on its own, for what is not a subscription (a plugin's write grant).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses `k=v,k2 in (a,b),!k3`; errors name the term and its byte offset.
    pub fn parse(selector: &str) -> Result<LabelSelector, SubscriptionError> {
        Ok(LabelSelector {
            requirements: parse_selector(selector)?,
        })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels<'_>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object (its JSON) has labels that satisfy every requirement.
    pub fn matches_object(&self, object: &serde_json::Value) -> bool {
        let labels: Labels<'_> = object["metadata"]["labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().into(), v.as_str()?.into())))
                    .collect()
            })
            .unwrap_or_default();
        self.matches(&labels)
    }
}
