//! The syntax tree of one Thrift IDL file, as the parser produces it.
//!
//! Names are kept as written (`other.Type`, `Numberz.ONE`); resolving them
//! against includes is [`crate::program`]'s job. Field ids are final here:
//! a field written without an id already carries the negative id Apache
//! Thrift gives it (-1, -2, ... in declaration order within one field list).

/// A position in an IDL file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// The line.
    pub line: usize,
    /// The column, in characters.
    pub column: usize,
}

/// One parsed IDL file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// `include "x.thrift"` paths, as written, in order.
    pub includes: Vec<Include>,
    /// `namespace <scope> <name>` lines.
    pub namespaces: Vec<Namespace>,
    /// Constants, typedefs, enums, structs, unions, exceptions and services,
    /// in declaration order.
    pub definitions: Vec<Definition>,
}

/// An `include` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The path as written (relative to the including file or an include dir).
    pub path: String,
    /// Where it was written.
    pub span: Span,
}

/// A `namespace` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The language scope (`rs`, `go`, `*`, `py.twisted`, ...).
    pub scope: String,
    /// The namespace.
    pub name: String,
}

/// A `key = "value"` annotation in parentheses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// The key (may contain dots).
    pub key: String,
    /// The value (`"1"` when only the key was written).
    pub value: String,
}

/// A top-level definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Definition {
    /// `const T NAME = value`.
    Const(Const),
    /// `typedef T Name`.
    Typedef(Typedef),
    /// `enum Name { ... }`.
    Enum(Enum),
    /// `struct`, `union` or `exception`.
    Struct(StructLike),
    /// `service Name [extends Base] { ... }`.
    Service(Service),
}

impl Definition {
    /// The definition's name as declared.
    pub fn name(&self) -> &str {
        match self {
            Definition::Const(c) => &c.name,
            Definition::Typedef(t) => &t.name,
            Definition::Enum(e) => &e.name,
            Definition::Struct(s) => &s.name,
            Definition::Service(s) => &s.name,
        }
    }

    /// Where the definition's name was written.
    pub fn span(&self) -> Span {
        match self {
            Definition::Const(c) => c.span,
            Definition::Typedef(t) => t.span,
            Definition::Enum(e) => e.span,
            Definition::Struct(s) => s.span,
            Definition::Service(s) => s.span,
        }
    }
}

/// A field type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `bool`.
    Bool,
    /// `i8` or `byte`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `double`.
    Double,
    /// `string`.
    String,
    /// `binary`.
    Binary,
    /// `uuid`.
    Uuid,
    /// `list<T>`.
    List(Box<Type>),
    /// `set<T>`.
    Set(Box<Type>),
    /// `map<K, V>`.
    Map(Box<Type>, Box<Type>),
    /// A name: a typedef, enum, struct, union or exception, possibly
    /// qualified by an include (`other.Type`).
    Named {
        /// The name as written.
        name: String,
        /// Where it was written.
        span: Span,
    },
}

/// A constant value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer (decimal or hex).
    Int(i64),
    /// A floating-point literal.
    Double(f64),
    /// A string literal (either quote style).
    String(String),
    /// A reference to another constant or an enum value.
    Identifier {
        /// The name as written (`OTHER`, `Numberz.ONE`, `inc.Enum.X`).
        name: String,
        /// Where it was written.
        span: Span,
    },
    /// `[a, b, ...]`.
    List(Vec<ConstValue>),
    /// `{k: v, ...}`.
    Map(Vec<(ConstValue, ConstValue)>),
}

/// `const T NAME = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// The name.
    pub name: String,
    /// The declared type.
    pub ty: Type,
    /// The value.
    pub value: ConstValue,
    /// Documentation from the IDL.
    pub doc: Option<String>,
    /// Where the name was written.
    pub span: Span,
}

/// `typedef T Name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Typedef {
    /// The new name.
    pub name: String,
    /// The aliased type.
    pub ty: Type,
    /// Annotations after the name.
    pub annotations: Vec<Annotation>,
    /// Documentation from the IDL.
    pub doc: Option<String>,
    /// Where the name was written.
    pub span: Span,
}

/// `enum Name { A = 1, B, ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    /// The name.
    pub name: String,
    /// The values, with implicit values already assigned.
    pub values: Vec<EnumValue>,
    /// Annotations after the closing brace.
    pub annotations: Vec<Annotation>,
    /// Documentation from the IDL.
    pub doc: Option<String>,
    /// Where the name was written.
    pub span: Span,
}

/// One value of an enum.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumValue {
    /// The name.
    pub name: String,
    /// The value: explicit, or one more than the previous (0 for the first).
    pub value: i32,
    /// Annotations.
    pub annotations: Vec<Annotation>,
    /// Documentation from the IDL.
    pub doc: Option<String>,
}

/// Which of the three struct-like definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructKind {
    /// `struct`.
    Struct,
    /// `union`: at most one field set.
    Union,
    /// `exception`: a struct that a method may throw.
    Exception,
}

/// A `struct`, `union` or `exception`.
#[derive(Debug, Clone, PartialEq)]
pub struct StructLike {
    /// Which kind.
    pub kind: StructKind,
    /// The name.
    pub name: String,
    /// The fields, in declaration order.
    pub fields: Vec<Field>,
    /// Annotations after the closing brace.
    pub annotations: Vec<Annotation>,
    /// Documentation from the IDL.
    pub doc: Option<String>,
    /// Where the name was written.
    pub span: Span,
}

/// A field's requiredness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requiredness {
    /// `required`: always written, and an error when absent on read.
    Required,
    /// `optional`: written only when set.
    Optional,
    /// Neither keyword ("opt-in, req-out"): always written, default when
    /// absent on read.
    Default,
}

/// A field of a struct, union, exception, argument list or throws list.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The id: as written, or negative when none was (Apache Thrift's
    /// auto-assigned ids).
    pub id: i16,
    /// Whether the id was written.
    pub explicit_id: bool,
    /// The name.
    pub name: String,
    /// The type.
    pub ty: Type,
    /// The requiredness.
    pub req: Requiredness,
    /// The default value, if written.
    pub default: Option<ConstValue>,
    /// Annotations.
    pub annotations: Vec<Annotation>,
    /// Documentation from the IDL (a leading doc comment, leading line
    /// comments, or a trailing comment on the same line).
    pub doc: Option<String>,
    /// Where the name was written.
    pub span: Span,
}

/// `service Name [extends Base] { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The name.
    pub name: String,
    /// The base service, as written (`Base` or `other.Base`).
    pub extends: Option<String>,
    /// The methods, in declaration order.
    pub functions: Vec<Function>,
    /// Annotations after the closing brace.
    pub annotations: Vec<Annotation>,
    /// Documentation from the IDL.
    pub doc: Option<String>,
    /// Where the name was written.
    pub span: Span,
}

/// A service method.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// The name.
    pub name: String,
    /// `oneway`: the client expects no reply.
    pub oneway: bool,
    /// The return type; `None` for `void`.
    pub ret: Option<Type>,
    /// The arguments.
    pub args: Vec<Field>,
    /// The declared exceptions.
    pub throws: Vec<Field>,
    /// Annotations.
    pub annotations: Vec<Annotation>,
    /// Documentation from the IDL.
    pub doc: Option<String>,
    /// Where the name was written.
    pub span: Span,
}
