//! Constants, default values, typedefs and enums.
//!
//! A constant of a scalar, `string`, `binary`, `uuid` or enum type is a
//! `pub const`; one of a container or struct type is a
//! `pub static NAME: LazyLock<T>`, built on first use. References to other
//! constants are inlined (so a `const` may name a `static`'s value), and
//! every integer is checked to fit its type.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::repr::Repr;
use super::{GResult, Generator, doc_or, int_literal};
use crate::model::{Const, ConstValue, Definition, Enum, Requiredness, Span, StructKind, Typedef};
use crate::program::{ConstRef, DefId, Ty};

/// How deep constants may refer to constants before it is called a loop.
const MAX_CONST_DEPTH: usize = 64;

impl Generator<'_> {
    /// `pub const` or `pub static ... LazyLock`.
    pub(crate) fn const_item(&self, id: DefId, c: &Const) -> GResult {
        let ty = self.program.resolve(self.file, &c.ty)?;
        let rust_ty = self.rust_type(&c.ty)?;
        let name = self.item_ident(id);
        let value = self.const_expr(self.file, &ty, &c.value, c.span, Repr::Default)?;
        let doc = doc_or(&c.doc, || format!("The Thrift constant `{}`.", c.name));
        let const_able = matches!(
            ty,
            Ty::Bool
                | Ty::I8
                | Ty::I16
                | Ty::I32
                | Ty::I64
                | Ty::Double
                | Ty::String
                | Ty::Binary
                | Ty::Uuid
                | Ty::Enum(_)
        );
        Ok(if const_able {
            quote! {
                #doc
                pub const #name: #rust_ty = #value;
            }
        } else {
            quote! {
                #doc
                pub static #name: ::std::sync::LazyLock<#rust_ty> =
                    ::std::sync::LazyLock::new(|| #value);
            }
        })
    }

    /// `pub type Name = T;`
    pub(crate) fn typedef_item(&self, id: DefId, t: &Typedef) -> GResult {
        let name = self.item_ident(id);
        let ty = self.rust_type(&t.ty)?;
        let doc = doc_or(&t.doc, || format!("The Thrift typedef `{}`.", t.name));
        Ok(quote! {
            #doc
            pub type #name = #ty;
        })
    }

    /// An enum: a newtype over `i32` with one associated constant per value,
    /// so a value this code does not know survives a decode and re-encode.
    pub(crate) fn enum_item(&self, id: DefId, e: &Enum) -> TokenStream {
        let ident = self.item_ident(id);
        let doc = doc_or(&e.doc, || format!("The Thrift enum `{}`.", e.name));
        let value_idents = self.member_idents(id);
        let consts = e.values.iter().zip(&value_idents).map(|(v, name)| {
            let n = int_literal(v.value.into());
            let doc = doc_or(&v.doc, || format!("`{} = {}`.", v.name, v.value));
            quote! {
                #doc
                pub const #name: Self = Self(#n);
            }
        });
        let all = &value_idents;
        let mut seen = std::collections::HashSet::new();
        let name_arms = e.values.iter().filter(|v| seen.insert(v.value)).map(|v| {
            let (n, s) = (int_literal(v.value.into()), &v.name);
            quote!(#n => Some(#s),)
        });
        let unknown = format!("{}({{}})", e.name);
        quote! {
            #doc
            #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
            pub struct #ident(pub i32);

            impl #ident {
                #(#consts)*

                /// Every declared value, in declaration order.
                pub const VALUES: &'static [Self] = &[#(Self::#all),*];

                /// The value's name in the IDL, or `None` for a number the IDL
                /// does not declare.
                pub fn name(self) -> Option<&'static str> {
                    match self.0 {
                        #(#name_arms)*
                        _ => None,
                    }
                }
            }

            impl ::std::fmt::Debug for #ident {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    match self.name() {
                        Some(name) => f.write_str(name),
                        None => write!(f, #unknown, self.0),
                    }
                }
            }

            impl ::std::convert::From<i32> for #ident {
                fn from(v: i32) -> Self {
                    Self(v)
                }
            }

            impl ::std::convert::From<#ident> for i32 {
                fn from(v: #ident) -> i32 {
                    v.0
                }
            }
        }
    }

    /// An expression of type `ty`, held in `repr`, for `value`, written in
    /// file `file`; `span` is where errors point.
    pub(crate) fn const_expr(
        &self,
        file: usize,
        ty: &Ty,
        value: &ConstValue,
        span: Span,
        repr: Repr,
    ) -> GResult {
        self.const_value(file, ty, value, span, (0, repr))
    }

    /// `at` is the depth of constants referring to constants, and the
    /// repr of the value.
    fn const_value(
        &self,
        file: usize,
        ty: &Ty,
        value: &ConstValue,
        span: Span,
        at: (usize, Repr),
    ) -> GResult {
        let (depth, repr) = at;
        let inner = (depth + 1, repr.inner());
        let mismatch = || {
            self.program.error(
                file,
                span,
                format!("constant {value:?} does not fit type {ty:?}"),
            )
        };
        if depth > MAX_CONST_DEPTH {
            return Err(self.program.error(file, span, "constant refers to itself"));
        }
        if let ConstValue::Identifier { name, span: at } = value {
            let found = self.program.find_const(file, name, *at);
            if let Some(v) = self.enum_value_by_field_type(file, ty, name, *at, &found) {
                return Ok(v);
            }
            return match found? {
                ConstRef::Const(id) => {
                    let Definition::Const(c) = self.program.def(id) else {
                        return Err(mismatch());
                    };
                    self.const_value(id.file, ty, &c.value, c.span, (depth + 1, repr))
                }
                ConstRef::EnumValue {
                    enum_id,
                    name,
                    value,
                } => match ty {
                    Ty::Enum(e) if *e == enum_id => Ok(self.enum_value_path(enum_id, &name)),
                    Ty::I8 | Ty::I16 | Ty::I32 | Ty::I64 => {
                        let v = ConstValue::Int(value.into());
                        self.const_value(file, ty, &v, *at, (depth + 1, repr))
                    }
                    _ => Err(mismatch()),
                },
            };
        }
        let int = |v: i64, min: i64, max: i64| {
            if v < min || v > max {
                return Err(self.program.error(
                    file,
                    span,
                    format!("constant {v} does not fit in {ty:?}"),
                ));
            }
            Ok(int_literal(v))
        };
        Ok(match (ty, value) {
            (Ty::Bool, ConstValue::Bool(b)) => quote!(#b),
            (Ty::Bool, ConstValue::Int(v @ (0 | 1))) => {
                let b = *v == 1;
                quote!(#b)
            }
            (Ty::I8, ConstValue::Int(v)) => int(*v, i8::MIN.into(), i8::MAX.into())?,
            (Ty::I16, ConstValue::Int(v)) => int(*v, i16::MIN.into(), i16::MAX.into())?,
            (Ty::I32, ConstValue::Int(v)) => int(*v, i32::MIN.into(), i32::MAX.into())?,
            (Ty::I64, ConstValue::Int(v)) => int(*v, i64::MIN, i64::MAX)?,
            (Ty::Double, ConstValue::Int(v)) => float_literal(*v as f64),
            (Ty::Double, ConstValue::Double(v)) => float_literal(*v),
            (Ty::String, ConstValue::String(s)) if repr == Repr::String => {
                quote!(::std::string::String::from(#s))
            }
            (Ty::String, ConstValue::String(s)) => quote!(thrift::Utf8Bytes::from_static(#s)),
            (Ty::Binary, ConstValue::String(s)) if repr == Repr::Vec => {
                let b = Literal::byte_string(s.as_bytes());
                quote!(#b.to_vec())
            }
            (Ty::Binary, ConstValue::String(s)) => {
                let b = Literal::byte_string(s.as_bytes());
                quote!(::bytes::Bytes::from_static(#b))
            }
            (Ty::Uuid, ConstValue::String(s)) => {
                let bytes = parse_uuid(s).ok_or_else(|| {
                    self.program
                        .error(file, span, format!("{s:?} is not a uuid"))
                })?;
                let bytes = bytes.iter().map(|b| Literal::u8_unsuffixed(*b));
                quote!([#(#bytes),*])
            }
            (Ty::Enum(id), ConstValue::Int(v)) => {
                let lit = int(*v, i32::MIN.into(), i32::MAX.into())?;
                let path = self.type_path(*id);
                quote!(#path(#lit))
            }
            (Ty::Set(t), ConstValue::List(items)) if repr == Repr::BTree => {
                let items = items
                    .iter()
                    .map(|i| self.const_value(file, t, i, span, inner))
                    .collect::<GResult<Vec<_>>>()?;
                quote!(::std::collections::BTreeSet::from([#(#items),*]))
            }
            (Ty::List(t) | Ty::Set(t), ConstValue::List(items)) => {
                if items.is_empty() {
                    quote!(Vec::new())
                } else {
                    let items = items
                        .iter()
                        .map(|i| self.const_value(file, t, i, span, inner))
                        .collect::<GResult<Vec<_>>>()?;
                    quote!(vec![#(#items),*])
                }
            }
            // `set<T> x = {}`: Thrift lets an empty map literal stand for an
            // empty set or list.
            (Ty::Set(_), ConstValue::Map(m)) if m.is_empty() && repr == Repr::BTree => {
                quote!(::std::collections::BTreeSet::new())
            }
            (Ty::List(_) | Ty::Set(_), ConstValue::Map(m)) if m.is_empty() => {
                quote!(Vec::new())
            }
            (Ty::Map(k, v), ConstValue::Map(entries)) => {
                let entries = entries
                    .iter()
                    .map(|(ek, ev)| {
                        let ek = self.const_value(file, k, ek, span, inner)?;
                        let ev = self.const_value(file, v, ev, span, inner)?;
                        Ok(quote!((#ek, #ev)))
                    })
                    .collect::<GResult<Vec<_>>>()?;
                if repr == Repr::BTree {
                    return Ok(quote!(::std::collections::BTreeMap::from([#(#entries),*])));
                }
                match (self.program.is_hashable(k), entries.is_empty()) {
                    (true, true) => self.map_empty(),
                    (true, false) => self.map_from(&entries),
                    (false, true) => quote!(Vec::new()),
                    (false, false) => quote!(vec![#(#entries),*]),
                }
            }
            (Ty::Map(k, _), ConstValue::List(l)) if l.is_empty() => {
                if repr == Repr::BTree {
                    quote!(::std::collections::BTreeMap::new())
                } else if self.program.is_hashable(k) {
                    self.map_empty()
                } else {
                    quote!(Vec::new())
                }
            }
            (Ty::Struct(id), ConstValue::Map(entries)) => {
                self.struct_literal(file, *id, entries, span, depth)?
            }
            _ => return Err(mismatch()),
        })
    }

    /// The path to value `name` of enum `enum_id`.
    fn enum_value_path(&self, enum_id: DefId, name: &str) -> TokenStream {
        let path = self.type_path(enum_id);
        let index = self
            .program
            .enum_def(enum_id)
            .values
            .iter()
            .position(|v| v.name == name)
            .unwrap_or_default();
        let members = self.member_idents(enum_id);
        match members.get(index) {
            Some(c) => quote!(#path::#c),
            None => quote!(#path),
        }
    }

    /// Apache Thrift reads an identifier given for an enum-typed value by
    /// its last part, in the enum of the field's type (`t_scope.h`,
    /// `resolve_const_value`; `main.cc`, `validate_const_rec`), so
    /// `MyEnum2 me2_2 = MyEnum1.ME2_2` (`test/EnumTest.thrift`) is
    /// `MyEnum2.ME2_2` whatever `MyEnum1` holds. The same here, with a
    /// warning, when the identifier is qualified and does not name a value
    /// of the field's enum as written.
    fn enum_value_by_field_type(
        &self,
        file: usize,
        ty: &Ty,
        name: &str,
        at: Span,
        found: &Result<ConstRef, ringrpc_thrift_idl::Error>,
    ) -> Option<TokenStream> {
        let Ty::Enum(want) = ty else {
            return None;
        };
        match found {
            Ok(ConstRef::Const(_)) => return None,
            Ok(ConstRef::EnumValue { enum_id, .. }) if enum_id == want => return None,
            _ => {}
        }
        let (_, last) = name.rsplit_once('.')?;
        let e = self.program.enum_def(*want);
        e.values.iter().find(|v| v.name == last)?;
        self.warn(
            file,
            at,
            format!(
                "`{name}` is read as `{}.{last}`, the field's enum (as Apache Thrift reads it)",
                e.name
            ),
        );
        Some(self.enum_value_path(*want, last))
    }

    /// A struct or union value from a `{"field": value}` literal.
    fn struct_literal(
        &self,
        file: usize,
        id: DefId,
        entries: &[(ConstValue, ConstValue)],
        span: Span,
        depth: usize,
    ) -> GResult {
        let s = self.program.struct_def(id);
        let path = self.type_path(id);
        let members = self.member_idents(id);
        let mut inits = Vec::new();
        for (k, v) in entries {
            let ConstValue::String(key) = k else {
                return Err(self.program.error(
                    file,
                    span,
                    format!("a `{}` constant's keys must be field names", s.name),
                ));
            };
            let Some((index, field)) = s.fields.iter().enumerate().find(|(_, f)| f.name == *key)
            else {
                return Err(self.program.error(
                    file,
                    span,
                    format!("`{}` has no field `{key}`", s.name),
                ));
            };
            let fty = self.program.resolve(id.file, &field.ty)?;
            let boxed = self.program.needs_box(id, &fty);
            let frepr = self.field_repr(id.file, field, &fty)?;
            let value = self.const_value(file, &fty, v, span, (depth + 1, frepr))?;
            let value = if boxed {
                quote!(Box::new(#value))
            } else {
                value
            };
            if s.kind == StructKind::Union {
                if entries.len() != 1 {
                    return Err(self.program.error(
                        file,
                        span,
                        format!("a `{}` constant must set exactly one field", s.name),
                    ));
                }
                let variant = &members[index];
                return Ok(quote!(#path::#variant(#value)));
            }
            let value = if boxed || field.req == Requiredness::Optional {
                quote!(Some(#value))
            } else {
                value
            };
            let name = &members[index];
            inits.push(quote!(#name: #value,));
        }
        let rest = (inits.len() < s.fields.len()).then(|| quote!(..Default::default()));
        Ok(quote!(#path { #(#inits)* #rest }))
    }
}

/// A float literal; infinities and NaN by name.
fn float_literal(v: f64) -> TokenStream {
    if v.is_nan() {
        quote!(f64::NAN)
    } else if v.is_infinite() {
        if v > 0.0 {
            quote!(f64::INFINITY)
        } else {
            quote!(f64::NEG_INFINITY)
        }
    } else {
        let lit = Literal::f64_unsuffixed(v.abs());
        if v.is_sign_negative() {
            quote!(-#lit)
        } else {
            quote!(#lit)
        }
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (braces allowed) to bytes.
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: String = s
        .trim_matches(|c| c == '{' || c == '}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids() {
        assert_eq!(
            super::parse_uuid("00112233-4455-6677-8899-aabbccddeeff"),
            Some([
                0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                0xee, 0xff
            ])
        );
        assert_eq!(super::parse_uuid("0011"), None);
    }

    #[test]
    fn literals() {
        assert_eq!(super::super::int_literal(-5).to_string(), "- 5");
        assert_eq!(super::float_literal(-1.5).to_string(), "- 1.5");
        assert_eq!(
            super::float_literal(f64::INFINITY).to_string(),
            "f64 :: INFINITY"
        );
    }
}
