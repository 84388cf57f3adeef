//! Structs, exceptions and unions, with their `Message` impls.
//!
//! - `required` fields are `T`, checked on decode (`Error::MissingField`);
//! - default-requiredness fields are `T`, filled with their default (or
//!   `Default::default()`) when absent;
//! - `optional` fields are `Option<T>`, written only when `Some`;
//! - a field whose struct can reach back to its owner without a container in
//!   between is `Option<Box<T>>` whatever its requiredness (a `required` one
//!   is still checked on decode), as Go's pointers behave;
//! - unions are Rust enums with one variant per field plus `Unset` (nothing
//!   this code knows was on the wire);
//! - exceptions are structs that implement `Display` and `std::error::Error`.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::repr::Repr;
use super::wire::Val;
use super::{GResult, Generator, doc_attrs, doc_or, idl_doc_attrs, idl_type, int_literal};
use crate::model::{Field, Requiredness, StructKind, StructLike};
use crate::names;
use crate::program::{DefId, Ty};

/// A field ready for generation.
pub(crate) struct FieldGen<'f> {
    field: &'f Field,
    ty: Ty,
    /// The type as declared (no `Option`, no `Box`).
    rust_ty: TokenStream,
    boxed: bool,
    /// How the value is held (`pilota.rust_type`).
    repr: Repr,
    ident: Ident,
    /// The decode local's name (the field's, unless it would hide `r`).
    local: Ident,
}

