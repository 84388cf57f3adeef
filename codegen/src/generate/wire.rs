//! The statements that write one value and the expressions that read one,
//! for every type. Apache Thrift's order: a container's header (element
//! types and count), its elements, its end; a struct's `encode` / `decode`.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::Generator;
use super::repr::Repr;
use crate::program::Ty;

/// A value to write: either a place of type `T` (`self.x`) or an
/// expression of type `&T` (a loop variable).
#[derive(Clone)]
pub(crate) struct Val {
    pub(crate) expr: TokenStream,
    pub(crate) by_ref: bool,
}

impl Val {
    /// A place of the value's own type, such as `self.x`.
    pub(crate) fn place(expr: TokenStream) -> Self {
        Self {
            expr,
            by_ref: false,
        }
    }

    /// An expression of reference type, such as a loop variable.
    pub(crate) fn by_ref(expr: TokenStream) -> Self {
        Self { expr, by_ref: true }
    }

    /// The value as `&T`.
    fn as_ref(&self) -> TokenStream {
        let e = &self.expr;
        if self.by_ref { quote!(#e) } else { quote!(&#e) }
    }

    /// The value as `T`, for `Copy` types.
    fn copied(&self) -> TokenStream {
        let e = &self.expr;
        if self.by_ref { quote!(*#e) } else { quote!(#e) }
    }
}

/// A name for a temporary at nesting depth `depth` (`item`, `item1`, ...).
fn temp(base: &str, depth: usize) -> Ident {
    if depth == 0 {
        format_ident!("{}", base)
    } else {
        format_ident!("{}{}", base, depth)
    }
}

impl Generator<'_> {
    /// Statements writing `val` of type `ty`, held in `repr`, with writer
    /// `w`.
    pub(crate) fn write_value(&self, ty: &Ty, val: &Val, depth: usize, repr: Repr) -> TokenStream {
        let e = &val.expr;
        match ty {
            Ty::Binary if repr == Repr::Vec => {
                let v = val.as_ref();
                quote!(w.write_binary(#v);)
            }
            Ty::Bool => {
                let v = val.copied();
                quote!(w.write_bool(#v);)
            }
            Ty::I8 => {
                let v = val.copied();
                quote!(w.write_i8(#v);)
            }
            Ty::I16 => {
                let v = val.copied();
                quote!(w.write_i16(#v);)
            }
            Ty::I32 => {
                let v = val.copied();
                quote!(w.write_i32(#v);)
            }
            Ty::I64 => {
                let v = val.copied();
                quote!(w.write_i64(#v);)
            }
            Ty::Double => {
                let v = val.copied();
                quote!(w.write_double(#v);)
            }
            Ty::String if repr == Repr::String => {
                let v = val.as_ref();
                quote!(w.write_string(#v);)
            }
            // A `Utf8Bytes`: written by reference count, so a large string
            // is linked into the write, not copied.
            Ty::String => {
                let v = val.as_ref();
                quote!(w.write_utf8(#v);)
            }
            // A clone of `Bytes` is a reference-count increment; the writer
            // links large buffers instead of copying them.
            Ty::Binary => quote!(w.write_bytes(#e.clone());),
            Ty::Uuid => {
                let v = val.as_ref();
                quote!(w.write_uuid(#v);)
            }
            Ty::Enum(_) => quote!(w.write_i32(#e.0);),
            Ty::Struct(_) => quote!(#e.encode(w);),
            Ty::List(t) | Ty::Set(t) => {
                let (begin, end) = if matches!(ty, Ty::List(_)) {
                    (quote!(write_list_begin), quote!(write_list_end))
                } else {
                    (quote!(write_set_begin), quote!(write_set_end))
                };
                let elem_t = self.ttype(t);
                let item = temp("item", depth);
                let inner =
                    self.write_value(t, &Val::by_ref(quote!(#item)), depth + 1, repr.inner());
                let coll = val.as_ref();
                quote! {
                    w.#begin(#elem_t, #e.len());
                    for #item in #coll {
                        #inner
                    }
                    w.#end();
                }
            }
            Ty::Map(k, v) => {
                let (kt, vt) = (self.ttype(k), self.ttype(v));
                let key = temp("key", depth);
                let value = temp("value", depth);
                let wk = self.write_value(k, &Val::by_ref(quote!(#key)), depth + 1, repr.inner());
                let wv = self.write_value(v, &Val::by_ref(quote!(#value)), depth + 1, repr.inner());
                let coll = val.as_ref();
                quote! {
                    w.write_map_begin(#kt, #vt, #e.len());
                    for (#key, #value) in #coll {
                        #wk
                        #wv
                    }
                    w.write_map_end();
                }
            }
        }
    }

    /// An expression reading a value of type `ty`, held in `repr`, from
    /// reader `r` (propagating errors with `?`).
    pub(crate) fn read_value(&self, ty: &Ty, depth: usize, repr: Repr) -> TokenStream {
        match ty {
            Ty::String if repr == Repr::String => {
                quote!(::std::string::String::from(r.read_string()?.as_str()))
            }
            Ty::Binary if repr == Repr::Vec => quote!(r.read_binary()?.to_vec()),
            Ty::Bool => quote!(r.read_bool()?),
            Ty::I8 => quote!(r.read_i8()?),
            Ty::I16 => quote!(r.read_i16()?),
            Ty::I32 => quote!(r.read_i32()?),
            Ty::I64 => quote!(r.read_i64()?),
            Ty::Double => quote!(r.read_double()?),
            Ty::String => quote!(r.read_string()?),
            Ty::Binary => quote!(r.read_binary()?),
            Ty::Uuid => quote!(r.read_uuid()?),
            Ty::Enum(id) => {
                let path = self.type_path(*id);
                quote!(#path(r.read_i32()?))
            }
            Ty::Struct(id) => {
                let path = self.type_path(*id);
                quote!(<#path as thrift::Message>::decode(r)?)
            }
            Ty::List(t) | Ty::Set(t) => {
                let (begin, end) = if matches!(ty, Ty::List(_)) {
                    (quote!(read_list_begin), quote!(read_list_end))
                } else {
                    (quote!(read_set_begin), quote!(read_set_end))
                };
                let header = temp("list", depth);
                let out = temp("items", depth);
                let inner = self.read_value(t, depth + 1, repr.inner());
                let (new, add) = if matches!(ty, Ty::Set(_)) && repr == Repr::BTree {
                    (
                        quote!(::std::collections::BTreeSet::new()),
                        quote!(#out.insert(#inner);),
                    )
                } else {
                    (
                        quote!(Vec::with_capacity(#header.len)),
                        quote!(#out.push(#inner);),
                    )
                };
                quote! {{
                    let #header = r.#begin()?;
                    let mut #out = #new;
                    for _ in 0..#header.len {
                        #add
                    }
                    r.#end()?;
                    #out
                }}
            }
            Ty::Map(k, v) => {
                let header = temp("map", depth);
                let out = temp("entries", depth);
                let key = temp("key", depth);
                let value = temp("value", depth);
                let rk = self.read_value(k, depth + 1, repr.inner());
                let rv = self.read_value(v, depth + 1, repr.inner());
                let (new, add) = if repr == Repr::BTree {
                    (
                        quote!(::std::collections::BTreeMap::new()),
                        quote!(#out.insert(#key, #value);),
                    )
                } else if self.program.is_hashable(k) {
                    (
                        self.map_with_capacity(quote!(#header.len)),
                        quote!(#out.insert(#key, #value);),
                    )
                } else {
                    (
                        quote!(Vec::with_capacity(#header.len)),
                        quote!(#out.push((#key, #value));),
                    )
                };
                quote! {{
                    let #header = r.read_map_begin()?;
                    let mut #out = #new;
                    for _ in 0..#header.len {
                        let #key = #rk;
                        let #value = #rv;
                        #add
                    }
                    r.read_map_end()?;
                    #out
                }}
            }
        }
    }
}
