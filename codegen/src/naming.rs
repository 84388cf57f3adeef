//! The naming rule: the Rust identifier of every IDL name, unique in the
//! Rust scope it lands in.
//!
//! Converting case alone is not enough: `the_edge_case`, `theEdgeCase` and
//! `TheEdgeCase` are three fields in Thrift and one `the_edge_case` in Rust
//! (Apache Thrift's `test/NameConflictTest.thrift` has a struct of each
//! shape). So every scope is named as a whole, once, before any code is
//! written, and generation only looks names up:
//!
//! 1. A rename annotation (`pilota.name`, or `rust.name`) is taken as
//!    written. Two renames that clash, or a rename that clashes with a name
//!    the generated code reserves, are an error.
//! 2. Then each name already in its Rust case (`the_edge_case` for a field,
//!    `TheEdgeCase` for a type) keeps it, in declaration order.
//! 3. Then the others, in declaration order, get their converted name, or,
//!    when an earlier name took it, the converted name with a suffix: the
//!    Thrift field id for what has one (struct and argument fields, union
//!    members, declared exceptions: `the_edge_case_2`, `the_edge_case_n1`
//!    for id -1), otherwise a counter from 2 (`get_item_2`).
//!
//! A suffix is joined with `_` (`the_edge_case_2`, `ME2_2_2`); on an
//! `UpperCamelCase` name it is appended (`TheEdgeCase4`), with `_` only
//! when the name ends in a digit (`Xtruct2_3`), so every generated name
//! keeps Rust's case conventions.
//!
//! The scopes, and what each reserves:
//!
//! | scope | holds | reserved |
//! |---|---|---|
//! | an IDL file's module | types, typedefs, services (the handler trait), constants; then per method `<Service><Method>Args`/`Result`/`Error`; then per service `<Service>Request`/`Response`/`Descriptor`/`Server`/`Client`/`ClientWithOptions` | `codec`, `thrift`, `engine` (the generated imports) and the prelude names the code uses (`Option`, `Result`, `Vec`, ...: `Option` becomes `Option_`) |
//! | a struct, exception or argument list | fields | — |
//! | a union | variants | `Unset` yields (becomes `Unset_`) |
//! | an enum | values | `VALUES`, `name` |
//! | a service | its methods and every inherited one (snake and camel forms together) | `new`, `inner`, `builder`, `with_options` (the client's own methods) |
//! | a result struct | `success`, then the declared exceptions | — |
//!
//! The derived names follow the names they derive from: a method renamed
//! `get_item_2` has `ShopGetItem2Args`. Wire names never change: structs,
//! fields and methods go on the wire as the IDL spells them.

use std::collections::{HashMap, HashSet};

use crate::Error;
use crate::model::{Annotation, Definition, Field, Function, Service, Span, StructKind};
use crate::names;
use crate::program::{DefId, Program};

/// The annotation keys that rename an item, field, value or method: pilota's
/// (`pilota-build/src/tags.rs`, `PilotaName`), and ringrpc's own spelling.
pub(crate) const RENAME_KEYS: &[&str] = &["pilota.name", "rust.name"];

/// Every Rust name of a program.
#[derive(Debug, Default)]
pub(crate) struct Naming {
    items: HashMap<DefId, String>,
    members: HashMap<DefId, Vec<String>>,
    services: HashMap<DefId, ServiceNames>,
    /// Per file, the names taken in its module once its declared items are
    /// named.
    module_scopes: HashMap<usize, Scope>,
}

/// The names generated for one service.
#[derive(Debug, Clone)]
pub(crate) struct ServiceNames {
    pub(crate) request: String,
    pub(crate) response: String,
    pub(crate) descriptor: String,
    pub(crate) server: String,
    pub(crate) client: String,
    /// The client's view with per-call options.
    pub(crate) client_with: String,
    /// Per method, in declaration order (own methods only).
    pub(crate) methods: Vec<MethodNames>,
}

