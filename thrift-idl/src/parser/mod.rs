//! A recursive-descent parser of the whole Thrift IDL language, following
//! Apache Thrift's grammar (`compiler/cpp/src/thrift/thrifty.yy`).
//!
//! Covered: `include`, `cpp_include` (ignored), `namespace`, `typedef`,
//! `const` (every literal form), `enum` (explicit and implicit values),
//! `struct`, `union`, `exception`, `service` with `extends`, `oneway` and
//! `throws`, field ids (missing ids get Apache's negative auto ids),
//! requiredness, default values, annotations `( a = "b" )` on types, fields,
//! functions and definitions, `cpp_type` on containers (ignored), `,` or `;`
//! between list items, and comments of all three styles. Doc comments
//! (`/** */`), runs of line comments directly above an item, and a comment at
//! the end of a field's line become the item's documentation.
//!
//! Errors name the line and column; [`crate::Error`] adds the file. Types
//! and constant values nest at most [`MAX_NESTING`] deep, so a hostile
//! file cannot exhaust the stack.

mod lexer;

use std::fmt;

use crate::model::{
    Annotation, Const, ConstValue, Definition, Document, Enum, EnumValue, Field, Function, Include,
    Namespace, Requiredness, Service, Span, StructKind, StructLike, Type, Typedef,
};
use lexer::{Tok, Token};

/// A syntax error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Where.
    pub span: Span,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            self.span.line, self.span.column, self.message
        )
    }
}

/// How deep types (`list<list<...>>`) and constant values (`[[...]]`) may
/// nest: far beyond any real IDL, far below what would exhaust a stack.
pub const MAX_NESTING: usize = 64;

/// Parses one IDL file's text.
pub fn parse(src: &str) -> Result<Document, ParseError> {
    let tokens = lexer::tokenize(src)?;
    Parser {
        tokens,
        pos: 0,
        depth: 0,
    }
    .document()
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// How deep the type or constant value being parsed is.
    depth: usize,
}

