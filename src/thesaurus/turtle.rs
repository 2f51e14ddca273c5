//! A small Turtle reader: enough of the W3C Turtle grammar for SKOS vocabularies.
//!
//! Supported: `@prefix`/`@base` and SPARQL-style `PREFIX`/`BASE`, IRIs (`<…>`, resolved against
//! the base), prefixed names, blank nodes (`_:x`, `[ … ]` property lists, `( … )` collections),
//! the `a` keyword, `;` and `,` lists, string literals in all four quoting styles with escapes,
//! language tags, datatypes (`^^`), numbers and booleans, and `#` comments. Every syntax error
//! names the line and column. Not supported: anything outside Turtle (TriG graphs, N3 rules).

use std::collections::HashMap;

/// One RDF term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Iri(String),
    Blank(String),
    Literal {
        value: String,
        /// Language tag as written (`en`, `zh-Hans`), if any.
        lang: Option<String>,
        /// Datatype IRI, if given with `^^`.
        datatype: Option<String>,
    },
}

/// One statement, with the line its subject starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triple {
    pub subject: Term,
    pub predicate: String,
    pub object: Term,
    pub line: usize,
}

/// A syntax error at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.reason)
    }
}

pub const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
const XSD: &str = "http://www.w3.org/2001/XMLSchema#";

/// Parses a whole Turtle document into triples.
pub fn parse(text: &str) -> Result<Vec<Triple>, SyntaxError> {
    let mut parser = Parser {
        chars: text
            .strip_prefix('\u{feff}')
            .unwrap_or(text)
            .chars()
            .collect(),
        pos: 0,
        line: 1,
        column: 1,
        prefixes: HashMap::new(),
        base: None,
        blank_counter: 0,
        depth: 0,
        triples: Vec::new(),
    };
    parser.document()?;
    Ok(parser.triples)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    column: usize,
    prefixes: HashMap<String, String>,
    base: Option<String>,
    blank_counter: usize,
    /// `[ … ]` and `( … )` open around the current position (see [`MAX_NESTING`]).
    depth: usize,
    triples: Vec<Triple>,
}

/// Blank-node property lists and collections nest at most this deep. The parser recurses once
/// per level, so without a limit a file of 20,000 `[` overflows the stack and aborts the
/// process; SKOS files nest two or three levels, and even reified or OWL-heavy vocabularies
/// stay far below this.
pub const MAX_NESTING: usize = 64;

type Parse<T> = Result<T, SyntaxError>;

fn is_pn_chars_base(c: char) -> bool {
    c.is_alphabetic() || (c as u32 > 0x7f && !c.is_whitespace() && !c.is_control())
}

fn is_pn_chars(c: char) -> bool {
    is_pn_chars_base(c) || c == '_' || c == '-' || c.is_ascii_digit() || c == '\u{b7}'
}

