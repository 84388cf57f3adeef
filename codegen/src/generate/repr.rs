//! Type overrides by annotation: `pilota.rust_type` on a struct, union or
//! exception field picks another Rust type for the same wire type, with
//! the values pilota gives it (`pilota-build/src/resolve.rs`,
//! `modify_ty_by_tags`):
//!
//! - `"string"` on a `string` field: `String` instead of `Utf8Bytes` (an
//!   owned copy on decode);
//! - `"vec"` on a `binary` field: `Vec<u8>` instead of `bytes::Bytes`;
//! - `"btree"` on a field holding sets or maps, at any depth:
//!   `BTreeSet` and `BTreeMap` (sorted, and a set's duplicates dropped on
//!   decode); the elements and keys must be ordered types (not `double`,
//!   structs, unions or exceptions).
//!
//! `"ordered_f64"` (pilota's `OrderedFloat`, from a crate the generated
//! code does not depend on), unknown values, a value on a field of another
//! type, and the annotation on method arguments or typedefs are ignored
//! with a warning.

use proc_macro2::TokenStream;
use quote::quote;

use super::{GResult, Generator};
use crate::model::{Annotation, Field};
use crate::program::Ty;

/// The annotation keys: pilota's (`pilota-build/src/tags.rs`, `RustType`),
/// and ringrpc's own spelling.
pub(crate) const TYPE_KEYS: &[&str] = &["pilota.rust_type", "rust.type"];

/// How a field's value is held in Rust.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Repr {
    /// The default mapping (see the crate docs).
    #[default]
    Default,
    /// `String` for a `string`.
    String,
    /// `Vec<u8>` for a `binary`.
    Vec,
    /// `BTreeSet` / `BTreeMap` for every set and map inside.
    BTree,
}

impl Repr {
    /// What the elements of a container held in this repr are held in:
    /// `String` and `Vec` apply to the field's own value only, `BTree` to
    /// every container inside.
    pub(crate) fn inner(self) -> Repr {
        match self {
            Repr::BTree => Repr::BTree,
            _ => Repr::Default,
        }
    }
}

/// The type-override annotation among `annotations`, if any.
fn type_annotation(annotations: &[Annotation]) -> Option<&Annotation> {
    annotations
        .iter()
        .find(|a| TYPE_KEYS.contains(&a.key.as_str()))
}

/// Whether a set or map is inside `ty`.
fn holds_set_or_map(ty: &Ty) -> bool {
    match ty {
        Ty::Set(_) | Ty::Map(..) => true,
        Ty::List(t) => holds_set_or_map(t),
        _ => false,
    }
}

/// Whether values of `ty` are ordered (`Ord`) once every set and map in it
/// is a B-tree.
fn is_ordered(ty: &Ty) -> bool {
    match ty {
        Ty::Double | Ty::Struct(_) => false,
        Ty::List(t) | Ty::Set(t) => is_ordered(t),
        Ty::Map(k, v) => is_ordered(k) && is_ordered(v),
        _ => true,
    }
}

/// Whether every set element and map key inside `ty` is ordered.
fn keys_ordered(ty: &Ty) -> bool {
    match ty {
        Ty::List(t) => keys_ordered(t),
        Ty::Set(t) => is_ordered(t) && keys_ordered(t),
        Ty::Map(k, v) => is_ordered(k) && keys_ordered(k) && keys_ordered(v),
        _ => true,
    }
}

impl Generator<'_> {
    /// The repr a struct, union or exception field asks for, declared in
    /// `file`, of resolved type `ty`.
    pub(crate) fn field_repr(&self, file: usize, field: &Field, ty: &Ty) -> GResult<Repr> {
        let Some(a) = type_annotation(&field.annotations) else {
            return Ok(Repr::Default);
        };
        let ignored = |why: &str| {
            self.warn(
                file,
                field.span,
                format!(
                    "{} = {:?} on `{}` is ignored: {why}",
                    a.key, a.value, field.name
                ),
            );
            Ok(Repr::Default)
        };
        match (a.value.as_str(), ty) {
            ("string", Ty::String) => Ok(Repr::String),
            ("vec", Ty::Binary) => Ok(Repr::Vec),
            ("btree", t) if holds_set_or_map(t) => {
                if keys_ordered(t) {
                    Ok(Repr::BTree)
                } else {
                    Err(self.program.error(
                        file,
                        field.span,
                        format!(
                            "{} = \"btree\" on `{}`: its set elements and map keys must be \
                             ordered (not double, struct, union or exception)",
                            a.key, field.name
                        ),
                    ))
                }
            }
            ("string" | "vec" | "btree", _) => ignored("it does not apply to the field's type"),
            ("ordered_f64", _) => ignored("ringrpc-build has no ordered float type"),
            _ => ignored("unknown value (known: string, vec, btree)"),
        }
    }

    /// Warns about a type override where ringrpc-build does not apply one:
    /// method arguments and exceptions (the handler and client signatures
    /// keep the default types).
    pub(crate) fn warn_unused_repr(&self, fields: &[Field]) {
        for f in fields {
            if let Some(a) = type_annotation(&f.annotations) {
                self.warn(
                    self.file,
                    f.span,
                    format!(
                        "{} on `{}` is ignored: type overrides act on struct, union and \
                         exception fields only",
                        a.key, f.name
                    ),
                );
            }
        }
    }

    /// The Rust type of a resolved type held in `repr`.
    pub(crate) fn repr_type(&self, ty: &Ty, repr: Repr) -> TokenStream {
        match (ty, repr) {
            (Ty::String, Repr::String) => quote!(::std::string::String),
            (Ty::Binary, Repr::Vec) => quote!(Vec<u8>),
            (Ty::Bool, _) => quote!(bool),
            (Ty::I8, _) => quote!(i8),
            (Ty::I16, _) => quote!(i16),
            (Ty::I32, _) => quote!(i32),
            (Ty::I64, _) => quote!(i64),
            (Ty::Double, _) => quote!(f64),
            (Ty::String, _) => quote!(thrift::Utf8Bytes),
            (Ty::Binary, _) => quote!(::bytes::Bytes),
            (Ty::Uuid, _) => quote!([u8; 16]),
            (Ty::Enum(id) | Ty::Struct(id), _) => self.type_path(*id),
            (Ty::List(t), r) => {
                let t = self.repr_type(t, r.inner());
                quote!(Vec<#t>)
            }
            (Ty::Set(t), Repr::BTree) => {
                let t = self.repr_type(t, Repr::BTree);
                quote!(::std::collections::BTreeSet<#t>)
            }
            (Ty::Set(t), _) => {
                let t = self.repr_type(t, Repr::Default);
                quote!(Vec<#t>)
            }
            (Ty::Map(k, v), Repr::BTree) => {
                let (k, v) = (
                    self.repr_type(k, Repr::BTree),
                    self.repr_type(v, Repr::BTree),
                );
                quote!(::std::collections::BTreeMap<#k, #v>)
            }
            (Ty::Map(k, v), _) => {
                let hashable = self.program.is_hashable(k);
                let (k, v) = (
                    self.repr_type(k, Repr::Default),
                    self.repr_type(v, Repr::Default),
                );
                match (hashable, &self.opts.map_hasher) {
                    (true, Some(h)) => quote!(::std::collections::HashMap<#k, #v, #h>),
                    (true, None) => quote!(::std::collections::HashMap<#k, #v>),
                    (false, _) => quote!(Vec<(#k, #v)>),
                }
            }
        }
    }
}
