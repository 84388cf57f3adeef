//! The program the generator works on: the IDL files as
//! [`ringrpc_thrift_idl`] loads and resolves them, plus what only
//! generation needs: each file's Rust module and the Rust name of every
//! IDL name ([`crate::naming`]).
//!
//! [`Program`] dereferences to the resolved
//! [`ringrpc_thrift_idl::program::Program`], so its files, definitions and
//! type facts are read through it.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};

pub use ringrpc_thrift_idl::program::{ConstRef, DefId, IdlFile, Ty};

use crate::Error;
use crate::model::Span;
use crate::naming::{self, Naming};

/// Every IDL file reachable from the roots, resolved, with the Rust module
/// of each and the Rust names of everything in them.
#[derive(Debug)]
pub struct Program {
    idl: ringrpc_thrift_idl::program::Program,
    /// Per file: its module path from the root of the module tree.
    modules: Vec<Vec<String>>,
    naming: Naming,
}

impl Deref for Program {
    type Target = ringrpc_thrift_idl::program::Program;
    fn deref(&self) -> &Self::Target {
        &self.idl
    }
}

impl Program {
    /// Reads `roots` and everything they include (searched next to the
    /// including file, then in `include_dirs`), resolves every name, and
    /// names every file's module after its stem (`snake_case`).
    pub fn load(roots: &[PathBuf], include_dirs: &[PathBuf]) -> Result<Program, Error> {
        let idl = ringrpc_thrift_idl::program::Program::load(roots, include_dirs)?;
        let modules = idl
            .files
            .iter()
            .map(|f| vec![naming::convert(naming::Case::Snake, &f.stem)])
            .collect();
        let mut program = Program {
            idl,
            modules,
            naming: Naming::default(),
        };
        program.check_modules()?;
        program.naming = Naming::new(&program)?;
        Ok(program)
    }

    /// The Rust module of `file`, from the root of the module tree:
    /// `snake_case` of the stem (`thrift_test`), or with
    /// [`Program::place_by_namespace`] the `namespace rs` path
    /// (`example::shop::item`).
    pub fn module(&self, file: usize) -> String {
        self.module_path(file).join("::")
    }

    /// [`module`](Self::module)'s segments.
    pub fn module_path(&self, file: usize) -> &[String] {
        self.modules.get(file).map_or(&[], Vec::as_slice)
    }

    /// Places each file that declares `namespace rs a.b.c` at module path
    /// `a::b::c` (each segment in `snake_case`; `codec`, `thrift` and
    /// `engine` below the top get a trailing `_`, as the generated imports
    /// use those names). Files without one keep their stem's module.
    pub fn place_by_namespace(&mut self) -> Result<(), Error> {
        for (f, module) in self.idl.files.iter().zip(&mut self.modules) {
            let Some(ns) = f.doc.namespaces.iter().find(|n| n.scope == "rs") else {
                continue;
            };
            *module = ns
                .name
                .split('.')
                .enumerate()
                .map(|(i, seg)| {
                    let mut m = naming::convert(naming::Case::Snake, seg);
                    if i > 0 && ["codec", "thrift", "engine"].contains(&m.as_str()) {
                        m.push('_');
                    }
                    m
                })
                .collect();
        }
        self.check_modules()
    }

    /// Two files may not share a module.
    fn check_modules(&self) -> Result<(), Error> {
        let mut modules: HashMap<String, &Path> = HashMap::new();
        for (i, f) in self.idl.files.iter().enumerate() {
            let module = self.module(i);
            if let Some(other) = modules.insert(module.clone(), &f.path) {
                return Err(self.error(
                    i,
                    Span { line: 1, column: 1 },
                    format!(
                        "this file and {} would both become module `{module}`",
                        other.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The Rust names of everything in the program.
    pub(crate) fn naming(&self) -> &Naming {
        &self.naming
    }

    /// A resolution error in `file` at `span`.
    pub fn error(&self, file: usize, span: Span, message: impl Into<String>) -> Error {
        self.idl.error(file, span, message).into()
    }
}
