//! Reading `.proto` files with protox, and turning its errors into the
//! builder's: `Parse` for syntax, `Resolve` for files that parse but do not
//! check (unknown types, imports not found, names defined twice), `Io` for
//! files that cannot be read, each with the file, line and column protox
//! points at.

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use protox::prost_reflect::prost_types::FileDescriptorSet;

use crate::Error;

/// The files protox compiled.
pub(super) struct Loaded {
    /// Every file, imports included, each after the files it imports.
    pub(super) fds: FileDescriptorSet,
    /// Per file of `fds`, in the same order: where it came from.
    pub(super) files: Vec<ProtoFile>,
    /// Every file read from disk.
    pub(super) read: Vec<PathBuf>,
}

/// One compiled file.
pub(super) struct ProtoFile {
    /// Its path on disk, or its name for a bundled file
    /// (`google/protobuf/timestamp.proto`).
    pub(super) path: PathBuf,
}

/// Compiles `roots` and everything they import. Imports are searched in
/// `include_dirs`, then in each root's folder, then among the bundled
/// `google/protobuf/*.proto`.
pub(super) fn load(roots: &[PathBuf], include_dirs: &[PathBuf]) -> Result<Loaded, Error> {
    let mut includes = Includes::default();
    for dir in include_dirs
        .iter()
        .cloned()
        .chain(roots.iter().map(|r| match r.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }))
    {
        includes.add(dir)?;
    }
    let absolute_dirs: Vec<&PathBuf> = includes.0.iter().map(|(abs, _)| abs).collect();
    let mut compiler = protox::Compiler::new(absolute_dirs).map_err(|e| convert(e, &includes))?;
    compiler.include_imports(true).include_source_info(true);
    for root in roots {
        if !root.is_file() {
            return Err(Error::Io {
                path: root.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        compiler
            .open_file(absolute(root)?)
            .map_err(|e| convert(e, &includes))?;
    }
    let files: Vec<ProtoFile> = compiler
        .files()
        .map(|f| ProtoFile {
            path: f
                .path()
                .map_or_else(|| PathBuf::from(f.name()), |p| includes.shown(p)),
        })
        .collect();
    let read = compiler
        .files()
        .filter_map(|f| f.path().map(|p| includes.shown(p)))
        .collect();
    let fds = compiler.file_descriptor_set();
    debug_assert_eq!(fds.file.len(), files.len());
    Ok(Loaded { fds, files, read })
}

/// The include folders, each absolute (protox matches a root to its folder
/// by comparing path components, so both are made absolute, without
/// touching links) and as given (to show paths as the user spelled them).
#[derive(Default)]
struct Includes(Vec<(PathBuf, PathBuf)>);

impl Includes {
    fn add(&mut self, dir: PathBuf) -> Result<(), Error> {
        let abs = absolute(&dir)?;
        if !self.0.iter().any(|(a, _)| *a == abs) {
            self.0.push((abs, dir));
        }
        Ok(())
    }

    /// `path` (absolute, in an include folder) as the folder was given:
    /// `idl/greeter.proto` rather than `/home/.../idl/greeter.proto`.
    fn shown(&self, path: &Path) -> PathBuf {
        self.0
            .iter()
            .find_map(|(abs, given)| {
                let rest = path.strip_prefix(abs).ok()?;
                Some(if given == Path::new(".") {
                    rest.to_path_buf()
                } else {
                    given.join(rest)
                })
            })
            .unwrap_or_else(|| path.to_path_buf())
    }

    /// The file protox calls `name`, as found in the first folder that has
    /// it.
    fn find(&self, name: &str) -> Option<PathBuf> {
        self.0
            .iter()
            .map(|(abs, _)| abs.join(name))
            .find(|p| p.is_file())
            .map(|p| self.shown(&p))
    }
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The builder's error for protox's: the file (found again in the include
/// folders, as protox names files relative to them), and the line and
/// column of its last label (the second of two definitions, the unknown
/// name, the bad token), or of the end of the file for an unexpected end.
fn convert(e: protox::Error, includes: &Includes) -> Error {
    let message = e.to_string();
    let Some(name) = e.file().map(str::to_owned) else {
        // A root outside every include folder, or a resolver's own error.
        return Error::InvalidOption { message };
    };
    let path = includes.find(&name).unwrap_or_else(|| PathBuf::from(&name));
    if e.is_io() {
        return Error::Io {
            path,
            source: std::io::Error::other(message),
        };
    }
    let (line, column) = position(&e, &path);
    if e.is_parse() {
        Error::Parse {
            path,
            line,
            column,
            message,
        }
    } else {
        Error::Resolve {
            path,
            line,
            column,
            message,
        }
    }
}

/// The 1-based line and column `e` points at in `path`.
fn position(e: &protox::Error, path: &Path) -> (usize, usize) {
    let label = e.labels().and_then(|labels| labels.last());
    if let (Some(label), Some(source)) = (&label, e.source_code())
        && let Ok(span) = source.read_span(label.inner(), 0, 0)
    {
        return (span.line() + 1, span.column() + 1);
    }
    if label.is_none() && e.is_parse() {
        // Parse errors without a label are the file ending too soon.
        if let Ok(text) = std::fs::read_to_string(path) {
            return end_of(&text);
        }
    }
    (1, 1)
}

/// The line and column just past the last character of `text`.
fn end_of(text: &str) -> (usize, usize) {
    let line = text.lines().count().max(1);
    match text.lines().last() {
        Some(_) if text.ends_with('\n') => (line + 1, 1),
        Some(last) => (line, last.chars().count() + 1),
        None => (1, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::end_of;

    #[test]
    fn end_of_text() {
        assert_eq!(end_of(""), (1, 1));
        assert_eq!(end_of("ab"), (1, 3));
        assert_eq!(end_of("ab\n"), (2, 1));
        assert_eq!(end_of("a\nbcd"), (2, 4));
    }
}
