//! Services. Per method:
//!
//! - the argument and result structs exactly as Apache Thrift defines them:
//!   `<Service><Method>Args` (the method's fields, struct name
//!   `method_args`) and `<Service><Method>Result` (field 0 `success` unless
//!   `void`, then one optional field per declared exception, struct name
//!   `method_result`; none for `oneway` methods);
//! - for a method that declares exceptions, `<Service><Method>Error`: one
//!   variant per declared exception plus `Application` (an application
//!   exception, sent as an exception message instead of a result);
//! - `<Service><Method>Result::from_outcome` / `into_outcome`, between the
//!   result struct and the handler's `Result<T, E>`.
//!
//! Per service, a trait with an `async fn` per method, `&self` and no `Send`
//! bound (handlers are per core); `extends` makes the base service's trait a
//! supertrait.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::structs::StructGen;
use super::{GResult, Generator, doc_attrs, doc_or};
use crate::model::{Field, Function, Requiredness, Service, StructKind};
use crate::names;

/// The names generated for one method.
struct MethodNames {
    args: Ident,
    result: Ident,
    /// `Some` when the method declares exceptions.
    error: Option<Ident>,
}

fn method_names(s: &Service, f: &Function) -> MethodNames {
    let base = format!(
        "{}{}",
        names::upper_camel(&s.name),
        names::upper_camel(&f.name)
    );
    MethodNames {
        args: format_ident!("{}Args", base),
        result: format_ident!("{}Result", base),
        error: (!f.throws.is_empty()).then(|| format_ident!("{}Error", base)),
    }
}

/// The union variant name for each declared exception, and the name of the
/// application-exception variant (pushed aside by a clash).
fn error_variants(f: &Function) -> (Vec<Ident>, Ident) {
    let variants: Vec<Ident> = f
        .throws
        .iter()
        .map(|t| names::type_ident(&t.name))
        .collect();
    let mut app = format_ident!("Application");
    while variants.contains(&app) {
        app = format_ident!("{}_", app);
    }
    (variants, app)
}

