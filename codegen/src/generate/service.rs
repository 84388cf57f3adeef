//! Services.
//!
//! Always (codec level), per method:
//!
//! - the argument and result structs exactly as Apache Thrift defines them:
//!   `<Service><Method>Args` (the method's fields, struct name
//!   `method_args`) and `<Service><Method>Result` (field 0 `success` unless
//!   `void`, then one optional field per declared exception, struct name
//!   `method_result`; none for `oneway` methods);
//! - for a method that declares exceptions, `<Service><Method>Error`: one
//!   variant per declared exception plus `Other` (any other failure: an
//!   engine error, or with `codec_only` an application exception);
//! - `<Service><Method>Result::from_outcome` / `into_outcome`, between the
//!   result struct and a handler's or caller's `Result<T, E>`.
//!
//! With the engine (the default), the per-service glue of [`super::engine`]
//! follows.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::structs::StructGen;
use super::{GResult, Generator, doc_attrs};
use crate::model::{Definition, Field, Function, Requiredness, Service, StructKind};
use crate::names;
use crate::naming;
use crate::program::DefId;

/// The identifiers generated for one method (see [`crate::naming`]).
pub(super) struct MethodNames {
    pub(super) args: Ident,
    pub(super) result: Ident,
    /// `Some` when the method declares exceptions.
    pub(super) error: Option<Ident>,
    /// The variant in the service's request and response enums.
    pub(super) variant: Ident,
    /// The Rust method (trait, client).
    pub(super) method: Ident,
    /// The argument struct's fields.
    pub(super) arg_fields: Vec<Ident>,
    /// The handler's and client's parameters.
    pub(super) params: Vec<Ident>,
    /// The result struct's fields: `success` (unless `void`), then one per
    /// declared exception.
    pub(super) result_fields: Vec<Ident>,
    /// The error enum's variant per declared exception.
    pub(super) error_variants: Vec<Ident>,
    /// The error enum's catch-all variant.
    pub(super) error_other: Ident,
}

/// A method of a service or of one it extends.
pub(super) struct Method<'p> {
    /// The file of the service that declares it.
    pub(super) file: usize,
    /// The service that declares it.
    pub(super) service_id: DefId,
    pub(super) service: &'p Service,
    /// Its index in the service's methods.
    pub(super) index: usize,
    pub(super) func: &'p Function,
}