/// The names generated for one method.
#[derive(Debug, Clone)]
pub(crate) struct MethodNames {
    /// The Rust method (handler trait, client).
    pub(crate) method: String,
    /// The variant in the service's request and response enums.
    pub(crate) variant: String,
    pub(crate) args: String,
    pub(crate) result: String,
    /// `Some` when the method declares exceptions.
    pub(crate) error: Option<String>,
    /// The argument struct's fields.
    pub(crate) arg_fields: Vec<String>,
    /// The handler and client parameters (the fields, kept clear of `cx`
    /// and `opts`).
    pub(crate) params: Vec<String>,
    /// The result struct's fields: `success` (unless `void`), then one per
    /// declared exception.
    pub(crate) result_fields: Vec<String>,
    /// The error enum's variant per declared exception.
    pub(crate) error_variants: Vec<String>,
    /// The error enum's catch-all variant (`Other`, unless a declared
    /// exception took it).
    pub(crate) error_other: String,
}

/// A Rust naming convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// Fields, methods, parameters.
    Snake,
    /// Variants.
    Camel,
    /// Types: `UpperCamelCase`, and clear of the prelude names generated
    /// code uses.
    Type,
    /// Constants, enum values.
    Shouty,
}

/// What a suffix is made of, when a name must take one.
#[derive(Debug, Clone, Copy)]
enum Tag {
    /// A Thrift field id.
    Id(i16),
    /// 2, 3, ... in claim order.
    Counter,
}

/// Prelude names that generated code uses unqualified; an IDL type with one
/// of these names gets a trailing `_` (`Option` → `Option_`).
const PRELUDE: &[&str] = &[
    "Option", "Some", "None", "Box", "Vec", "Ok", "Err", "Result", "Default",
];

/// Names every generated file imports.
const IMPORTS: &[&str] = &["codec", "thrift", "engine"];

