//! A set of IDL files with their includes, loaded and resolved: every type
//! name is checked to mean something, the duplicates Apache Thrift rejects
//! are rejected, and facts about the types are worked out once:
//!
//! - which structs can be hashed and compared (and so be `HashMap` keys in
//!   generated Rust),
//! - which struct fields reach back to the struct holding them without
//!   passing through a container (generated Rust boxes them).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::model::{
    Definition, Document, Enum, Field, Service, Span, StructKind, StructLike, Type, Typedef,
};
use crate::parser;

/// One IDL file of the program.
#[derive(Debug)]
pub struct IdlFile {
    /// The path it was read from.
    pub path: PathBuf,
    /// The name other files use to qualify its types: the file name without
    /// `.thrift`.
    pub stem: String,
    /// Its syntax tree.
    pub doc: Document,
    /// Include name → file index.
    includes: HashMap<String, usize>,
}

/// A definition: file index and index in that file's definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefId {
    /// The file.
    pub file: usize,
    /// The definition within the file.
    pub index: usize,
}

/// A type with typedefs seen through and names resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// `bool`.
    Bool,
    /// `i8`.
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
    List(Box<Ty>),
    /// `set<T>`.
    Set(Box<Ty>),
    /// `map<K, V>`.
    Map(Box<Ty>, Box<Ty>),
    /// An enum.
    Enum(DefId),
    /// A struct, union or exception.
    Struct(DefId),
}

/// What a constant's identifier refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstRef {
    /// Another constant.
    Const(DefId),
    /// An enum's value.
    EnumValue {
        /// The enum.
        enum_id: DefId,
        /// The value's name as declared.
        name: String,
        /// The number.
        value: i32,
    },
}

/// Every IDL file reachable from the roots, resolved.
#[derive(Debug)]
pub struct Program {
    /// The files; includes before the files that include them is not
    /// guaranteed: refer to them by index.
    pub files: Vec<IdlFile>,
    /// The files that were asked for, in the order given.
    pub roots: Vec<usize>,
    hashable: HashMap<DefId, bool>,
    reach: HashMap<DefId, HashSet<DefId>>,
}

/// How deep typedefs may chain before it is called a loop.
const MAX_TYPEDEF_DEPTH: usize = 64;

impl Program {
    /// Reads `roots` and everything they include (searched next to the
    /// including file, then in `include_dirs`), and resolves every name.
    pub fn load(roots: &[PathBuf], include_dirs: &[PathBuf]) -> Result<Program, Error> {
        let mut files: Vec<IdlFile> = Vec::new();
        let mut by_canon: HashMap<PathBuf, usize> = HashMap::new();
        let mut root_ids = Vec::new();
        let mut queue = Vec::new();
        for root in roots {
            let idx = load_file(root, &mut files, &mut by_canon, &mut queue)?;
            root_ids.push(idx);
        }
        while let Some(idx) = queue.pop() {
            let dir = files[idx]
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let includes = files[idx].doc.includes.clone();
            for inc in includes {
                let found = std::iter::once(&dir)
                    .chain(include_dirs)
                    .map(|d| d.join(&inc.path))
                    .find(|p| p.is_file());
                let Some(found) = found else {
                    return Err(resolve_error(
                        &files[idx].path,
                        inc.span,
                        format!("include {:?} not found", inc.path),
                    ));
                };
                let inc_idx = load_file(&found, &mut files, &mut by_canon, &mut queue)?;
                let name = file_stem(&found);
                files[idx].includes.insert(name, inc_idx);
            }
        }
        let mut program = Program {
            files,
            roots: root_ids,
            hashable: HashMap::new(),
            reach: HashMap::new(),
        };
        program.check()?;
        program.analyse()?;
        Ok(program)
    }

    /// A resolution error in `file` at `span`.
    pub fn error(&self, file: usize, span: Span, message: impl Into<String>) -> Error {
        resolve_error(&self.files[file].path, span, message.into())
    }

    /// The definition `id` names.
    pub fn def(&self, id: DefId) -> &Definition {
        &self.files[id.file].doc.definitions[id.index]
    }

    /// The struct, union or exception `id` names.
    ///
    /// # Panics
    /// When `id` names something else: ids come from resolution, which
    /// checked the kind.
    pub fn struct_def(&self, id: DefId) -> &StructLike {
        match self.def(id) {
            Definition::Struct(s) => s,
            other => panic!("{} is not a struct", other.name()),
        }
    }