type PResult<T> = Result<T, ParseError>;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        let i = (self.pos + ahead).min(self.tokens.len() - 1);
        &self.tokens[i].tok
    }

    fn span(&self) -> Span {
        self.tokens[self.pos].span
    }

    fn next(&mut self) -> &Token {
        let t = &self.tokens[self.pos];
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn error<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            span: self.span(),
            message: message.into(),
        })
    }

    fn unexpected<T>(&self, wanted: &str) -> PResult<T> {
        let found = match self.peek() {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(i) => format!("integer {i}"),
            Tok::Double(d) => format!("number {d}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Eof => "end of file".to_owned(),
        };
        self.error(format!("expected {wanted}, found {found}"))
    }

    fn is_punct(&self, c: char) -> bool {
        *self.peek() == Tok::Punct(c)
    }

    fn is_keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == k)
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.is_punct(c) {
            self.next();
            true
        } else {
            false
        }
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        if self.is_keyword(k) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, c: char) -> PResult<()> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            self.unexpected(&format!("`{c}`"))
        }
    }

    fn ident(&mut self, what: &str) -> PResult<(String, Span)> {
        let span = self.span();
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.next();
                Ok((s, span))
            }
            _ => self.unexpected(what),
        }
    }

    fn string_literal(&mut self, what: &str) -> PResult<String> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.next();
                Ok(s)
            }
            _ => self.unexpected(what),
        }
    }

    /// `,` or `;` between items; optional.
    fn list_separator(&mut self) {
        if !self.eat_punct(',') {
            self.eat_punct(';');
        }
    }

    /// The documentation written before the current token: the last doc
    /// comment, or else the run of line comments ending on the line above.
    fn leading_doc(&self) -> Option<String> {
        let tok = &self.tokens[self.pos];
        let comments = &tok.comments;
        if let Some(doc) = comments.iter().rev().find(|c| c.is_doc) {
            return Some(doc.text.clone()).filter(|t| !t.is_empty());
        }
        let mut lines = Vec::new();
        let mut want_end = tok.span.line.checked_sub(1)?;
        for c in comments.iter().rev() {
            if !c.is_line || !c.own_line || c.end_line != want_end {
                break;
            }
            lines.push(c.text.as_str());
            want_end = c.start_line.saturating_sub(1);
        }
        lines.reverse();
        Some(lines.join("\n")).filter(|t| !t.trim().is_empty())
    }

    /// A comment on the same line as the token just before the current one.
    fn trailing_doc(&self) -> Option<String> {
        let prev_line = self.tokens[self.pos.checked_sub(1)?].span.line;
        self.tokens[self.pos]
            .comments
            .iter()
            .find(|c| !c.own_line && c.start_line == prev_line)
            .map(|c| c.text.clone())
            .filter(|t| !t.is_empty())
    }

    fn document(mut self) -> PResult<Document> {
        let mut doc = Document::default();
        loop {
            if self.eat_keyword("include") {
                let span = self.span();
                let path = self.string_literal("an include path")?;
                doc.includes.push(Include { path, span });
                self.list_separator();
            } else if self.eat_keyword("cpp_include") {
                self.string_literal("a cpp_include path")?;
                self.list_separator();
            } else if self.eat_keyword("namespace") {
                let scope = if self.eat_punct('*') {
                    "*".to_owned()
                } else {
                    self.ident("a namespace scope")?.0
                };
                let name = match self.peek().clone() {
                    Tok::Str(s) => {
                        self.next();
                        s
                    }
                    _ => self.ident("a namespace")?.0,
                };
                self.annotations()?;
                doc.namespaces.push(Namespace { scope, name });
                self.list_separator();
            } else {
                break;
            }
        }
        while *self.peek() != Tok::Eof {
            let def = self.definition()?;
            doc.definitions.push(def);
        }
        Ok(doc)
    }

    fn definition(&mut self) -> PResult<Definition> {
        let doc = self.leading_doc();
        let Tok::Ident(kw) = self.peek().clone() else {
            return self.unexpected("a definition");
        };
        let def = match kw.as_str() {
            "const" => {
                self.next();
                let ty = self.field_type()?;
                let (name, span) = self.ident("a constant name")?;
                self.expect_punct('=')?;
                let value = self.const_value()?;
                Definition::Const(Const {
                    name,
                    ty,
                    value,
                    doc,
                    span,
                })
            }
            "typedef" => {
                self.next();
                let ty = self.field_type()?;
                let (name, span) = self.ident("a typedef name")?;
                let annotations = self.annotations()?;
                Definition::Typedef(Typedef {
                    name,
                    ty,
                    annotations,
                    doc,
                    span,
                })
            }
            "enum" => {
                self.next();
                Definition::Enum(self.enum_body(doc)?)
            }
            "struct" | "union" | "exception" => {
                self.next();
                let kind = match kw.as_str() {
                    "struct" => StructKind::Struct,
                    "union" => StructKind::Union,
                    _ => StructKind::Exception,
                };
                let (name, span) = self.ident("a name")?;
                self.eat_keyword("xsd_all");
                self.expect_punct('{')?;
                let fields = self.fields('}')?;
                let annotations = self.annotations()?;
                Definition::Struct(StructLike {
                    kind,
                    name,
                    fields,
                    annotations,
                    doc,
                    span,
                })
            }
            "service" => {
                self.next();
                Definition::Service(self.service(doc)?)
            }
            "include" | "cpp_include" | "namespace" => {
                return self.error(format!("`{kw}` must come before all definitions"));
            }
            "senum" | "slist" => return self.error(format!("`{kw}` is not supported")),
            _ => {
                return self.unexpected(
                    "`const`, `typedef`, `enum`, `struct`, `union`, `exception` or `service`",
                );
            }
        };
        self.list_separator();
        Ok(def)
    }

    fn enum_body(&mut self, doc: Option<String>) -> PResult<Enum> {
        let (name, span) = self.ident("an enum name")?;
        self.expect_punct('{')?;
        let mut values = Vec::new();
        let mut next: i64 = 0;
        while !self.eat_punct('}') {
            let vdoc = self.leading_doc();
            let (vname, vspan) = self.ident("an enum value name or `}`")?;
            let value = if self.eat_punct('=') {
                match *self.peek() {
                    Tok::Int(v) => {
                        self.next();
                        v
                    }
                    _ => return self.unexpected("an integer"),
                }
            } else {
                next
            };
            let value = i32::try_from(value).map_err(|_| ParseError {
                span: vspan,
                message: format!("enum value {vname} = {value} does not fit in i32"),
            })?;
            next = i64::from(value) + 1;
            let annotations = self.annotations()?;
            self.list_separator();
            let vdoc = vdoc.or_else(|| self.trailing_doc());
            values.push(EnumValue {
                name: vname,
                value,
                annotations,
                doc: vdoc,
            });
        }
        let annotations = self.annotations()?;
        Ok(Enum {
            name,
            values,
            annotations,
            doc,
            span,
        })
    }

    fn service(&mut self, doc: Option<String>) -> PResult<Service> {
        let (name, span) = self.ident("a service name")?;
        let extends = if self.eat_keyword("extends") {
            Some(self.ident("a base service name")?.0)
        } else {
            None
        };
        self.expect_punct('{')?;
        let mut functions = Vec::new();
        while !self.eat_punct('}') {
            functions.push(self.function()?);
        }
        let annotations = self.annotations()?;
        Ok(Service {
            name,
            extends,
            functions,
            annotations,
            doc,
            span,
        })
    }

    fn function(&mut self) -> PResult<Function> {
        let doc = self.leading_doc();
        let oneway = self.eat_keyword("oneway");
        let ret = if self.eat_keyword("void") {
            None
        } else {
            Some(self.field_type()?)
        };
        let (name, span) = self.ident("a method name")?;
        self.expect_punct('(')?;
        let args = self.fields(')')?;
        let throws = if self.eat_keyword("throws") {
            self.expect_punct('(')?;
            self.fields(')')?
        } else {
            Vec::new()
        };
        let annotations = self.annotations()?;
        self.list_separator();
        let doc = doc.or_else(|| self.trailing_doc());
        Ok(Function {
            name,
            oneway,
            ret,
            args,
            throws,
            annotations,
            doc,
            span,
        })
    }

    /// Fields up to and including `close`. Missing ids count down from -1,
    /// as Apache Thrift assigns them.
    fn fields(&mut self, close: char) -> PResult<Vec<Field>> {
        let mut fields = Vec::new();
        let mut auto_id: i16 = -1;
        while !self.eat_punct(close) {
            let doc = self.leading_doc();
            let written_id = match (self.peek(), self.peek_at(1)) {
                (Tok::Int(v), Tok::Punct(':')) => Some(*v),
                _ => None,
            };
            let (id, explicit_id) = match written_id {
                Some(v) => {
                    let id = i16::try_from(v)
                        .or_else(|_| self.error(format!("field id {v} does not fit in i16")))?;
                    self.next();
                    self.next();
                    (id, true)
                }
                None => {
                    let id = auto_id;
                    auto_id -= 1;
                    (id, false)
                }
            };
            let req = if self.eat_keyword("required") {
                Requiredness::Required
            } else if self.eat_keyword("optional") {
                Requiredness::Optional
            } else {
                Requiredness::Default
            };
            let ty = self.field_type()?;
            self.eat_punct('&');
            let (name, span) = self.ident("a field name")?;
            let default = if self.eat_punct('=') {
                Some(self.const_value()?)
            } else {
                None
            };
            for xsd in ["xsd_optional", "xsd_nillable"] {
                self.eat_keyword(xsd);
            }
            let annotations = self.annotations()?;
            self.list_separator();
            let doc = doc.or_else(|| self.trailing_doc());
            fields.push(Field {
                id,
                explicit_id,
                name,
                ty,
                req,
                default,
                annotations,
                doc,
                span,
            });
        }
        Ok(fields)
    }

    fn field_type(&mut self) -> PResult<Type> {
        self.deeper()?;
        let ty = self.field_type_inner();
        self.depth -= 1;
        ty
    }

    /// One level deeper into a type or value; an error past [`MAX_NESTING`].
    fn deeper(&mut self) -> PResult<()> {
        if self.depth >= MAX_NESTING {
            return self.error(format!("nested more than {MAX_NESTING} deep"));
        }
        self.depth += 1;
        Ok(())
    }

    fn field_type_inner(&mut self) -> PResult<Type> {
        let span = self.span();
        let (name, _) = self.ident("a type")?;
        let ty = match name.as_str() {
            "bool" => Type::Bool,
            "byte" | "i8" => Type::I8,
            "i16" => Type::I16,
            "i32" => Type::I32,
            "i64" => Type::I64,
            "double" => Type::Double,
            "string" => Type::String,
            "binary" => Type::Binary,
            "uuid" => Type::Uuid,
            "list" => {
                self.expect_punct('<')?;
                let elem = self.field_type()?;
                self.expect_punct('>')?;
                self.cpp_type()?;
                Type::List(Box::new(elem))
            }
            "set" => {
                self.cpp_type()?;
                self.expect_punct('<')?;
                let elem = self.field_type()?;
                self.expect_punct('>')?;
                Type::Set(Box::new(elem))
            }
            "map" => {
                self.cpp_type()?;
                self.expect_punct('<')?;
                let key = self.field_type()?;
                self.expect_punct(',')?;
                let value = self.field_type()?;
                self.expect_punct('>')?;
                Type::Map(Box::new(key), Box::new(value))
            }
            "slist" | "senum" => {
                return Err(ParseError {
                    span,
                    message: format!("`{name}` is not supported"),
                });
            }
            _ => Type::Named { name, span },
        };
        // Annotations on a type (`set<i32> (python.immutable = "")`) only
        // steer other languages' generators.
        self.annotations()?;
        Ok(ty)
    }

    fn cpp_type(&mut self) -> PResult<()> {
        if self.eat_keyword("cpp_type") {
            self.string_literal("a cpp_type string")?;
        }
        Ok(())
    }

    /// `( key = "value", key2, ... )`, or nothing.
    fn annotations(&mut self) -> PResult<Vec<Annotation>> {
        let mut out = Vec::new();
        if !self.eat_punct('(') {
            return Ok(out);
        }
        while !self.eat_punct(')') {
            let (key, _) = self.ident("an annotation name")?;
            let value = if self.eat_punct('=') {
                self.string_literal("an annotation value (a string)")?
            } else {
                "1".to_owned()
            };
            out.push(Annotation { key, value });
            self.list_separator();
        }
        Ok(out)
    }

    fn const_value(&mut self) -> PResult<ConstValue> {
        self.deeper()?;
        let v = self.const_value_inner();
        self.depth -= 1;
        v
    }

    fn const_value_inner(&mut self) -> PResult<ConstValue> {
        let span = self.span();
        let v = match self.peek().clone() {
            Tok::Int(v) => ConstValue::Int(v),
            Tok::Double(v) => ConstValue::Double(v),
            Tok::Str(s) => ConstValue::String(s),
            Tok::Ident(s) if s == "true" => ConstValue::Bool(true),
            Tok::Ident(s) if s == "false" => ConstValue::Bool(false),
            Tok::Ident(name) => ConstValue::Identifier { name, span },
            Tok::Punct('[') => {
                self.next();
                let mut items = Vec::new();
                while !self.eat_punct(']') {
                    items.push(self.const_value()?);
                    self.list_separator();
                }
                return Ok(ConstValue::List(items));
            }
            Tok::Punct('{') => {
                self.next();
                let mut entries = Vec::new();
                while !self.eat_punct('}') {
                    let k = self.const_value()?;
                    self.expect_punct(':')?;
                    let v = self.const_value()?;
                    entries.push((k, v));
                    self.list_separator();
                }
                return Ok(ConstValue::Map(entries));
            }
            _ => return self.unexpected("a constant value"),
        };
        self.next();
        Ok(v)
    }
}

#[cfg(test)]
mod tests;