/// `name` in `case`, before any suffix: keywords that cannot be raw
/// identifiers get a trailing `_` (`self_`), as do prelude names for types
/// (`Option_`); a name that converts to nothing keeps its underscores and
/// gets one more, and one that would start with a digit gets a leading `_`.
pub(crate) fn convert(case: Case, name: &str) -> String {
    let mut out = match case {
        Case::Snake => names::snake(name),
        Case::Camel | Case::Type => names::upper_camel(name),
        Case::Shouty => names::shouty(name),
    };
    if out.is_empty() {
        out = format!("{name}_");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if names::NOT_RAW.contains(&out.as_str())
        || (case == Case::Type && PRELUDE.contains(&out.as_str()))
    {
        out.push('_');
    }
    out
}

/// `base` with suffix `tag` in `case`'s style.
fn with_suffix(case: Case, base: &str, tag: &str) -> String {
    let base = base.trim_end_matches('_');
    match case {
        Case::Camel | Case::Type if !base.ends_with(|c: char| c.is_ascii_digit()) => {
            format!("{base}{tag}")
        }
        _ => format!("{base}_{tag}"),
    }
}

/// A field id as a suffix: `2`, or `n1` (`N1` in camel and shouty case)
/// for the negative ids Apache Thrift gives fields written without one.
fn id_suffix(case: Case, id: i16) -> String {
    match (id < 0, case) {
        (false, _) => id.to_string(),
        (true, Case::Snake) => format!("n{}", id.unsigned_abs()),
        (true, _) => format!("N{}", id.unsigned_abs()),
    }
}

/// The identifiers taken in one Rust scope (raw identifiers by their name
/// without `r#`).
#[derive(Debug, Default, Clone)]
struct Scope {
    taken: HashSet<String>,
}

impl Scope {
    fn reserved(names: &[&str]) -> Self {
        Self {
            taken: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    fn is_taken(&self, name: &str) -> bool {
        self.taken.contains(name)
    }

    /// Takes `base` if free, or the first free suffixed form.
    fn claim(&mut self, case: Case, base: &str, tag: Tag) -> String {
        let name = self.first_free(|n| match (tag, n) {
            (_, 0) => base.to_owned(),
            (Tag::Id(id), 1) => with_suffix(case, base, &id_suffix(case, id)),
            (Tag::Id(id), n) => {
                let with_id = with_suffix(case, base, &id_suffix(case, id));
                with_suffix(case, &with_id, &n.to_string())
            }
            (Tag::Counter, n) => with_suffix(case, base, &(n + 1).to_string()),
        });
        self.taken.insert(name.clone());
        name
    }

    /// The first candidate `make(0)`, `make(1)`, ... not taken.
    fn first_free(&self, make: impl Fn(usize) -> String) -> String {
        (0..)
            .map(make)
            .find(|n| !self.is_taken(n))
            .unwrap_or_default()
    }
}

/// One name to give in a scope.
struct Entry<'a> {
    idl: &'a str,
    rename: Option<String>,
    tag: Tag,
    span: Span,
}

/// A rename annotation's value, if any; an error when it is not an
/// identifier or two keys disagree.
fn rename_of(
    program: &Program,
    file: usize,
    annotations: &[Annotation],
    span: Span,
) -> Result<Option<String>, Error> {
    let mut found: Option<&str> = None;
    for a in annotations
        .iter()
        .filter(|a| RENAME_KEYS.contains(&a.key.as_str()))
    {
        if !is_identifier(&a.value) {
            return Err(program.error(
                file,
                span,
                format!("{} = {:?} is not a Rust identifier", a.key, a.value),
            ));
        }
        match found {
            Some(f) if f != a.value => {
                return Err(program.error(
                    file,
                    span,
                    format!("two different renames: {f:?} and {:?}", a.value),
                ));
            }
            _ => found = Some(&a.value),
        }
    }
    Ok(found.map(str::to_owned))
}

/// Whether `s` can be a Rust identifier (raw or not).
fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !names::NOT_RAW.contains(&s)
}

/// Names `entries` in `scope` by the three steps of the module docs.
fn name_all(
    program: &Program,
    file: usize,
    scope: &mut Scope,
    cases: &[Case],
    entries: &[Entry<'_>],
) -> Result<Vec<String>, Error> {
    let mut out: Vec<Option<String>> = vec![None; entries.len()];
    for (i, e) in entries.iter().enumerate() {
        if let Some(r) = &e.rename {
            if scope.is_taken(r) {
                return Err(program.error(
                    file,
                    e.span,
                    format!("`{}` is renamed `{r}`, a name already taken here", e.idl),
                ));
            }
            scope.taken.insert(r.clone());
            out[i] = Some(r.clone());
        }
    }
    for exact in [true, false] {
        for (i, e) in entries.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let case = cases[i];
            let base = convert(case, e.idl);
            if (base == e.idl) == exact {
                out[i] = Some(scope.claim(case, &base, e.tag));
            }
        }
    }
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}

/// Names fields in their own scope, each suffixed with its id on a clash.
fn name_fields(
    program: &Program,
    file: usize,
    case: Case,
    scope: &mut Scope,
    fields: &[Field],
) -> Result<Vec<String>, Error> {
    let entries = fields
        .iter()
        .map(|f| {
            Ok(Entry {
                idl: &f.name,
                rename: rename_of(program, file, &f.annotations, f.span)?,
                tag: Tag::Id(f.id),
                span: f.span,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    name_all(program, file, scope, &vec![case; fields.len()], &entries)
}

impl Naming {
    /// Names everything in `program`.
    pub(crate) fn new(program: &Program) -> Result<Naming, Error> {
        let mut naming = Naming::default();
        for file in 0..program.files.len() {
            naming.name_file(program, file)?;
        }
        for (file, f) in program.files.iter().enumerate() {
            for (index, d) in f.doc.definitions.iter().enumerate() {
                if matches!(d, Definition::Service(_)) {
                    naming.ensure_service(program, DefId { file, index }, &mut Vec::new())?;
                }
            }
        }
        naming.name_derived(program);
        Ok(naming)
    }

    /// Names service `id` after its bases (a service's method scope holds
    /// its bases' names); `stack` holds the services being named, to catch
    /// a loop of `extends`.
    fn ensure_service(
        &mut self,
        program: &Program,
        id: DefId,
        stack: &mut Vec<DefId>,
    ) -> Result<(), Error> {
        if self.services.contains_key(&id) {
            return Ok(());
        }
        let Definition::Service(s) = program.def(id) else {
            return Ok(());
        };
        if stack.contains(&id) {
            return Err(program.error(id.file, s.span, format!("`{}` extends itself", s.name)));
        }
        let base = program.base_service(id.file, s)?;
        if let Some(b) = base {
            stack.push(id);
            self.ensure_service(program, b, stack)?;
            stack.pop();
        }
        self.name_service(program, id, s, base)
    }

    /// A file's items, and the members of its structs and enums.
    fn name_file(&mut self, program: &Program, file: usize) -> Result<(), Error> {
        let defs = &program.files[file].doc.definitions;
        let mut reserved: Vec<&str> = IMPORTS.to_vec();
        reserved.extend(PRELUDE);
        let mut scope = Scope::reserved(&reserved);
        let entries = defs
            .iter()
            .map(|d| {
                let annotations: &[Annotation] = match d {
                    Definition::Const(_) => &[],
                    Definition::Typedef(t) => &t.annotations,
                    Definition::Enum(e) => &e.annotations,
                    Definition::Struct(s) => &s.annotations,
                    Definition::Service(s) => &s.annotations,
                };
                Ok(Entry {
                    idl: d.name(),
                    rename: rename_of(program, file, annotations, d.span())?,
                    tag: Tag::Counter,
                    span: d.span(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let cases: Vec<Case> = defs
            .iter()
            .map(|d| match d {
                Definition::Const(_) => Case::Shouty,
                _ => Case::Type,
            })
            .collect();
        let items = name_all(program, file, &mut scope, &cases, &entries)?;
        for (index, name) in items.into_iter().enumerate() {
            self.items.insert(DefId { file, index }, name);
        }
        for (index, d) in defs.iter().enumerate() {
            let id = DefId { file, index };
            match d {
                Definition::Struct(s) => {
                    let (case, mut scope) = match s.kind {
                        StructKind::Union => (Case::Camel, Scope::default()),
                        _ => (Case::Snake, Scope::default()),
                    };
                    let fields = name_fields(program, file, case, &mut scope, &s.fields)?;
                    self.members.insert(id, fields);
                }
                Definition::Enum(e) => {
                    let mut scope = Scope::reserved(&["VALUES", "name"]);
                    let entries = e
                        .values
                        .iter()
                        .map(|v| {
                            Ok(Entry {
                                idl: &v.name,
                                rename: rename_of(program, file, &v.annotations, e.span)?,
                                tag: Tag::Counter,
                                span: e.span,
                            })
                        })
                        .collect::<Result<Vec<_>, Error>>()?;
                    let cases = vec![Case::Shouty; entries.len()];
                    let values = name_all(program, file, &mut scope, &cases, &entries)?;
                    self.members.insert(id, values);
                }
                _ => {}
            }
        }
        // The derived names are claimed in the same scope, later.
        self.module_scopes.insert(file, scope);
        Ok(())
    }

    /// A service's methods, against its bases' names.
    fn name_service(
        &mut self,
        program: &Program,
        id: DefId,
        s: &Service,
        base: Option<DefId>,
    ) -> Result<(), Error> {
        let file = id.file;
        let mut snake = Scope::reserved(&["new", "inner", "builder", "with_options"]);
        let mut camel = Scope::default();
        let mut ancestor = base;
        while let Some(b) = ancestor {
            if let Some(names) = self.services.get(&b) {
                for m in &names.methods {
                    snake.taken.insert(m.method.clone());
                    camel.taken.insert(m.variant.clone());
                }
            }
            let Definition::Service(bs) = program.def(b) else {
                break;
            };
            ancestor = program.base_service(b.file, bs)?;
        }
        // Methods: the snake and camel forms are claimed together, so a
        // method's two forms carry the same suffix.
        let renames = s
            .functions
            .iter()
            .map(|f| rename_of(program, file, &f.annotations, f.span))
            .collect::<Result<Vec<_>, Error>>()?;
        let mut chosen: Vec<Option<(String, String)>> = vec![None; s.functions.len()];
        for (i, f) in s.functions.iter().enumerate() {
            if let Some(r) = &renames[i] {
                let c = convert(Case::Camel, r);
                if snake.is_taken(r) || camel.is_taken(&c) {
                    return Err(program.error(
                        file,
                        f.span,
                        format!("`{}` is renamed `{r}`, a name already taken here", f.name),
                    ));
                }
                snake.taken.insert(r.clone());
                camel.taken.insert(c.clone());
                chosen[i] = Some((r.clone(), c));
            }
        }
        for exact in [true, false] {
            for (i, f) in s.functions.iter().enumerate() {
                if chosen[i].is_some() {
                    continue;
                }
                let (sn, cc) = (convert(Case::Snake, &f.name), convert(Case::Camel, &f.name));
                if (sn == f.name) != exact {
                    continue;
                }
                let pair = (0..)
                    .map(|n| match n {
                        0 => (sn.clone(), cc.clone()),
                        n => (
                            with_suffix(Case::Snake, &sn, &(n + 1).to_string()),
                            with_suffix(Case::Camel, &cc, &(n + 1).to_string()),
                        ),
                    })
                    .find(|(a, b)| !snake.is_taken(a) && !camel.is_taken(b))
                    .unwrap_or_default();
                snake.taken.insert(pair.0.clone());
                camel.taken.insert(pair.1.clone());
                chosen[i] = Some(pair);
            }
        }
        let mut methods = Vec::new();
        for (f, pair) in s.functions.iter().zip(chosen) {
            let (method, variant) = pair.unwrap_or_default();
            methods.push(self.method_names(program, file, f, method, variant)?);
        }
        self.services.insert(
            id,
            ServiceNames {
                request: String::new(),
                response: String::new(),
                descriptor: String::new(),
                server: String::new(),
                client: String::new(),
                client_with: String::new(),
                methods,
            },
        );
        Ok(())
    }

    /// A method's fields, parameters and variants (its type names come
    /// later, in [`Naming::name_derived`]).
    fn method_names(
        &self,
        program: &Program,
        file: usize,
        f: &Function,
        method: String,
        variant: String,
    ) -> Result<MethodNames, Error> {
        let arg_fields = name_fields(program, file, Case::Snake, &mut Scope::default(), &f.args)?;
        let taken: HashSet<&str> = arg_fields.iter().map(String::as_str).collect();
        let params = arg_fields
            .iter()
            .map(|a| {
                let mut p = a.clone();
                while p == "cx" || p == "opts" || (p != *a && taken.contains(p.as_str())) {
                    p.push('_');
                }
                p
            })
            .collect();
        let mut result_scope = Scope::default();
        let mut result_fields = Vec::new();
        if f.ret.is_some() {
            result_scope.taken.insert("success".to_owned());
            result_fields.push("success".to_owned());
        }
        result_fields.extend(name_fields(
            program,
            file,
            Case::Snake,
            &mut result_scope,
            &f.throws,
        )?);
        let error_variants =
            name_fields(program, file, Case::Camel, &mut Scope::default(), &f.throws)?;
        let mut error_other = "Other".to_owned();
        while error_variants.contains(&error_other) {
            error_other.push('_');
        }
        Ok(MethodNames {
            method,
            variant,
            args: String::new(),
            result: String::new(),
            error: None,
            arg_fields,
            params,
            result_fields,
            error_variants,
            error_other,
        })
    }

    /// Per file: the per-method type names, then the per-service engine
    /// names, after every declared name, so declared names never move.
    fn name_derived(&mut self, program: &Program) {
        for (file, f) in program.files.iter().enumerate() {
            let mut scope = self.module_scopes.remove(&file).unwrap_or_default();
            let services: Vec<DefId> = f
                .doc
                .definitions
                .iter()
                .enumerate()
                .filter(|(_, d)| matches!(d, Definition::Service(_)))
                .map(|(index, _)| DefId { file, index })
                .collect();
            for &id in &services {
                let Definition::Service(s) = program.def(id) else {
                    continue;
                };
                let svc = self.item(id).to_owned();
                let Some(names) = self.services.get_mut(&id) else {
                    continue;
                };
                for (m, func) in names.methods.iter_mut().zip(&s.functions) {
                    let base = format!("{svc}{}", m.variant);
                    m.args = scope.claim(Case::Camel, &format!("{base}Args"), Tag::Counter);
                    m.result = scope.claim(Case::Camel, &format!("{base}Result"), Tag::Counter);
                    m.error = (!func.throws.is_empty())
                        .then(|| scope.claim(Case::Camel, &format!("{base}Error"), Tag::Counter));
                }
            }
            for &id in &services {
                let svc = self.item(id).to_owned();
                let Some(names) = self.services.get_mut(&id) else {
                    continue;
                };
                let mut claim =
                    |what: &str| scope.claim(Case::Camel, &format!("{svc}{what}"), Tag::Counter);
                names.request = claim("Request");
                names.response = claim("Response");
                names.descriptor = claim("Descriptor");
                names.server = claim("Server");
                names.client = claim("Client");
                names.client_with = claim("ClientWithOptions");
            }
        }
    }

    /// The Rust name of definition `id` (a type, typedef, service trait or
    /// constant).
    pub(crate) fn item(&self, id: DefId) -> &str {
        self.items.get(&id).map_or("", String::as_str)
    }

    /// The Rust names of a struct's fields, a union's variants or an enum's
    /// values, in declaration order.
    pub(crate) fn members(&self, id: DefId) -> &[String] {
        self.members.get(&id).map_or(&[], Vec::as_slice)
    }

    /// The names generated for service `id`.
    pub(crate) fn service(&self, id: DefId) -> Option<&ServiceNames> {
        self.services.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_keep_rust_case() {
        assert_eq!(
            with_suffix(Case::Snake, "the_edge_case", "2"),
            "the_edge_case_2"
        );
        assert_eq!(with_suffix(Case::Snake, "self_", "2"), "self_2");
        assert_eq!(with_suffix(Case::Camel, "TheEdgeCase", "4"), "TheEdgeCase4");
        assert_eq!(with_suffix(Case::Camel, "Xtruct2", "3"), "Xtruct2_3");
        assert_eq!(with_suffix(Case::Shouty, "ME2_2", "2"), "ME2_2_2");
        assert_eq!(id_suffix(Case::Snake, -1), "n1");
        assert_eq!(id_suffix(Case::Camel, -2), "N2");
    }

    #[test]
    fn conversions() {
        assert_eq!(convert(Case::Snake, "self"), "self_");
        assert_eq!(convert(Case::Snake, "type"), "type");
        assert_eq!(convert(Case::Type, "Option"), "Option_");
        assert_eq!(convert(Case::Type, "result"), "Result_");
        assert_eq!(convert(Case::Camel, "err"), "Err");
        assert_eq!(convert(Case::Snake, "_"), "__");
        assert_eq!(convert(Case::Snake, "_1abc"), "_1abc");
        assert_eq!(convert(Case::Shouty, "theEdgeCase"), "THE_EDGE_CASE");
    }

    #[test]
    fn scope_claims_in_order() {
        let mut s = Scope::default();
        assert_eq!(s.claim(Case::Snake, "a", Tag::Id(3)), "a");
        assert_eq!(s.claim(Case::Snake, "a", Tag::Id(3)), "a_3");
        assert_eq!(s.claim(Case::Snake, "a", Tag::Id(3)), "a_3_2");
        assert_eq!(s.claim(Case::Camel, "B", Tag::Counter), "B");
        assert_eq!(s.claim(Case::Camel, "B", Tag::Counter), "B2");
        assert_eq!(s.claim(Case::Camel, "B", Tag::Counter), "B3");
        assert_eq!(s.claim(Case::Snake, "c", Tag::Id(-1)), "c");
        assert_eq!(s.claim(Case::Snake, "c", Tag::Id(-1)), "c_n1");
    }
}
