//! Splitting IDL text into tokens, keeping comments beside them.
//!
//! Comments are not thrown away: each token carries the comments written
//! between it and the previous token, so the parser can turn `/** */` doc
//! comments, runs of `//` or `#` line comments right above a definition, and
//! a trailing comment on a field's line into Rust doc comments.

use super::ParseError;
use crate::model::Span;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier or keyword; may contain dots (`other.Type`).
    Ident(String),
    /// An integer literal (decimal or `0x` hex, optionally signed).
    Int(i64),
    /// A floating-point literal.
    Double(f64),
    /// A string literal, escapes processed.
    Str(String),
    /// One of `{ } ( ) [ ] < > , ; : = * &`.
    Punct(char),
    /// The end of the file.
    Eof,
}

/// A comment between two tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The text without the comment markers, common indentation removed.
    pub text: String,
    /// `/** ... */`.
    pub is_doc: bool,
    /// `//` or `#` (as opposed to a block comment).
    pub is_line: bool,
    /// The line it starts on.
    pub start_line: usize,
    /// The line it ends on.
    pub end_line: usize,
    /// Whether nothing but whitespace precedes it on its line.
    pub own_line: bool,
}

/// A token with its position and the comments before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Where it starts.
    pub span: Span,
    /// The comments between the previous token and this one.
    pub comments: Vec<Comment>,
}

/// Splits `src` into tokens; the last is always [`Tok::Eof`].
pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    Lexer {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
        col: 1,
        token_on_line: false,
    }
    .run()
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
    /// Whether a token was already seen on the current line.
    token_on_line: bool,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
            self.token_on_line = false;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn span(&self) -> Span {
        Span {
            line: self.line,
            column: self.col,
        }
    }

    fn error(&self, span: Span, message: impl Into<String>) -> ParseError {
        ParseError {
            span,
            message: message.into(),
        }
    }

    fn run(mut self) -> Result<Vec<Token>, ParseError> {
        let mut out = Vec::new();
        let mut comments = Vec::new();
        loop {
            let Some(c) = self.peek(0) else {
                out.push(Token {
                    tok: Tok::Eof,
                    span: self.span(),
                    comments,
                });
                return Ok(out);
            };
            let span = self.span();
            if c.is_whitespace() {
                self.bump();
                continue;
            }
            if c == '#' || (c == '/' && self.peek(1) == Some('/')) {
                comments.push(self.line_comment(span));
                continue;
            }
            if c == '/' && self.peek(1) == Some('*') {
                comments.push(self.block_comment(span)?);
                continue;
            }
            let tok = self.token(c, span)?;
            self.token_on_line = true;
            out.push(Token {
                tok,
                span,
                comments: std::mem::take(&mut comments),
            });
        }
    }

    fn line_comment(&mut self, span: Span) -> Comment {
        let own_line = !self.token_on_line;
        let skip = if self.peek(0) == Some('#') { 1 } else { 2 };
        for _ in 0..skip {
            self.bump();
        }
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            if c == '\n' {
                break;
            }
            text.push(c);
            self.bump();
        }
        let text = text
            .strip_prefix(' ')
            .unwrap_or(&text)
            .trim_end()
            .to_owned();
        Comment {
            text,
            is_doc: false,
            is_line: true,
            start_line: span.line,
            end_line: span.line,
            own_line,
        }
    }

    fn block_comment(&mut self, span: Span) -> Result<Comment, ParseError> {
        let own_line = !self.token_on_line;
        self.bump();
        self.bump();
        // `/**/` is an empty plain comment, `/** x */` a doc comment.
        let is_doc = self.peek(0) == Some('*') && self.peek(1) != Some('/');
        if is_doc {
            self.bump();
        }
        let mut raw = String::new();
        loop {
            match self.peek(0) {
                None => return Err(self.error(span, "unterminated block comment")),
                Some('*') if self.peek(1) == Some('/') => {
                    self.bump();
                    self.bump();
                    break;
                }
                Some(c) => {
                    raw.push(c);
                    self.bump();
                }
            }
        }
        Ok(Comment {
            text: clean_block(&raw),
            is_doc,
            is_line: false,
            start_line: span.line,
            end_line: self.line,
            own_line,
        })
    }

    fn token(&mut self, c: char, span: Span) -> Result<Tok, ParseError> {
        if c.is_ascii_alphabetic() || c == '_' {
            let mut s = String::new();
            while let Some(c) = self.peek(0) {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                    s.push(c);
                    self.bump();
                } else {
                    break;
                }
            }
            return Ok(Tok::Ident(s));
        }
        let starts_number = c.is_ascii_digit()
            || ((c == '+' || c == '-' || c == '.')
                && self.peek(1).is_some_and(|d| d.is_ascii_digit()))
            || ((c == '+' || c == '-')
                && self.peek(1) == Some('.')
                && self.peek(2).is_some_and(|d| d.is_ascii_digit()));
        if starts_number {
            return self.number(span);
        }
        if c == '"' || c == '\'' {
            return self.string(c, span);
        }
        if "{}()[]<>,;:=*&".contains(c) {
            self.bump();
            return Ok(Tok::Punct(c));
        }
        Err(self.error(span, format!("unexpected character {c:?}")))
    }

    fn number(&mut self, span: Span) -> Result<Tok, ParseError> {
        let mut s = String::new();
        if let Some(c @ ('+' | '-')) = self.peek(0) {
            s.push(c);
            self.bump();
        }
        let negative = s == "-";
        if self.peek(0) == Some('0') && matches!(self.peek(1), Some('x' | 'X')) {
            self.bump();
            self.bump();
            let mut hex = String::new();
            while let Some(c) = self.peek(0).filter(|c| c.is_ascii_hexdigit()) {
                hex.push(c);
                self.bump();
            }
            let v = u64::from_str_radix(&hex, 16)
                .ok()
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| self.error(span, format!("bad hex integer 0x{hex}")))?;
            return Ok(Tok::Int(if negative { -v } else { v }));
        }
        let mut is_double = false;
        while let Some(c) = self.peek(0) {
            if c.is_ascii_digit() {
                s.push(c);
            } else if c == '.' && !is_double && self.peek(1).is_some_and(|d| d.is_ascii_digit()) {
                is_double = true;
                s.push(c);
            } else if matches!(c, 'e' | 'E')
                && (self.peek(1).is_some_and(|d| d.is_ascii_digit())
                    || (matches!(self.peek(1), Some('+' | '-'))
                        && self.peek(2).is_some_and(|d| d.is_ascii_digit())))
            {
                is_double = true;
                s.push(c);
                self.bump();
                if let Some(sign @ ('+' | '-')) = self.peek(0) {
                    s.push(sign);
                    self.bump();
                }
                continue;
            } else {
                break;
            }
            self.bump();
        }
        if is_double {
            s.parse::<f64>()
                .map(Tok::Double)
                .map_err(|_| self.error(span, format!("bad number {s}")))
        } else {
            s.parse::<i64>()
                .map(Tok::Int)
                .map_err(|_| self.error(span, format!("integer {s} does not fit in i64")))
        }
    }

    fn string(&mut self, quote: char, span: Span) -> Result<Tok, ParseError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error(span, "unterminated string literal")),
                Some(c) if c == quote => return Ok(Tok::Str(s)),
                Some('\\') => {
                    let esc = self.span();
                    match self.bump() {
                        Some('n') => s.push('\n'),
                        Some('r') => s.push('\r'),
                        Some('t') => s.push('\t'),
                        Some('0') => s.push('\0'),
                        Some(c @ ('\\' | '"' | '\'')) => s.push(c),
                        Some(c) => {
                            return Err(self.error(esc, format!("unknown escape \\{c}")));
                        }
                        None => return Err(self.error(span, "unterminated string literal")),
                    }
                }
                Some(c) => s.push(c),
            }
        }
    }
}