    /// The enum `id` names (panics as [`Program::struct_def`] does).
    pub fn enum_def(&self, id: DefId) -> &Enum {
        match self.def(id) {
            Definition::Enum(e) => e,
            other => panic!("{} is not an enum", other.name()),
        }
    }

    /// Looks up a definition named `name` (`Name` or `include.Name`) as seen
    /// from `file`.
    pub fn find(&self, file: usize, name: &str, span: Span) -> Result<DefId, Error> {
        let (target, local) = match name.split_once('.') {
            Some((prefix, rest)) => match self.files[file].includes.get(prefix) {
                Some(&inc) => (inc, rest),
                None if prefix == self.files[file].stem => (file, rest),
                None => {
                    return Err(self.error(
                        file,
                        span,
                        format!("`{name}`: no include named `{prefix}`"),
                    ));
                }
            },
            None => (file, name),
        };
        self.files[target]
            .doc
            .definitions
            .iter()
            .position(|d| d.name() == local && !matches!(d, Definition::Const(_)))
            .map(|index| DefId {
                file: target,
                index,
            })
            .ok_or_else(|| self.error(file, span, format!("unknown type `{name}`")))
    }

    /// Resolves a type written in `file`.
    pub fn resolve(&self, file: usize, ty: &Type) -> Result<Ty, Error> {
        self.resolve_depth(file, ty, 0)
    }

    fn resolve_depth(&self, file: usize, ty: &Type, depth: usize) -> Result<Ty, Error> {
        Ok(match ty {
            Type::Bool => Ty::Bool,
            Type::I8 => Ty::I8,
            Type::I16 => Ty::I16,
            Type::I32 => Ty::I32,
            Type::I64 => Ty::I64,
            Type::Double => Ty::Double,
            Type::String => Ty::String,
            Type::Binary => Ty::Binary,
            Type::Uuid => Ty::Uuid,
            Type::List(t) => Ty::List(Box::new(self.resolve_depth(file, t, depth)?)),
            Type::Set(t) => Ty::Set(Box::new(self.resolve_depth(file, t, depth)?)),
            Type::Map(k, v) => Ty::Map(
                Box::new(self.resolve_depth(file, k, depth)?),
                Box::new(self.resolve_depth(file, v, depth)?),
            ),
            Type::Named { name, span } => {
                let id = self.find(file, name, *span)?;
                match self.def(id) {
                    Definition::Typedef(Typedef { ty, .. }) => {
                        if depth > MAX_TYPEDEF_DEPTH {
                            return Err(self.error(
                                file,
                                *span,
                                format!("typedef `{name}` refers to itself"),
                            ));
                        }
                        self.resolve_depth(id.file, ty, depth + 1)?
                    }
                    Definition::Enum(_) => Ty::Enum(id),
                    Definition::Struct(_) => Ty::Struct(id),
                    Definition::Service(_) | Definition::Const(_) => {
                        return Err(self.error(
                            file,
                            *span,
                            format!("`{name}` is a service, not a type"),
                        ));
                    }
                }
            }
        })
    }

    /// Resolves a constant's identifier (`NAME`, `Enum.VALUE`,
    /// `include.NAME`, `include.Enum.VALUE`) as seen from `file`.
    pub fn find_const(&self, file: usize, name: &str, span: Span) -> Result<ConstRef, Error> {
        let parts: Vec<&str> = name.split('.').collect();
        let unknown = || self.error(file, span, format!("unknown constant `{name}`"));
        let const_in = |f: usize, n: &str| {
            self.files[f]
                .doc
                .definitions
                .iter()
                .position(|d| matches!(d, Definition::Const(c) if c.name == n))
                .map(|index| ConstRef::Const(DefId { file: f, index }))
        };
        let value_in = |f: usize, e: &str, v: &str| {
            let index = self.files[f]
                .doc
                .definitions
                .iter()
                .position(|d| matches!(d, Definition::Enum(x) if x.name == e))?;
            let enum_id = DefId { file: f, index };
            let ev = self.enum_def(enum_id).values.iter().find(|x| x.name == v)?;
            Some(ConstRef::EnumValue {
                enum_id,
                name: ev.name.clone(),
                value: ev.value,
            })
        };
        let include = |p: &str| {
            self.files[file]
                .includes
                .get(p)
                .copied()
                .or((p == self.files[file].stem).then_some(file))
        };
        match parts.as_slice() {
            [n] => const_in(file, n),
            [a, b] => value_in(file, a, b).or_else(|| include(a).and_then(|f| const_in(f, b))),
            [a, b, c] => include(a).and_then(|f| value_in(f, b, c)),
            _ => None,
        }
        .ok_or_else(unknown)
    }