impl FieldGen<'_> {
    /// Whether the Rust field is an `Option`.
    fn is_option(&self) -> bool {
        self.boxed || self.field.req == Requiredness::Optional
    }

    /// The Rust field's type.
    fn field_type(&self) -> TokenStream {
        let t = &self.rust_ty;
        match (self.boxed, self.is_option()) {
            (true, _) => quote!(Option<Box<#t>>),
            (false, true) => quote!(Option<#t>),
            (false, false) => quote!(#t),
        }
    }
}

/// What a struct-like item is made of; service argument and result structs
/// are built the same way.
pub(crate) struct StructGen<'f> {
    pub(crate) ident: Ident,
    /// The name given to `write_struct_begin` (the IDL's, or Apache's
    /// `method_args` / `method_result`).
    pub(crate) wire_name: String,
    pub(crate) kind: StructKind,
    pub(crate) doc: TokenStream,
    pub(crate) fields: Vec<FieldGen<'f>>,
}

impl Generator<'_> {
    /// Prepares the fields of a struct owned by `owner` (`None` for the
    /// synthetic argument and result structs, which nothing refers to),
    /// with their Rust names from [`crate::naming`].
    pub(crate) fn field_gens<'f>(
        &self,
        owner: Option<DefId>,
        fields: &'f [Field],
        rust_names: &[String],
    ) -> GResult<Vec<FieldGen<'f>>> {
        if owner.is_none() {
            self.warn_unused_repr(fields);
        }
        fields
            .iter()
            .zip(rust_names)
            .map(|(field, name)| {
                let ty = self.program.resolve(self.file, &field.ty)?;
                let boxed = owner.is_some_and(|o| self.program.needs_box(o, &ty));
                let ident = names::ident(name);
                // The decode local may not hide the reader `r` or the
                // `field` header, nor take another field's name.
                let mut local = name.clone();
                while local == "r"
                    || local == "field"
                    || (local != *name && rust_names.contains(&local))
                {
                    local.push('_');
                }
                let local = if local == *name {
                    ident.clone()
                } else {
                    names::ident(&local)
                };
                let repr = match owner {
                    Some(_) => self.field_repr(self.file, field, &ty)?,
                    None => Repr::Default,
                };
                let rust_ty = match repr {
                    Repr::Default => self.rust_type(&field.ty)?,
                    _ => self.repr_type(&ty, repr),
                };
                Ok(FieldGen {
                    field,
                    rust_ty,
                    ty,
                    boxed,
                    repr,
                    ident,
                    local,
                })
            })
            .collect()
    }

    /// A struct, union or exception declared in the IDL.
    pub(crate) fn struct_item(&self, id: DefId, s: &StructLike) -> GResult {
        let what = match s.kind {
            StructKind::Struct => "struct",
            StructKind::Union => "union",
            StructKind::Exception => "exception",
        };
        let g = StructGen {
            ident: self.item_ident(id),
            wire_name: s.name.clone(),
            kind: s.kind,
            doc: doc_or(&s.doc, || format!("The Thrift {what} `{}`.", s.name)),
            fields: self.field_gens(Some(id), &s.fields, self.program.naming().members(id))?,
        };
        self.struct_like(&g)
    }

    /// The type and its impls.
    pub(crate) fn struct_like(&self, g: &StructGen<'_>) -> GResult {
        let hashable = g.fields.iter().all(|f| self.program.is_hashable(&f.ty));
        let eq_hash = hashable.then(|| quote!(Eq, Hash,));
        if g.kind == StructKind::Union {
            return self.union_item(g, eq_hash);
        }
        let ident = &g.ident;
        let doc = &g.doc;
        let has_defaults = g.fields.iter().any(|f| f.field.default.is_some());
        let derive_default = (!has_defaults).then(|| quote!(Default,));
        let fields = g.fields.iter().map(|f| {
            let doc = field_doc(f.field);
            let name = &f.ident;
            let ty = f.field_type();
            quote! {
                #doc
                pub #name: #ty,
            }
        });
        let default_impl = if has_defaults {
            let inits = g
                .fields
                .iter()
                .map(|f| {
                    let name = &f.ident;
                    let value = match &f.field.default {
                        Some(d) => {
                            let v = self.const_expr(self.file, &f.ty, d, f.field.span, f.repr)?;
                            match (f.boxed, f.is_option()) {
                                (true, _) => quote!(Some(Box::new(#v))),
                                (false, true) => quote!(Some(#v)),
                                (false, false) => v,
                            }
                        }
                        None => quote!(Default::default()),
                    };
                    Ok(quote!(#name: #value,))
                })
                .collect::<GResult<Vec<_>>>()?;
            quote! {
                impl Default for #ident {
                    fn default() -> Self {
                        Self { #(#inits)* }
                    }
                }
            }
        } else {
            quote!()
        };
        let message = self.struct_message(g)?;
        let error_impls = (g.kind == StructKind::Exception).then(|| {
            let format = format!("{} {{:?}}", g.wire_name);
            quote! {
                impl ::std::fmt::Display for #ident {
                    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, #format, self)
                    }
                }

                impl ::std::error::Error for #ident {}
            }
        });
        Ok(quote! {
            #doc
            #[derive(Debug, Clone, PartialEq, #eq_hash #derive_default)]
            pub struct #ident {
                #(#fields)*
            }

            #default_impl
            #message
            #error_impls
        })
    }

    fn struct_message(&self, g: &StructGen<'_>) -> GResult {
        let ident = &g.ident;
        let wire_name = &g.wire_name;
        let writes = g.fields.iter().map(|f| {
            let id = int_literal(f.field.id.into());
            let tt = self.ttype(&f.ty);
            let name = &f.ident;
            if f.is_option() {
                let body = self.write_value(&f.ty, &Val::by_ref(quote!(value)), 0, f.repr);
                quote! {
                    if let Some(value) = &self.#name {
                        w.write_field_begin(#tt, #id);
                        #body
                        w.write_field_end();
                    }
                }
            } else {
                let body = self.write_value(&f.ty, &Val::place(quote!(self.#name)), 0, f.repr);
                quote! {
                    w.write_field_begin(#tt, #id);
                    #body
                    w.write_field_end();
                }
            }
        });
        let locals = g.fields.iter().map(|f| {
            let local = &f.local;
            quote!(let mut #local = None;)
        });
        let arms = g.fields.iter().map(|f| {
            let id = int_literal(f.field.id.into());
            let tt = self.ttype(&f.ty);
            let local = &f.local;
            let read = self.read_value(&f.ty, 0, f.repr);
            let read = if f.boxed {
                quote!(Box::new(#read))
            } else {
                read
            };
            quote!((#id, #tt) => #local = Some(#read),)
        });
        let inits = g
            .fields
            .iter()
            .map(|f| {
                let name = &f.ident;
                let local = &f.local;
                let field_name = &f.field.name;
                let missing = quote! {
                    codec::Error::MissingField {
                        name: #wire_name,
                        field: #field_name,
                    }
                };
                let value = match (f.field.req, &f.field.default) {
                    (Requiredness::Required, _) if f.is_option() => {
                        quote!(Some(#local.ok_or(#missing)?))
                    }
                    (Requiredness::Required, _) => quote!(#local.ok_or(#missing)?),
                    _ if f.is_option() => {
                        if *name == *local {
                            return Ok(quote!(#name,));
                        }
                        quote!(#local)
                    }
                    (_, Some(d)) => {
                        let v = self.const_expr(self.file, &f.ty, d, f.field.span, f.repr)?;
                        if is_scalar(&f.ty) {
                            quote!(#local.unwrap_or(#v))
                        } else {
                            quote!(#local.unwrap_or_else(|| #v))
                        }
                    }
                    (_, None) => quote!(#local.unwrap_or_default()),
                };
                Ok(quote!(#name: #value,))
            })
            .collect::<GResult<Vec<_>>>()?;
        Ok(quote! {
            impl thrift::Message for #ident {
                fn encode<W: thrift::ProtocolWriter>(&self, w: &mut W) {
                    w.write_struct_begin(#wire_name);
                    #(#writes)*
                    w.write_field_stop();
                    w.write_struct_end();
                }

                fn decode<R: thrift::ProtocolReader>(r: &mut R) -> codec::Result<Self> {
                    #(#locals)*
                    r.read_struct_begin()?;
                    loop {
                        let field = r.read_field_begin()?;
                        match (field.id, field.ttype) {
                            (_, thrift::TType::Stop) => break,
                            #(#arms)*
                            (_, ttype) => r.skip(ttype)?,
                        }
                        r.read_field_end()?;
                    }
                    r.read_struct_end()?;
                    Ok(Self { #(#inits)* })
                }
            }
        })
    }

    fn union_item(&self, g: &StructGen<'_>, eq_hash: Option<TokenStream>) -> GResult {
        let ident = &g.ident;
        let doc = &g.doc;
        let wire_name = &g.wire_name;
        // A union's fields are named as variants (see `field_gens`).
        let variants: Vec<Ident> = g.fields.iter().map(|f| f.ident.clone()).collect();
        let mut unset = format_ident!("Unset");
        while variants.contains(&unset) {
            unset = format_ident!("{}_", unset);
        }
        let decls = g.fields.iter().zip(&variants).map(|(f, v)| {
            let doc = field_doc(f.field);
            let t = &f.rust_ty;
            let t = if f.boxed { quote!(Box<#t>) } else { quote!(#t) };
            quote! {
                #doc
                #v(#t),
            }
        });
        let writes = g.fields.iter().zip(&variants).map(|(f, v)| {
            let id = int_literal(f.field.id.into());
            let tt = self.ttype(&f.ty);
            let body = self.write_value(&f.ty, &Val::by_ref(quote!(value)), 0, f.repr);
            quote! {
                #ident::#v(value) => {
                    w.write_field_begin(#tt, #id);
                    #body
                    w.write_field_end();
                }
            }
        });
        let arms = g.fields.iter().zip(&variants).map(|(f, v)| {
            let id = int_literal(f.field.id.into());
            let tt = self.ttype(&f.ty);
            let read = self.read_value(&f.ty, 0, f.repr);
            let read = if f.boxed {
                quote!(Box::new(#read))
            } else {
                read
            };
            quote!((#id, #tt) => value = #ident::#v(#read),)
        });
        Ok(quote! {
            #doc
            #[derive(Debug, Clone, PartialEq, #eq_hash Default)]
            pub enum #ident {
                #(#decls)*
                /// No variant this code knows was set: an empty union, or one
                /// holding only fields added to the IDL later. Encodes as an
                /// empty struct.
                #[default]
                #unset,
            }

            impl thrift::Message for #ident {
                fn encode<W: thrift::ProtocolWriter>(&self, w: &mut W) {
                    w.write_struct_begin(#wire_name);
                    match self {
                        #(#writes)*
                        #ident::#unset => {}
                    }
                    w.write_field_stop();
                    w.write_struct_end();
                }

                fn decode<R: thrift::ProtocolReader>(r: &mut R) -> codec::Result<Self> {
                    let mut value = #ident::#unset;
                    r.read_struct_begin()?;
                    loop {
                        let field = r.read_field_begin()?;
                        match (field.id, field.ttype) {
                            (_, thrift::TType::Stop) => break,
                            #(#arms)*
                            (_, ttype) => r.skip(ttype)?,
                        }
                        r.read_field_end()?;
                    }
                    r.read_struct_end()?;
                    Ok(value)
                }
            }
        })
    }
}

/// A field's doc: the IDL's, or its declaration.
fn field_doc(f: &Field) -> TokenStream {
    match &f.doc {
        Some(d) => idl_doc_attrs(d),
        None => {
            let req = match f.req {
                Requiredness::Required => "required ",
                Requiredness::Optional => "optional ",
                Requiredness::Default => "",
            };
            doc_attrs(&format!(
                "Field `{}: {req}{} {}`.",
                f.id,
                idl_type(&f.ty),
                f.name
            ))
        }
    }
}

/// Whether a type is a `Copy` scalar (its default is cheap to build eagerly).
fn is_scalar(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Bool | Ty::I8 | Ty::I16 | Ty::I32 | Ty::I64 | Ty::Double | Ty::Enum(_) | Ty::Uuid
    )
}