impl Generator<'_> {
    /// Everything generated for one service.
    pub(crate) fn service_items(&self, s: &Service) -> GResult {
        let mut out = self.service_trait(s)?;
        for f in &s.functions {
            out.extend(self.args_struct(s, f)?);
            if !f.oneway {
                out.extend(self.result_struct(s, f)?);
                out.extend(self.error_enum(s, f)?);
                out.extend(self.outcome_impl(s, f)?);
            }
        }
        Ok(out)
    }

    /// The handler trait.
    fn service_trait(&self, s: &Service) -> GResult {
        let ident = names::type_ident(&s.name);
        let doc = doc_or(&s.doc, || format!("The Thrift service `{}`.", s.name));
        let supertrait = match self.program.base_service(self.file, s)? {
            Some(base) => {
                let path = self.type_path(base);
                quote!(: #path)
            }
            None => quote!(),
        };
        let methods = s
            .functions
            .iter()
            .map(|f| {
                let name = names::snake_ident(&f.name);
                let doc = doc_or(&f.doc, || format!("Handles `{}.{}`.", s.name, f.name));
                let oneway_doc = f.oneway.then(|| {
                    doc_attrs("\nOneway: the caller gets no reply, so an error never reaches it.")
                });
                let params = f
                    .args
                    .iter()
                    .map(|a| {
                        let p = names::snake_ident(&a.name);
                        let t = self.rust_type(&a.ty)?;
                        let t = if a.req == Requiredness::Optional {
                            quote!(Option<#t>)
                        } else {
                            t
                        };
                        Ok(quote!(#p: #t))
                    })
                    .collect::<GResult<Vec<_>>>()?;
                let ret = self.return_type(f)?;
                let err = self.error_type(s, f);
                Ok(quote! {
                    #doc
                    #oneway_doc
                    async fn #name(&self, #(#params),*) -> Result<#ret, #err>;
                })
            })
            .collect::<GResult<Vec<_>>>()?;
        Ok(quote! {
            #doc
            ///
            /// Implement it for a per-core handler: methods take `&self` and
            /// their futures need not be `Send`.
            #[allow(async_fn_in_trait)]
            pub trait #ident #supertrait {
                #(#methods)*
            }
        })
    }

    fn return_type(&self, f: &Function) -> GResult {
        match &f.ret {
            Some(t) => self.rust_type(t),
            None => Ok(quote!(())),
        }
    }

    fn error_type(&self, s: &Service, f: &Function) -> TokenStream {
        match method_names(s, f).error {
            Some(e) => quote!(#e),
            None => quote!(thrift::ApplicationException),
        }
    }

    fn args_struct(&self, s: &Service, f: &Function) -> GResult {
        let g = StructGen {
            ident: method_names(s, f).args,
            wire_name: format!("{}_args", f.name),
            kind: StructKind::Struct,
            doc: doc_attrs(&format!(
                "The arguments of `{}.{}` (Apache Thrift's `{}_args`).",
                s.name, f.name, f.name
            )),
            fields: self.field_gens(None, &f.args)?,
        };
        self.struct_like(&g)
    }

    fn result_struct(&self, s: &Service, f: &Function) -> GResult {
        let mut fields = Vec::new();
        if let Some(ret) = &f.ret {
            fields.push(Field {
                id: 0,
                explicit_id: true,
                name: "success".to_owned(),
                ty: ret.clone(),
                req: Requiredness::Optional,
                default: None,
                annotations: Vec::new(),
                doc: Some("The return value.".to_owned()),
                span: f.span,
            });
        }
        for t in &f.throws {
            fields.push(Field {
                req: Requiredness::Optional,
                default: None,
                doc: Some(format!("Set when the method threw `{}`.", t.name)),
                ..t.clone()
            });
        }
        let what = match (f.ret.is_some(), f.throws.is_empty()) {
            (true, true) => "the return value in `success`",
            (true, false) => "the return value in `success`, or one declared exception",
            (false, true) => "nothing (`void`)",
            (false, false) => "nothing (`void`), or one declared exception",
        };
        let g = StructGen {
            ident: method_names(s, f).result,
            wire_name: format!("{}_result", f.name),
            kind: StructKind::Struct,
            doc: doc_attrs(&format!(
                "The result of `{}.{}` (Apache Thrift's `{}_result`): {what}.",
                s.name, f.name, f.name
            )),
            fields: self.field_gens(None, &fields)?,
        };
        self.struct_like(&g)
    }

    /// `<Service><Method>Error`, for a method that declares exceptions.
    fn error_enum(&self, s: &Service, f: &Function) -> GResult {
        let Some(ident) = method_names(s, f).error else {
            return Ok(quote!());
        };
        let (variants, app) = error_variants(f);
        let types = f
            .throws
            .iter()
            .map(|t| self.rust_type(&t.ty))
            .collect::<GResult<Vec<_>>>()?;
        let decls = f
            .throws
            .iter()
            .zip(&variants)
            .zip(&types)
            .map(|((t, v), ty)| {
                let doc = doc_attrs(&format!("`{}` (field {} of the result).", t.name, t.id));
                quote! {
                    #doc
                    #v(#ty),
                }
            });
        let displays = variants
            .iter()
            .map(|v| quote!(#ident::#v(e) => ::std::fmt::Display::fmt(e, f),));
        // `From` for each exception type thrown once, so `?` works.
        let froms = types.iter().zip(&variants).filter_map(|(ty, v)| {
            let once = types
                .iter()
                .filter(|t| t.to_string() == ty.to_string())
                .count()
                == 1;
            once.then(|| {
                quote! {
                    impl ::std::convert::From<#ty> for #ident {
                        fn from(e: #ty) -> Self {
                            #ident::#v(e)
                        }
                    }
                }
            })
        });
        let doc = doc_attrs(&format!(
            "What `{}.{}` fails with: an exception it declares, or an \
             application exception (sent as an exception message, not in the \
             result struct).",
            s.name, f.name
        ));
        Ok(quote! {
            #doc
            #[derive(Debug, Clone, PartialEq)]
            pub enum #ident {
                #(#decls)*
                /// Any other failure.
                #app(thrift::ApplicationException),
            }

            impl ::std::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    match self {
                        #(#displays)*
                        #ident::#app(e) => ::std::fmt::Display::fmt(e, f),
                    }
                }
            }

            impl ::std::error::Error for #ident {}

            #(#froms)*

            impl ::std::convert::From<thrift::ApplicationException> for #ident {
                fn from(e: thrift::ApplicationException) -> Self {
                    #ident::#app(e)
                }
            }
        })
    }

    /// `from_outcome` / `into_outcome` on the result struct.
    fn outcome_impl(&self, s: &Service, f: &Function) -> GResult {
        let names = method_names(s, f);
        let result = &names.result;
        let ret = self.return_type(f)?;
        let err = self.error_type(s, f);
        let (variants, app) = error_variants(f);
        let fields: Vec<Ident> = f
            .ret
            .iter()
            .map(|_| format_ident!("success"))
            .chain(f.throws.iter().map(|t| names::snake_ident(&t.name)))
            .collect();
        // `Self { one: Some(v), others: None }`.
        let only = |set: &Ident, value: TokenStream| {
            let inits = fields.iter().map(|fi| {
                if fi == set {
                    quote!(#fi: Some(#value),)
                } else {
                    quote!(#fi: None,)
                }
            });
            quote!(Self { #(#inits)* })
        };
        let ok_arm = match &f.ret {
            Some(_) => {
                let v = only(&format_ident!("success"), quote!(v));
                quote!(Ok(v) => Ok(#v),)
            }
            None => {
                let inits = fields.iter().map(|fi| quote!(#fi: None,));
                quote!(Ok(()) => Ok(Self { #(#inits)* }),)
            }
        };
        let err_arms: Vec<TokenStream> = match &names.error {
            Some(e) => f
                .throws
                .iter()
                .zip(&variants)
                .map(|(t, v)| {
                    let value = only(&names::snake_ident(&t.name), quote!(x));
                    quote!(Err(#e::#v(x)) => Ok(#value),)
                })
                .chain(std::iter::once(quote!(Err(#e::#app(x)) => Err(x),)))
                .collect(),
            None => vec![quote!(Err(x) => Err(x),)],
        };
        let checks = f.throws.iter().zip(&variants).map(|(t, v)| {
            let field = names::snake_ident(&t.name);
            let e = names.error.as_ref().map(|e| quote!(#e));
            quote! {
                if let Some(x) = self.#field {
                    return Err(#e::#v(x));
                }
            }
        });
        let missing = format!("{} failed: unknown result", f.name);
        let missing = quote! {
            thrift::ApplicationException::new(
                thrift::ExceptionKind::MissingResult,
                #missing,
            )
        };
        let app_err = match &names.error {
            Some(e) => quote!(#e::#app(#missing)),
            None => missing,
        };
        // A void method's result has no `success`: only exceptions to check.
        let (first, rest) = match &f.ret {
            Some(_) => (
                quote! {
                    if let Some(v) = self.success {
                        return Ok(v);
                    }
                },
                quote!(Err(#app_err)),
            ),
            None => (quote!(), quote!(Ok(()))),
        };
        Ok(quote! {
            impl #result {
                /// The result struct for a handler's outcome. An
                /// application exception is handed back: it travels as an
                /// exception message, not in the result struct.
                pub fn from_outcome(
                    outcome: Result<#ret, #err>,
                ) -> Result<Self, thrift::ApplicationException> {
                    match outcome {
                        #ok_arm
                        #(#err_arms)*
                    }
                }

                /// The outcome this result struct carries. One with nothing
                /// set is a `MissingResult` application exception (for a
                /// `void` method, success).
                pub fn into_outcome(self) -> Result<#ret, #err> {
                    #first
                    #(#checks)*
                    #rest
                }
            }
        })
    }
}