    /// The service `svc` (in `file`) extends, if any.
    pub fn base_service(&self, file: usize, svc: &Service) -> Result<Option<DefId>, Error> {
        let Some(base) = &svc.extends else {
            return Ok(None);
        };
        let id = self.find(file, base, svc.span)?;
        match self.def(id) {
            Definition::Service(_) => Ok(Some(id)),
            _ => Err(self.error(
                file,
                svc.span,
                format!("`{}` extends `{base}`, which is not a service", svc.name),
            )),
        }
    }

    /// Whether values of `ty` can be hashed and compared for equality
    /// (`Hash` + `Eq`): false for `double`, maps, and structs holding them.
    pub fn is_hashable(&self, ty: &Ty) -> bool {
        match ty {
            Ty::Double | Ty::Map(..) => false,
            Ty::List(t) | Ty::Set(t) => self.is_hashable(t),
            Ty::Struct(id) => self.hashable.get(id).copied().unwrap_or(false),
            _ => true,
        }
    }

    /// Whether a field of type `ty` in struct `owner` must be boxed: `ty` is
    /// a struct from which `owner` can be reached through struct fields
    /// (not through containers, which already allocate).
    pub fn needs_box(&self, owner: DefId, ty: &Ty) -> bool {
        match ty {
            Ty::Struct(t) => *t == owner || self.reach.get(t).is_some_and(|r| r.contains(&owner)),
            _ => false,
        }
    }