/// Removes the leading `*` column and common indentation of a block comment.
fn clean_block(raw: &str) -> String {
    let lines: Vec<&str> = raw
        .lines()
        .map(|l| {
            let t = l.trim_start();
            match t.strip_prefix('*') {
                Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
                None => t,
            }
            .trim_end()
        })
        .collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    lines[start..end].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_in_every_form() {
        assert_eq!(
            toks("1 -2 +3 0x1F -0x10 1.5 -2.5e3 1e2 .5"),
            vec![
                Tok::Int(1),
                Tok::Int(-2),
                Tok::Int(3),
                Tok::Int(31),
                Tok::Int(-16),
                Tok::Double(1.5),
                Tok::Double(-2500.0),
                Tok::Double(100.0),
                Tok::Double(0.5),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_with_both_quotes_and_escapes() {
        assert_eq!(
            toks(r#""a'b" 'c"d' "e\"\n""#),
            vec![
                Tok::Str("a'b".into()),
                Tok::Str("c\"d".into()),
                Tok::Str("e\"\n".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn dotted_identifiers_and_punctuation() {
        assert_eq!(
            toks("other.Type<a,b>;"),
            vec![
                Tok::Ident("other.Type".into()),
                Tok::Punct('<'),
                Tok::Ident("a".into()),
                Tok::Punct(','),
                Tok::Ident("b".into()),
                Tok::Punct('>'),
                Tok::Punct(';'),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_are_attached_to_the_next_token() {
        let t = tokenize("a // trailing\n/**\n * Doc\n *   indented\n */\n# hash\nb").unwrap();
        let c = &t[1].comments;
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].text, "trailing");
        assert!(!c[0].own_line);
        assert_eq!(c[1].text, "Doc\n  indented");
        assert!(c[1].is_doc && c[1].own_line);
        assert_eq!(c[2].text, "hash");
        assert_eq!((c[2].start_line, t[1].span.line), (6, 7));
    }

    #[test]
    fn errors_carry_positions() {
        let e = tokenize("a\n  \"open").unwrap_err();
        assert_eq!((e.span.line, e.span.column), (2, 3));
        let e = tokenize("a $").unwrap_err();
        assert_eq!((e.span.line, e.span.column), (1, 3));
    }
}