impl Parser {
    fn error<T>(&self, reason: impl Into<String>) -> Parse<T> {
        Err(SyntaxError {
            line: self.line,
            column: self.column,
            reason: reason.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    /// True when the next word is `word`, ignoring ASCII case, followed by a non-name char.
    fn at_keyword(&self, word: &str) -> bool {
        word.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i).is_some_and(|p| p.eq_ignore_ascii_case(&c)))
            && !self
                .peek_at(word.chars().count())
                .is_some_and(|c| is_pn_chars(c) || c == ':')
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    fn expect(&mut self, c: char) -> Parse<()> {
        self.skip_space();
        if self.peek() == Some(c) {
            self.bump();
            Ok(())
        } else {
            let found = self.describe_next();
            self.error(format!("expected `{c}`, found {found}"))
        }
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "the end of the file".to_string(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn document(&mut self) -> Parse<()> {
        loop {
            self.skip_space();
            if self.peek().is_none() {
                return Ok(());
            }
            if self.starts_with("@prefix") {
                self.advance(7);
                self.prefix_directive()?;
                self.expect('.')?;
            } else if self.starts_with("@base") {
                self.advance(5);
                self.base_directive()?;
                self.expect('.')?;
            } else if self.at_keyword("PREFIX") {
                self.advance(6);
                self.prefix_directive()?;
            } else if self.at_keyword("BASE") {
                self.advance(4);
                self.base_directive()?;
            } else {
                self.triples_statement()?;
                self.expect('.')?;
            }
        }
    }

    fn advance(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    fn prefix_directive(&mut self) -> Parse<()> {
        self.skip_space();
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == ':' {
                break;
            }
            if !(is_pn_chars(c) || c == '.') {
                return self.error(format!("`{c}` cannot appear in a prefix name"));
            }
            name.push(c);
            self.bump();
        }
        if self.peek() != Some(':') {
            return self.error("expected `:` after the prefix name");
        }
        self.bump();
        self.skip_space();
        let iri = self.iri_ref()?;
        self.prefixes.insert(name, iri);
        Ok(())
    }

    fn base_directive(&mut self) -> Parse<()> {
        self.skip_space();
        let iri = self.iri_ref()?;
        self.base = Some(iri);
        Ok(())
    }

    fn triples_statement(&mut self) -> Parse<()> {
        self.skip_space();
        let line = self.line;
        if self.peek() == Some('[') {
            let subject = self.blank_node_property_list()?;
            self.skip_space();
            // `[ … ] .` alone is a complete statement.
            if self.peek() == Some('.') {
                return Ok(());
            }
            return self.predicate_object_list(&subject, line);
        }
        let subject = self.subject()?;
        self.predicate_object_list(&subject, line)
    }

    fn subject(&mut self) -> Parse<Term> {
        self.skip_space();
        match self.peek() {
            Some('<') => Ok(Term::Iri(self.iri_ref()?)),
            Some('_') if self.peek_at(1) == Some(':') => self.blank_label(),
            Some('(') => self.collection(),
            Some(c) if c == ':' || is_pn_chars_base(c) => Ok(Term::Iri(self.prefixed_name()?)),
            _ => {
                let found = self.describe_next();
                self.error(format!("expected a subject, found {found}"))
            }
        }
    }

    fn predicate_object_list(&mut self, subject: &Term, line: usize) -> Parse<()> {
        loop {
            let predicate = self.verb()?;
            self.object_list(subject, &predicate, line)?;
            self.skip_space();
            if self.peek() != Some(';') {
                return Ok(());
            }
            // Any number of `;`, possibly with nothing after the last.
            while self.peek() == Some(';') {
                self.bump();
                self.skip_space();
            }
            if matches!(self.peek(), Some('.') | Some(']') | None) {
                return Ok(());
            }
        }
    }

    fn verb(&mut self) -> Parse<String> {
        self.skip_space();
        if self.peek() == Some('a')
            && !self
                .peek_at(1)
                .is_some_and(|c| is_pn_chars(c) || c == ':' || c == '.')
        {
            self.bump();
            return Ok(RDF_TYPE.to_string());
        }
        match self.peek() {
            Some('<') => self.iri_ref(),
            Some(c) if c == ':' || is_pn_chars_base(c) => self.prefixed_name(),
            _ => {
                let found = self.describe_next();
                self.error(format!("expected a predicate, found {found}"))
            }
        }
    }

    fn object_list(&mut self, subject: &Term, predicate: &str, line: usize) -> Parse<()> {
        loop {
            let object = self.object()?;
            self.triples.push(Triple {
                subject: subject.clone(),
                predicate: predicate.to_string(),
                object,
                line,
            });
            self.skip_space();
            if self.peek() != Some(',') {
                return Ok(());
            }
            self.bump();
        }
    }

    fn object(&mut self) -> Parse<Term> {
        self.skip_space();
        match self.peek() {
            Some('<') => Ok(Term::Iri(self.iri_ref()?)),
            Some('_') if self.peek_at(1) == Some(':') => self.blank_label(),
            Some('[') => self.blank_node_property_list(),
            Some('(') => self.collection(),
            Some('"') | Some('\'') => self.literal(),
            Some(c)
                if c.is_ascii_digit()
                    || (matches!(c, '+' | '-' | '.')
                        && self
                            .peek_at(1)
                            .is_some_and(|n| n.is_ascii_digit() || (c != '.' && n == '.'))) =>
            {
                self.number()
            }
            Some(_) if self.at_keyword("true") || self.at_keyword("false") => {
                let value = if self.at_keyword("true") {
                    "true"
                } else {
                    "false"
                };
                self.advance(value.len());
                Ok(Term::Literal {
                    value: value.to_string(),
                    lang: None,
                    datatype: Some(format!("{XSD}boolean")),
                })
            }
            Some(c) if c == ':' || is_pn_chars_base(c) => Ok(Term::Iri(self.prefixed_name()?)),
            _ => {
                let found = self.describe_next();
                self.error(format!("expected an object, found {found}"))
            }
        }
    }

    fn fresh_blank(&mut self) -> Term {
        self.blank_counter += 1;
        Term::Blank(format!("genid{}", self.blank_counter))
    }

    fn blank_label(&mut self) -> Parse<Term> {
        self.advance(2);
        let mut label = String::new();
        while let Some(c) = self.peek() {
            if is_pn_chars(c) || (c == '.' && self.peek_at(1).is_some_and(is_pn_chars)) {
                label.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if label.is_empty() {
            return self.error("empty blank node label after `_:`");
        }
        // Keep user labels apart from generated ones.
        Ok(Term::Blank(format!("b_{label}")))
    }

    /// Enters one level of `[ … ]` or `( … )`, refusing to go deeper than [`MAX_NESTING`].
    fn nested<T>(&mut self, inner: impl FnOnce(&mut Self) -> Parse<T>) -> Parse<T> {
        if self.depth >= MAX_NESTING {
            return self.error(format!(
                "blank nodes and collections nested more than {MAX_NESTING} deep"
            ));
        }
        self.depth += 1;
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn blank_node_property_list(&mut self) -> Parse<Term> {
        self.nested(Self::blank_node_property_list_inner)
    }

    fn blank_node_property_list_inner(&mut self) -> Parse<Term> {
        let line = self.line;
        self.expect('[')?;
        let node = self.fresh_blank();
        self.skip_space();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(node);
        }
        self.predicate_object_list(&node, line)?;
        self.expect(']')?;
        Ok(node)
    }

    fn collection(&mut self) -> Parse<Term> {
        self.nested(Self::collection_inner)
    }

    fn collection_inner(&mut self) -> Parse<Term> {
        let line = self.line;
        self.expect('(')?;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(')') => {
                    self.bump();
                    break;
                }
                None => return self.error("unterminated collection: expected `)`"),
                _ => items.push(self.object()?),
            }
        }
        let nil = Term::Iri(format!("{RDF}nil"));
        let mut head = nil;
        for item in items.into_iter().rev() {
            let node = self.fresh_blank();
            self.triples.push(Triple {
                subject: node.clone(),
                predicate: format!("{RDF}first"),
                object: item,
                line,
            });
            self.triples.push(Triple {
                subject: node.clone(),
                predicate: format!("{RDF}rest"),
                object: head,
                line,
            });
            head = node;
        }
        Ok(head)
    }

    fn iri_ref(&mut self) -> Parse<String> {
        if self.peek() != Some('<') {
            let found = self.describe_next();
            return self.error(format!("expected an IRI in `<…>`, found {found}"));
        }
        self.bump();
        let mut iri = String::new();
        loop {
            match self.bump() {
                None => return self.error("unterminated IRI: expected `>`"),
                Some('>') => break,
                Some('\\') => match self.bump() {
                    Some('u') => iri.push(self.hex_char(4)?),
                    Some('U') => iri.push(self.hex_char(8)?),
                    _ => return self.error("only \\u and \\U escapes are allowed in IRIs"),
                },
                Some(c)
                    if c.is_whitespace()
                        || matches!(c, '<' | '"' | '{' | '}' | '|' | '^' | '`') =>
                {
                    return self.error(format!("`{c}` is not allowed in an IRI"))
                }
                Some(c) => iri.push(c),
            }
        }
        Ok(self.resolve(iri))
    }

    /// Resolves a relative IRI against the base (the common cases of RFC 3986).
    fn resolve(&self, iri: String) -> String {
        let Some(base) = &self.base else {
            return iri;
        };
        let has_scheme = iri.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        if has_scheme {
            return iri;
        }
        if iri.is_empty() {
            return base.clone();
        }
        if iri.starts_with('#') {
            let stem = base.split('#').next().unwrap_or(base);
            return format!("{stem}{iri}");
        }
        if iri.starts_with("//") {
            let scheme = base.split(':').next().unwrap_or("");
            return format!("{scheme}:{iri}");
        }
        if iri.starts_with('/') {
            // scheme://authority of the base
            if let Some(i) = base.find("://") {
                let after = &base[i + 3..];
                let end = after.find('/').map_or(base.len(), |j| i + 3 + j);
                return format!("{}{iri}", &base[..end]);
            }
            return iri;
        }
        let stem = base.split(['#', '?']).next().unwrap_or(base);
        match stem.rfind('/') {
            Some(i) => format!("{}{iri}", &stem[..=i]),
            None => format!("{stem}{iri}"),
        }
    }

    fn hex_char(&mut self, digits: usize) -> Parse<char> {
        let mut value = 0u32;
        for _ in 0..digits {
            let Some(d) = self.bump().and_then(|c| c.to_digit(16)) else {
                return self.error(format!("expected {digits} hexadecimal digits in an escape"));
            };
            value = value * 16 + d;
        }
        match char::from_u32(value) {
            Some(c) => Ok(c),
            None => self.error(format!("U+{value:X} is not a character")),
        }
    }

    fn prefixed_name(&mut self) -> Parse<String> {
        let mut prefix = String::new();
        while let Some(c) = self.peek() {
            if c == ':' {
                break;
            }
            if is_pn_chars(c)
                || (c == '.' && self.peek_at(1).is_some_and(|n| is_pn_chars(n) || n == ':'))
            {
                prefix.push(c);
                self.bump();
            } else {
                let found = self.describe_next();
                return self.error(format!(
                    "expected a prefixed name (`prefix:local`), found {found}"
                ));
            }
        }
        if self.peek() != Some(':') {
            return self.error(format!("`{prefix}` is not a prefixed name (no `:`)"));
        }
        self.bump();
        let Some(namespace) = self.prefixes.get(&prefix).cloned() else {
            return self.error(format!("undeclared prefix `{prefix}:`"));
        };
        let mut local = String::new();
        while let Some(c) = self.peek() {
            if is_pn_chars(c) || c == ':' {
                local.push(c);
                self.bump();
            } else if c == '.' {
                // A dot inside a local name, never at its end (where it ends the statement).
                let next = self.peek_at(1);
                if next.is_some_and(|n| is_pn_chars(n) || n == ':' || n == '%' || n == '\\') {
                    local.push(c);
                    self.bump();
                } else {
                    break;
                }
            } else if c == '%' {
                self.bump();
                let hex: String = (0..2).filter_map(|_| self.bump()).collect();
                if hex.len() != 2 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                    return self.error("`%` must be followed by two hexadecimal digits");
                }
                local.push('%');
                local.push_str(&hex);
            } else if c == '\\' {
                self.bump();
                match self.bump() {
                    Some(e) if "_~.-!$&'()*+,;=/?#@%".contains(e) => local.push(e),
                    _ => return self.error("invalid escape in a local name"),
                }
            } else {
                break;
            }
        }
        Ok(namespace + &local)
    }

    fn literal(&mut self) -> Parse<Term> {
        let quote = self.bump().expect("caller saw a quote");
        let long = self.peek() == Some(quote) && self.peek_at(1) == Some(quote);
        if long {
            self.advance(2);
        }
        let start_line = self.line;
        let mut value = String::new();
        loop {
            if !long && matches!(self.peek(), Some('\n') | Some('\r')) {
                return self.error("line break in a short string (use \"\"\"…\"\"\")");
            }
            let Some(c) = self.bump() else {
                return Err(SyntaxError {
                    line: start_line,
                    column: 1,
                    reason: "unterminated string literal".into(),
                });
            };
            match c {
                '\\' => value.push(self.string_escape()?),
                c if c == quote && !long => break,
                c if c == quote && self.peek() == Some(quote) && self.peek_at(1) == Some(quote) => {
                    self.advance(2);
                    // Quotes just before the closing ones belong to the value.
                    while self.peek() == Some(quote) {
                        value.push(quote);
                        self.bump();
                    }
                    break;
                }
                c => value.push(c),
            }
        }
        let mut lang = None;
        let mut datatype = None;
        if self.peek() == Some('@') {
            self.bump();
            let mut tag = String::new();
            while let Some(c) = self.peek() {
                if c.is_ascii_alphanumeric() || (c == '-' && !tag.is_empty()) {
                    tag.push(c);
                    self.bump();
                } else {
                    break;
                }
            }
            if tag.is_empty() || !tag.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return self.error("expected a language tag after `@`");
            }
            lang = Some(tag);
        } else if self.starts_with("^^") {
            self.advance(2);
            datatype = Some(match self.peek() {
                Some('<') => self.iri_ref()?,
                _ => self.prefixed_name()?,
            });
        }
        Ok(Term::Literal {
            value,
            lang,
            datatype,
        })
    }

    fn string_escape(&mut self) -> Parse<char> {
        Ok(match self.bump() {
            Some('t') => '\t',
            Some('b') => '\u{8}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('f') => '\u{c}',
            Some('"') => '"',
            Some('\'') => '\'',
            Some('\\') => '\\',
            Some('u') => self.hex_char(4)?,
            Some('U') => self.hex_char(8)?,
            _ => return self.error("invalid escape in a string"),
        })
    }

    fn number(&mut self) -> Parse<Term> {
        let mut text = String::new();
        if matches!(self.peek(), Some('+') | Some('-')) {
            text.push(self.bump().unwrap());
        }
        let mut digits_before = 0;
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            text.push(c);
            self.bump();
            digits_before += 1;
        }
        let mut kind = "integer";
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            kind = "decimal";
            text.push('.');
            self.bump();
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                text.push(c);
                self.bump();
            }
        } else if digits_before == 0 {
            return self.error("expected a number");
        }
        if matches!(self.peek(), Some('e') | Some('E')) {
            kind = "double";
            text.push(self.bump().unwrap());
            if matches!(self.peek(), Some('+') | Some('-')) {
                text.push(self.bump().unwrap());
            }
            let mut exponent_digits = 0;
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                text.push(c);
                self.bump();
                exponent_digits += 1;
            }
            if exponent_digits == 0 {
                return self.error("expected digits in the exponent");
            }
        }
        Ok(Term::Literal {
            value: text,
            lang: None,
            datatype: Some(format!("{XSD}{kind}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(value: &str, lang: Option<&str>) -> Term {
        Term::Literal {
            value: value.into(),
            lang: lang.map(String::from),
            datatype: None,
        }
    }

    #[test]
    fn parses_prefixes_lists_and_language_tags() {
        let ttl = r#"
            @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
            PREFIX ex: <http://example.org/>
            # a comment
            ex:c1 a skos:Concept ;
                skos:prefLabel "Africa"@en, "非洲"@zh ;
                skos:altLabel 'African continent'@en-GB ;
                .
            <http://example.org/c2> skos:prefLabel """multi
line"""@en .
        "#;
        let triples = parse(ttl).unwrap();
        assert_eq!(triples.len(), 5);
        assert_eq!(
            triples[0].subject,
            Term::Iri("http://example.org/c1".into())
        );
        assert_eq!(triples[0].predicate, RDF_TYPE);
        assert_eq!(
            triples[0].object,
            Term::Iri("http://www.w3.org/2004/02/skos/core#Concept".into())
        );
        assert_eq!(triples[1].object, lit("Africa", Some("en")));
        assert_eq!(triples[2].object, lit("非洲", Some("zh")));
        assert_eq!(triples[3].object, lit("African continent", Some("en-GB")));
        assert_eq!(triples[4].object, lit("multi\nline", Some("en")));
        assert_eq!(triples[1].line, 5);
        assert_eq!(triples[4].line, 9);
    }

    #[test]
    fn handles_escapes_base_blank_nodes_collections_and_numbers() {
        let ttl = r#"
            @base <http://example.org/vocab/> .
            @prefix : <http://example.org/ns#> .
            <c1> :label "a \"quoted\" \u00e9 word\n" ; :n 42, -1.5, 3e2, true .
            <#frag> :p [ :q "inner" ] .
            _:x :list ( :a :b ) .
            :local.name.with.dots :p :o.
        "#;
        let triples = parse(ttl).unwrap();
        assert_eq!(
            triples[0].subject,
            Term::Iri("http://example.org/vocab/c1".into())
        );
        assert_eq!(triples[0].object, lit("a \"quoted\" é word\n", None));
        let numbers: Vec<&str> = triples[1..5]
            .iter()
            .map(|t| match &t.object {
                Term::Literal { value, .. } => value.as_str(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(numbers, vec!["42", "-1.5", "3e2", "true"]);
        let frag = triples
            .iter()
            .find(|t| t.subject == Term::Iri("http://example.org/vocab/#frag".into()))
            .expect("fragment IRI resolved against the base");
        assert!(matches!(frag.object, Term::Blank(_)));
        assert!(triples
            .iter()
            .any(|t| t.predicate == "http://example.org/ns#q" && t.object == lit("inner", None)));
        assert_eq!(
            triples
                .iter()
                .filter(|t| t.predicate == format!("{RDF}first"))
                .count(),
            2
        );
        let last = triples.last().unwrap();
        assert_eq!(
            last.subject,
            Term::Iri("http://example.org/ns#local.name.with.dots".into())
        );
        assert_eq!(last.object, Term::Iri("http://example.org/ns#o".into()));
    }

    #[test]
    fn handles_blank_subjects_datatypes_and_keywords_in_any_case() {
        let ttl = "prefix ex: <http://e/>\n\
                   prefix xsd: <http://www.w3.org/2001/XMLSchema#>\n\
                   [ ex:p \"in\" ] .\n\
                   [ ex:q 1 ] ex:r \"5\"^^xsd:integer, '''it's \"long\"''' ;\n\
                   ex:s <urn:x\\u0041> .";
        let triples = parse(ttl).unwrap();
        assert_eq!(triples.len(), 5);
        let typed = &triples[2].object;
        assert_eq!(
            typed,
            &Term::Literal {
                value: "5".into(),
                lang: None,
                datatype: Some(format!("{XSD}integer")),
            }
        );
        assert_eq!(triples[3].object, lit("it's \"long\"", None));
        assert_eq!(triples[4].object, Term::Iri("urn:xA".into()));
        assert_eq!(
            triples[2].subject, triples[1].subject,
            "one blank node for `[ ex:q 1 ]`"
        );
    }

    /// Nesting far deeper than the limit is an error at the first level too deep, not a stack
    /// overflow; on a test thread's small stack, in a debug build.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for (open, close) in [("[ <http://e/p> ", " ]"), ("( ", " )")] {
            let depth = 20_000;
            let ttl = format!(
                "<http://e/s> <http://e/p> {}<http://e/o>{} .",
                open.repeat(depth),
                close.repeat(depth)
            );
            let err = parse(&ttl).unwrap_err();
            assert!(err.reason.contains("nested more than"), "{err}");
            assert_eq!(err.line, 1);
        }
        // Up to the limit, nesting parses.
        let ttl = format!(
            "<http://e/s> <http://e/p> {}<http://e/o>{} .",
            "[ <http://e/p> ".repeat(MAX_NESTING),
            " ]".repeat(MAX_NESTING)
        );
        assert!(parse(&ttl).is_ok());
    }

    #[test]
    fn reports_errors_with_line_and_column() {
        let err = parse("@prefix ex: <http://e/> .\nex:a ex:b \"open\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("line break"), "{err}");
        let err = parse("nope:a nope:b nope:c .").unwrap_err();
        assert!(err.reason.contains("undeclared prefix `nope:`"), "{err}");
        assert_eq!((err.line, err.column), (1, 6));
        let err = parse("@prefix ex: <http://e/> .\n\nex:a ex:b ex:c").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.reason.contains("expected `.`"), "{err}");
        let err = parse("<http://e/a> <http://e/b> \"x\"@ .").unwrap_err();
        assert!(err.reason.contains("language tag"), "{err}");
        let err = parse("<http://e/a b> <http://e/b> 1 .").unwrap_err();
        assert!(err.reason.contains("not allowed in an IRI"), "{err}");
    }
}