    /// Resolves every name once, so generation meets no unknown ones, and
    /// rejects the duplicates Apache Thrift rejects: two types, services or
    /// constants of one name in a file, two fields of one id or name, two
    /// values of one name in an enum, two methods of one name in a service
    /// and the services it extends.
    fn check(&self) -> Result<(), Error> {
        for (fi, file) in self.files.iter().enumerate() {
            let mut types = HashSet::new();
            let mut consts = HashSet::new();
            for def in &file.doc.definitions {
                let seen = match def {
                    Definition::Const(_) => &mut consts,
                    _ => &mut types,
                };
                if !seen.insert(def.name()) {
                    return Err(self.error(
                        fi,
                        def.span(),
                        format!("`{}` is already defined", def.name()),
                    ));
                }
                match def {
                    Definition::Struct(s) => self.check_fields(fi, &s.fields)?,
                    Definition::Enum(e) => {
                        let mut names = HashSet::new();
                        if let Some(v) = e.values.iter().find(|v| !names.insert(&v.name)) {
                            return Err(self.error(
                                fi,
                                e.span,
                                format!("enum `{}` declares `{}` twice", e.name, v.name),
                            ));
                        }
                    }
                    Definition::Service(s) => self.check_methods(fi, s)?,
                    _ => {}
                }
            }
            for def in &file.doc.definitions {
                match def {
                    Definition::Const(c) => {
                        self.resolve(fi, &c.ty)?;
                    }
                    Definition::Typedef(t) => {
                        self.resolve(fi, &t.ty)?;
                    }
                    Definition::Enum(_) => {}
                    Definition::Struct(s) => {
                        for f in &s.fields {
                            self.resolve(fi, &f.ty)?;
                        }
                    }
                    Definition::Service(s) => {
                        self.base_service(fi, s)?;
                        for func in &s.functions {
                            if let Some(ret) = &func.ret {
                                self.resolve(fi, ret)?;
                            }
                            for a in &func.args {
                                self.resolve(fi, &a.ty)?;
                            }
                            for t in &func.throws {
                                let ok = matches!(
                                    self.resolve(fi, &t.ty)?,
                                    Ty::Struct(id) if self.struct_def(id).kind == StructKind::Exception
                                );
                                if !ok {
                                    let ty = match &t.ty {
                                        Type::Named { name, .. } => name.as_str(),
                                        _ => "a base type",
                                    };
                                    return Err(self.error(
                                        fi,
                                        t.span,
                                        format!(
                                            "`{}` throws `{}` ({ty}), which is not an exception",
                                            func.name, t.name
                                        ),
                                    ));
                                }
                            }
                            if func.oneway && (func.ret.is_some() || !func.throws.is_empty()) {
                                return Err(self.error(
                                    fi,
                                    func.span,
                                    format!(
                                        "oneway `{}` must return void and throw nothing",
                                        func.name
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// No two fields of one list share an id or a name.
    fn check_fields(&self, file: usize, fields: &[Field]) -> Result<(), Error> {
        let (mut ids, mut names) = (HashSet::new(), HashSet::new());
        for f in fields {
            if !ids.insert(f.id) || !names.insert(f.name.as_str()) {
                return Err(self.error(
                    file,
                    f.span,
                    format!("\"{}: {}\": field id or name already used", f.id, f.name),
                ));
            }
        }
        Ok(())
    }

    /// Method names are unique in a service and the services it extends
    /// (they are what goes on the wire); argument and exception lists are
    /// checked as fields.
    fn check_methods(&self, file: usize, svc: &Service) -> Result<(), Error> {
        let mut names = HashSet::new();
        for f in &svc.functions {
            if !names.insert(f.name.as_str()) {
                return Err(self.error(
                    file,
                    f.span,
                    format!("method `{}` is already defined", f.name),
                ));
            }
            self.check_fields(file, &f.args)?;
            self.check_fields(file, &f.throws)?;
        }
        let mut base = self.base_service(file, svc)?;
        let mut seen = HashSet::new();
        while let Some(b) = base {
            if !seen.insert(b) {
                return Err(self.error(file, svc.span, format!("`{}` extends itself", svc.name)));
            }
            let Definition::Service(bs) = self.def(b) else {
                break;
            };
            if let Some(f) = svc
                .functions
                .iter()
                .find(|f| bs.functions.iter().any(|g| g.name == f.name))
            {
                return Err(self.error(
                    file,
                    f.span,
                    format!("method `{}` is already defined in `{}`", f.name, bs.name),
                ));
            }
            base = self.base_service(b.file, bs)?;
        }
        Ok(())
    }

    /// Works out hashability and boxing.
    fn analyse(&mut self) -> Result<(), Error> {
        let mut fields: HashMap<DefId, Vec<Ty>> = HashMap::new();
        for (fi, file) in self.files.iter().enumerate() {
            for (index, def) in file.doc.definitions.iter().enumerate() {
                if let Definition::Struct(s) = def {
                    let tys = s
                        .fields
                        .iter()
                        .map(|f| self.resolve(fi, &f.ty))
                        .collect::<Result<Vec<_>, _>>()?;
                    fields.insert(DefId { file: fi, index }, tys);
                }
            }
        }
        // Hashable: the greatest fixpoint (a struct that refers to itself is
        // hashable if all else in it is).
        self.hashable = fields.keys().map(|&id| (id, true)).collect();
        loop {
            let mut changed = false;
            for (id, tys) in &fields {
                if self.hashable[id] && !tys.iter().all(|t| self.is_hashable(t)) {
                    self.hashable.insert(*id, false);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // Reachability through direct (unboxed, uncontained) struct fields.
        let edges: HashMap<DefId, Vec<DefId>> = fields
            .iter()
            .map(|(id, tys)| {
                let out = tys
                    .iter()
                    .filter_map(|t| match t {
                        Ty::Struct(s) => Some(*s),
                        _ => None,
                    })
                    .collect();
                (*id, out)
            })
            .collect();
        for &start in edges.keys() {
            let mut seen = HashSet::new();
            let mut stack = edges[&start].clone();
            while let Some(n) = stack.pop() {
                if seen.insert(n) {
                    stack.extend(edges.get(&n).into_iter().flatten().copied());
                }
            }
            self.reach.insert(start, seen);
        }
        Ok(())
    }
}

fn resolve_error(path: &Path, span: Span, message: String) -> Error {
    Error::Resolve {
        path: path.to_path_buf(),
        line: span.line,
        column: span.column,
        message,
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads and parses `path` unless already loaded; returns its index.
fn load_file(
    path: &Path,
    files: &mut Vec<IdlFile>,
    by_canon: &mut HashMap<PathBuf, usize>,
    queue: &mut Vec<usize>,
) -> Result<usize, Error> {
    let canon = path.canonicalize().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(&idx) = by_canon.get(&canon) {
        return Ok(idx);
    }
    let src = read_bounded(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let doc = parser::parse(&src).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.span.line,
        column: e.span.column,
        message: e.message,
    })?;
    let stem = file_stem(path);
    let idx = files.len();
    files.push(IdlFile {
        path: path.to_path_buf(),
        stem,
        doc,
        includes: HashMap::new(),
    });
    by_canon.insert(canon, idx);
    queue.push(idx);
    Ok(idx)
}

/// Reads a file of at most [`crate::MAX_FILE_BYTES`] as UTF-8.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut src = String::new();
    file.take(crate::MAX_FILE_BYTES + 1)
        .read_to_string(&mut src)?;
    if src.len() as u64 > crate::MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} bytes", crate::MAX_FILE_BYTES),
        ));
    }
    Ok(src)
}