impl Generator<'_> {
    /// Everything generated for one service.
    pub(crate) fn service_items(&self, id: DefId, s: &Service) -> GResult {
        let mut out = TokenStream::new();
        for (i, f) in s.functions.iter().enumerate() {
            let names = self.method_names(id, i);
            out.extend(self.args_struct(s, f, &names)?);
            if !f.oneway {
                out.extend(self.result_struct(s, f, &names)?);
                out.extend(self.error_enum(s, f, &names)?);
                out.extend(self.outcome_impl(f, &names)?);
            }
        }
        if self.opts.engine_path.is_some() {
            let methods = self.all_methods(id, s)?;
            out.extend(self.service_trait(id, s)?);
            out.extend(self.request_response(id, s, &methods)?);
            out.extend(self.descriptor(id, s, &methods));
            out.extend(self.server(id, s, &methods)?);
            out.extend(self.client(id, s, &methods)?);
        }
        Ok(out)
    }

    /// The identifiers generated for method `index` of service `svc`.
    pub(super) fn method_names(&self, svc: DefId, index: usize) -> MethodNames {
        let n = self
            .program
            .naming()
            .service(svc)
            .and_then(|s| s.methods.get(index));
        let get = |f: fn(&naming::MethodNames) -> &str| names::ident(n.map_or("", f));
        let all = |f: fn(&naming::MethodNames) -> &[String]| {
            n.map(f)
                .unwrap_or_default()
                .iter()
                .map(|x| names::ident(x))
                .collect()
        };
        MethodNames {
            args: get(|m| &m.args),
            result: get(|m| &m.result),
            error: n.and_then(|m| m.error.as_deref()).map(names::ident),
            variant: get(|m| &m.variant),
            method: get(|m| &m.method),
            arg_fields: all(|m| &m.arg_fields),
            params: all(|m| &m.params),
            result_fields: all(|m| &m.result_fields),
            error_variants: all(|m| &m.error_variants),
            error_other: get(|m| &m.error_other),
        }
    }

    /// The identifiers generated for service `svc`: request, response,
    /// descriptor, server, client.
    pub(super) fn service_idents(&self, svc: DefId) -> [Ident; 6] {
        let n = self.program.naming().service(svc);
        let get = |f: fn(&naming::ServiceNames) -> &str| names::ident(n.map_or("", f));
        [
            get(|s| &s.request),
            get(|s| &s.response),
            get(|s| &s.descriptor),
            get(|s| &s.server),
            get(|s| &s.client),
            get(|s| &s.client_with),
        ]
    }

    /// The methods of `s` and of the services it extends, its own first.
    fn all_methods<'p>(&'p self, id: DefId, s: &'p Service) -> GResult<Vec<Method<'p>>> {
        let mut out: Vec<Method<'p>> = Vec::new();
        let mut seen = HashSet::new();
        let (mut file, mut svc, mut svc_id) = (self.file, s, id);
        loop {
            for (index, func) in svc.functions.iter().enumerate() {
                out.push(Method {
                    file,
                    service_id: svc_id,
                    service: svc,
                    index,
                    func,
                });
            }
            let Some(base) = self.program.base_service(file, svc)? else {
                return Ok(out);
            };
            if !seen.insert(base) {
                return Err(self.program.error(
                    self.file,
                    s.span,
                    format!("`{}` extends itself", s.name),
                ));
            }
            let Definition::Service(b) = self.program.def(base) else {
                return Ok(out);
            };
            (file, svc, svc_id) = (base.file, b, base);
        }
    }

    /// The path from this file to item `name` of file `file`.
    pub(super) fn path_in(&self, file: usize, name: &Ident) -> TokenStream {
        self.path_to(DefId { file, index: 0 }, name.clone())
    }

    /// What a failure other than a declared exception is: the engine's
    /// error, or (codec only) an application exception.
    pub(super) fn other_error(&self) -> TokenStream {
        if self.opts.engine_path.is_some() {
            quote!(engine::Error)
        } else {
            quote!(thrift::ApplicationException)
        }
    }

    /// `ex` (an `ApplicationException`) as an [`other_error`](Self::other_error).
    pub(super) fn app_as_other(&self, ex: TokenStream) -> TokenStream {
        if self.opts.engine_path.is_some() {
            quote!(engine::Error::Application(#ex))
        } else {
            ex
        }
    }

    pub(super) fn return_type_in(&self, file: usize, f: &Function) -> GResult {
        match &f.ret {
            Some(t) => self.rust_type_in(file, t),
            None => Ok(quote!(())),
        }
    }

    /// The error type of method `f` named `n` (declared in `file`).
    pub(super) fn error_type_in(&self, file: usize, n: &MethodNames) -> TokenStream {
        match &n.error {
            Some(e) => self.path_in(file, e),
            None => self.other_error(),
        }
    }

    /// `Result<T, E>` for method `f` named `n` (declared in `file`), written
    /// `engine::Result<T>` when `E` is the engine's error.
    pub(super) fn result_type_in(&self, file: usize, n: &MethodNames, f: &Function) -> GResult {
        let ret = self.return_type_in(file, f)?;
        Ok(match (&self.opts.engine_path, &n.error) {
            (Some(_), None) => quote!(engine::Result<#ret>),
            _ => {
                let err = self.error_type_in(file, n);
                quote!(Result<#ret, #err>)
            }
        })
    }

    fn args_struct(&self, s: &Service, f: &Function, n: &MethodNames) -> GResult {
        let g = StructGen {
            ident: n.args.clone(),
            wire_name: format!("{}_args", f.name),
            kind: StructKind::Struct,
            doc: doc_attrs(&format!(
                "The arguments of `{}.{}` (Apache Thrift's `{}_args`).",
                s.name, f.name, f.name
            )),
            fields: self.field_gens(None, &f.args, &self.strings(&n.arg_fields))?,
        };
        self.struct_like(&g)
    }

    /// Identifiers back to the names `field_gens` takes.
    fn strings(&self, idents: &[Ident]) -> Vec<String> {
        idents
            .iter()
            .map(|i| i.to_string().trim_start_matches("r#").to_owned())
            .collect()
    }

    fn result_struct(&self, s: &Service, f: &Function, n: &MethodNames) -> GResult {
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
            ident: n.result.clone(),
            wire_name: format!("{}_result", f.name),
            kind: StructKind::Struct,
            doc: doc_attrs(&format!(
                "The result of `{}.{}` (Apache Thrift's `{}_result`): {what}.",
                s.name, f.name, f.name
            )),
            fields: self.field_gens(None, &fields, &self.strings(&n.result_fields))?,
        };
        self.struct_like(&g)
    }

    /// `<Service><Method>Error`, for a method that declares exceptions.
    fn error_enum(&self, s: &Service, f: &Function, n: &MethodNames) -> GResult {
        let Some(ident) = &n.error else {
            return Ok(quote!());
        };
        let (variants, other) = (&n.error_variants, &n.error_other);
        let other_ty = self.other_error();
        let types = f
            .throws
            .iter()
            .map(|t| self.rust_type(&t.ty))
            .collect::<GResult<Vec<_>>>()?;
        let decls = f
            .throws
            .iter()
            .zip(variants)
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
        let froms = types.iter().zip(variants).filter_map(|(ty, v)| {
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
        let app_from = self.opts.engine_path.is_some().then(|| {
            let wrapped = self.app_as_other(quote!(e));
            quote! {
                impl ::std::convert::From<thrift::ApplicationException> for #ident {
                    fn from(e: thrift::ApplicationException) -> Self {
                        #ident::#other(#wrapped)
                    }
                }
            }
        });
        let doc = doc_attrs(&format!(
            "What `{}.{}` fails with: an exception it declares (carried in the \
             result struct), or any other failure (sent as an application \
             exception).",
            s.name, f.name
        ));
        Ok(quote! {
            #doc
            #[derive(Debug)]
            pub enum #ident {
                #(#decls)*
                /// Any other failure.
                #other(#other_ty),
            }

            impl ::std::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    match self {
                        #(#displays)*
                        #ident::#other(e) => ::std::fmt::Display::fmt(e, f),
                    }
                }
            }

            impl ::std::error::Error for #ident {}

            #(#froms)*

            impl ::std::convert::From<#other_ty> for #ident {
                fn from(e: #other_ty) -> Self {
                    #ident::#other(e)
                }
            }

            #app_from
        })
    }

    /// `from_outcome` / `into_outcome` on the result struct.
    fn outcome_impl(&self, f: &Function, names: &MethodNames) -> GResult {
        let result = &names.result;
        let ret = self.return_type_in(self.file, f)?;
        let err = self.error_type_in(self.file, names);
        let other_ty = self.other_error();
        let (variants, other) = (&names.error_variants, &names.error_other);
        let fields = &names.result_fields;
        // The result fields of the declared exceptions, after `success`.
        let throw_fields = &fields[fields.len() - f.throws.len()..];
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
            Some(e) => throw_fields
                .iter()
                .zip(variants)
                .map(|(field, v)| {
                    let value = only(field, quote!(x));
                    quote!(Err(#e::#v(x)) => Ok(#value),)
                })
                .chain(std::iter::once(quote!(Err(#e::#other(x)) => Err(x),)))
                .collect(),
            None => vec![quote!(Err(x) => Err(x),)],
        };
        let checks = throw_fields.iter().zip(variants).map(|(field, v)| {
            let e = &names.error;
            quote! {
                if let Some(x) = self.#field {
                    return Err(#e::#v(x));
                }
            }
        });
        let missing = format!("{} failed: unknown result", f.name);
        let missing = self.app_as_other(quote! {
            thrift::ApplicationException::new(
                thrift::ExceptionKind::MissingResult,
                #missing,
            )
        });
        let missing = match &names.error {
            Some(e) => quote!(#e::#other(#missing)),
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
                quote!(Err(#missing)),
            ),
            None => (quote!(), quote!(Ok(()))),
        };
        Ok(quote! {
            impl #result {
                /// The result struct for a handler's outcome. A failure
                /// that is not a declared exception is handed back: it
                /// travels as an application exception, not in the result
                /// struct.
                pub fn from_outcome(outcome: Result<#ret, #err>) -> Result<Self, #other_ty> {
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
