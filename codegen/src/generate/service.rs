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
//! With the engine (the default), per service, against `ringrpc_engine`:
//!
//! - `<Service>`: the handler trait, an `async fn` per method taking `&self`
//!   and the `ServerContext`, no `Send` bound (handlers are per core);
//!   `extends` makes the base service's trait a supertrait;
//! - `<Service>Request` / `<Service>Response`: every method's arguments and
//!   results, the base services' included;
//! - `<Service>Descriptor`: the engine's `ThriftService` (method lookup,
//!   argument decoding, result encoding);
//! - `<Service>Server<H>`: the engine `Service` that runs a handler `H`;
//! - `<Service>Client<S>`: a typed client over an engine `Client`.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::structs::StructGen;
use super::{GResult, Generator, doc_attrs, doc_or};
use crate::model::{Definition, Field, Function, Requiredness, Service, StructKind};
use crate::names;
use crate::program::DefId;

/// The names generated for one method.
struct MethodNames {
    args: Ident,
    result: Ident,
    /// `Some` when the method declares exceptions.
    error: Option<Ident>,
    /// The variant in the service's request and response enums.
    variant: Ident,
    /// The Rust method (trait, client).
    method: Ident,
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
        variant: names::type_ident(&f.name),
        method: names::snake_ident(&f.name),
    }
}

/// The variant name for each declared exception, and the name of the
/// catch-all variant (pushed aside by a clash).
fn error_variants(f: &Function) -> (Vec<Ident>, Ident) {
    let variants: Vec<Ident> = f
        .throws
        .iter()
        .map(|t| names::type_ident(&t.name))
        .collect();
    let mut other = format_ident!("Other");
    while variants.contains(&other) {
        other = format_ident!("{}_", other);
    }
    (variants, other)
}

/// A method parameter's name: the field's, unless it would hide the
/// `cx` or `opts` parameter that generated methods also take.
fn param_ident(name: &str) -> Ident {
    let id = names::snake_ident(name);
    match id.to_string().as_str() {
        "cx" | "opts" => format_ident!("{}_", id),
        _ => id,
    }
}

/// A method of a service or of one it extends.
struct Method<'p> {
    /// The file of the service that declares it.
    file: usize,
    service: &'p Service,
    func: &'p Function,
}

impl Generator<'_> {
    /// Everything generated for one service.
    pub(crate) fn service_items(&self, s: &Service) -> GResult {
        let mut out = TokenStream::new();
        for f in &s.functions {
            out.extend(self.args_struct(s, f)?);
            if !f.oneway {
                out.extend(self.result_struct(s, f)?);
                out.extend(self.error_enum(s, f)?);
                out.extend(self.outcome_impl(s, f)?);
            }
        }
        if self.opts.engine_path.is_some() {
            let methods = self.all_methods(s)?;
            out.extend(self.service_trait(s)?);
            out.extend(self.request_response(s, &methods)?);
            out.extend(self.descriptor(s, &methods));
            out.extend(self.server(s, &methods)?);
            out.extend(self.client(s, &methods)?);
        }
        Ok(out)
    }

    /// The methods of `s` and of the services it extends, its own first.
    fn all_methods<'p>(&'p self, s: &'p Service) -> GResult<Vec<Method<'p>>> {
        let mut out: Vec<Method<'p>> = Vec::new();
        let mut seen = HashSet::new();
        let (mut file, mut svc) = (self.file, s);
        loop {
            for func in &svc.functions {
                out.push(Method {
                    file,
                    service: svc,
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
            (file, svc) = (base.file, b);
        }
    }

    /// The path from this file to item `name` of file `file`.
    fn path_in(&self, file: usize, name: &Ident) -> TokenStream {
        self.path_to(DefId { file, index: 0 }, name.clone())
    }

    /// What a failure other than a declared exception is: the engine's
    /// error, or (codec only) an application exception.
    fn other_error(&self) -> TokenStream {
        if self.opts.engine_path.is_some() {
            quote!(engine::Error)
        } else {
            quote!(thrift::ApplicationException)
        }
    }

    /// `ex` (an `ApplicationException`) as an [`other_error`](Self::other_error).
    fn app_as_other(&self, ex: TokenStream) -> TokenStream {
        if self.opts.engine_path.is_some() {
            quote!(engine::Error::Application(#ex))
        } else {
            ex
        }
    }

    fn return_type_in(&self, file: usize, f: &Function) -> GResult {
        match &f.ret {
            Some(t) => self.rust_type_in(file, t),
            None => Ok(quote!(())),
        }
    }

    /// The error type of a method of `s` (declared in `file`).
    fn error_type_in(&self, file: usize, s: &Service, f: &Function) -> TokenStream {
        match method_names(s, f).error {
            Some(e) => self.path_in(file, &e),
            None => self.other_error(),
        }
    }

    /// `Result<T, E>` for a method of `s` (declared in `file`), written
    /// `engine::Result<T>` when `E` is the engine's error.
    fn result_type_in(&self, file: usize, s: &Service, f: &Function) -> GResult {
        let ret = self.return_type_in(file, f)?;
        Ok(match (&self.opts.engine_path, method_names(s, f).error) {
            (Some(_), None) => quote!(engine::Result<#ret>),
            _ => {
                let err = self.error_type_in(file, s, f);
                quote!(Result<#ret, #err>)
            }
        })
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
        let (variants, other) = error_variants(f);
        let other_ty = self.other_error();
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
    fn outcome_impl(&self, s: &Service, f: &Function) -> GResult {
        let names = method_names(s, f);
        let result = &names.result;
        let ret = self.return_type_in(self.file, f)?;
        let err = self.error_type_in(self.file, s, f);
        let other_ty = self.other_error();
        let (variants, other) = error_variants(f);
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
                .chain(std::iter::once(quote!(Err(#e::#other(x)) => Err(x),)))
                .collect(),
            None => vec![quote!(Err(x) => Err(x),)],
        };
        let checks = f.throws.iter().zip(&variants).map(|(t, v)| {
            let field = names::snake_ident(&t.name);
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
        let server = format_ident!("{}Server", ident);
        let methods = s
            .functions
            .iter()
            .map(|f| {
                let name = method_names(s, f).method;
                let doc = doc_or(&f.doc, || format!("Handles `{}.{}`.", s.name, f.name));
                let oneway_doc = f.oneway.then(|| {
                    doc_attrs("\nOneway: the caller gets no reply, so an error never reaches it.")
                });
                let params = self.params(self.file, f)?;
                let result = self.result_type_in(self.file, s, f)?;
                Ok(quote! {
                    #doc
                    #oneway_doc
                    async fn #name(
                        &self,
                        cx: &mut engine::context::ServerContext,
                        #(#params),*
                    ) -> #result;
                })
            })
            .collect::<GResult<Vec<_>>>()?;
        let how = format!(
            "Implement it for a per-core handler (methods take `&self`; their \
             futures need not be `Send`) and serve it with [`{server}`]."
        );
        Ok(quote! {
            #doc
            ///
            #[doc = #how]
            #[allow(async_fn_in_trait)]
            pub trait #ident #supertrait {
                #(#methods)*
            }
        })
    }

    /// `name: Type` for each argument of `f` (declared in `file`).
    fn params(&self, file: usize, f: &Function) -> GResult<Vec<TokenStream>> {
        f.args
            .iter()
            .map(|a| {
                let p = param_ident(&a.name);
                let t = self.rust_type_in(file, &a.ty)?;
                let t = if a.req == Requiredness::Optional {
                    quote!(Option<#t>)
                } else {
                    t
                };
                Ok(quote!(#p: #t))
            })
            .collect()
    }

    fn request_response(&self, s: &Service, methods: &[Method<'_>]) -> GResult {
        let ident = names::type_ident(&s.name);
        let request = format_ident!("{}Request", ident);
        let response = format_ident!("{}Response", ident);
        let mut reqs = Vec::new();
        let mut resps = Vec::new();
        for m in methods {
            let n = method_names(m.service, m.func);
            let v = &n.variant;
            let args = self.path_in(m.file, &n.args);
            let doc = doc_attrs(&format!("`{}.{}`.", m.service.name, m.func.name));
            reqs.push(quote!(#doc #v(#args),));
            if m.func.oneway {
                let doc = doc_attrs(&format!(
                    "`{}.{}` (oneway: nothing is sent back).",
                    m.service.name, m.func.name
                ));
                resps.push(quote!(#doc #v,));
            } else {
                let result = self.path_in(m.file, &n.result);
                resps.push(quote!(#doc #v(#result),));
            }
        }
        let req_doc = doc_attrs(&format!(
            "A decoded call to `{}`: the arguments of one of its methods.",
            s.name
        ));
        let resp_doc = doc_attrs(&format!(
            "The result of a call to `{}`: the result struct of one of its methods.",
            s.name
        ));
        Ok(quote! {
            #req_doc
            #[derive(Debug, Clone, PartialEq)]
            pub enum #request {
                #(#reqs)*
            }

            #resp_doc
            #[derive(Debug, Clone, PartialEq)]
            pub enum #response {
                #(#resps)*
            }
        })
    }

    fn descriptor(&self, s: &Service, methods: &[Method<'_>]) -> TokenStream {
        let ident = names::type_ident(&s.name);
        let descriptor = format_ident!("{}Descriptor", ident);
        let request = format_ident!("{}Request", ident);
        let response = format_ident!("{}Response", ident);
        let name = &s.name;
        let kinds = methods.iter().map(|m| {
            let wire = &m.func.name;
            if m.func.oneway {
                quote!(#wire => Some(engine::server::MethodKind::Oneway),)
            } else {
                quote!(#wire => Some(engine::server::MethodKind::Call),)
            }
        });
        let decodes = methods.iter().map(|m| {
            let n = method_names(m.service, m.func);
            let (v, wire) = (&n.variant, &m.func.name);
            let args = self.path_in(m.file, &n.args);
            quote!(#wire => Ok(#request::#v(<#args as thrift::Message>::decode(r)?)),)
        });
        let encodes = methods.iter().map(|m| {
            let v = method_names(m.service, m.func).variant;
            if m.func.oneway {
                let wire = format!("{}_result", m.func.name);
                quote! {
                    #response::#v => {
                        w.write_struct_begin(#wire);
                        w.write_field_stop();
                        w.write_struct_end();
                    }
                }
            } else {
                quote!(#response::#v(result) => result.encode(w),)
            }
        });
        let unknown = quote!(Err(codec::Error::BadMessageHeader("unknown method")));
        let (method_body, decode_body, encode_body) = if methods.is_empty() {
            // A service with no methods: nothing to find, decode or encode.
            (
                quote! {
                    let _ = method;
                    None
                },
                quote! {
                    let _ = (method, r);
                    #unknown
                },
                quote! {
                    let _ = w;
                    match *resp {}
                },
            )
        } else {
            (
                quote! {
                    match method {
                        #(#kinds)*
                        _ => None,
                    }
                },
                quote! {
                    match method {
                        #(#decodes)*
                        _ => #unknown,
                    }
                },
                quote! {
                    match resp {
                        #(#encodes)*
                    }
                },
            )
        };
        let doc = doc_attrs(&format!(
            "How the engine decodes calls to `{}` and encodes its results; \
             give it to `Server::builder().service::<{descriptor}, _, _>(..)`.",
            s.name
        ));
        quote! {
            #doc
            #[derive(Debug, Clone, Copy)]
            pub struct #descriptor;

            impl engine::server::ThriftService for #descriptor {
                type Request = #request;
                type Response = #response;
                const NAME: &'static str = #name;

                fn method(method: &str) -> Option<engine::server::MethodKind> {
                    #method_body
                }

                fn decode_request<R: thrift::ProtocolReader>(
                    method: &str,
                    r: &mut R,
                ) -> codec::Result<Self::Request> {
                    #decode_body
                }

                fn encode_response<W: thrift::ProtocolWriter>(resp: &Self::Response, w: &mut W) {
                    #encode_body
                }
            }
        }
    }

    fn server(&self, s: &Service, methods: &[Method<'_>]) -> GResult {
        let ident = names::type_ident(&s.name);
        let server = format_ident!("{}Server", ident);
        let request = format_ident!("{}Request", ident);
        let response = format_ident!("{}Response", ident);
        let arms = methods
            .iter()
            .map(|m| {
                let n = method_names(m.service, m.func);
                let (v, method) = (&n.variant, &n.method);
                let trait_path = self.path_in(m.file, &names::type_ident(&m.service.name));
                let args: Vec<Ident> = m
                    .func
                    .args
                    .iter()
                    .map(|a| names::snake_ident(&a.name))
                    .collect();
                let binding = if args.is_empty() {
                    quote!(_)
                } else {
                    quote!(args)
                };
                let call = quote! {
                    <H as #trait_path>::#method(&self.0, cx, #(args.#args),*).await
                };
                Ok(if m.func.oneway {
                    quote! {
                        #request::#v(#binding) => {
                            #call?;
                            Ok(#response::#v)
                        }
                    }
                } else {
                    let result = self.path_in(m.file, &n.result);
                    quote! {
                        #request::#v(#binding) => {
                            let outcome = #call;
                            Ok(#response::#v(#result::from_outcome(outcome)?))
                        }
                    }
                })
            })
            .collect::<GResult<Vec<_>>>()?;
        let unused_cx = methods.is_empty().then(|| quote!(let _ = cx;));
        let doc = doc_attrs(&format!(
            "The engine's service for `{}`: runs a handler that implements [`{ident}`].",
            s.name
        ));
        Ok(quote! {
            #doc
            #[derive(Debug, Clone)]
            pub struct #server<H>(pub H);

            impl<H: #ident> engine::middleware::Service<engine::context::ServerContext, #request>
                for #server<H>
            {
                type Response = #response;
                type Error = engine::Error;

                async fn call(
                    &self,
                    cx: &mut engine::context::ServerContext,
                    req: #request,
                ) -> engine::Result<#response> {
                    #unused_cx
                    match req {
                        #(#arms)*
                    }
                }
            }
        })
    }

    fn client(&self, s: &Service, methods: &[Method<'_>]) -> GResult {
        let ident = names::type_ident(&s.name);
        let client = format_ident!("{}Client", ident);
        let fns = methods
            .iter()
            .map(|m| {
                let n = method_names(m.service, m.func);
                let method = &n.method;
                let wire = &m.func.name;
                let params = self.params(m.file, m.func)?;
                let args_ty = self.path_in(m.file, &n.args);
                let fields = m.func.args.iter().map(|a| {
                    let (field, param) = (names::snake_ident(&a.name), param_ident(&a.name));
                    if field == param {
                        quote!(#field)
                    } else {
                        quote!(#field: #param)
                    }
                });
                let args = quote!(#args_ty { #(#fields),* });
                let doc = doc_or(&m.func.doc, || {
                    format!("Calls `{}.{}`.", m.service.name, m.func.name)
                });
                Ok(if m.func.oneway {
                    quote! {
                        #doc
                        ///
                        /// Oneway: returns once the call is written.
                        pub async fn #method(
                            &self,
                            #(#params,)*
                            opts: &engine::client::CallOptions,
                        ) -> engine::Result<()> {
                            self.inner.call_oneway(#wire, &#args, opts).await
                        }
                    }
                } else {
                    let ret = self.result_type_in(m.file, m.service, m.func)?;
                    let result = self.path_in(m.file, &n.result);
                    quote! {
                        #doc
                        pub async fn #method(
                            &self,
                            #(#params,)*
                            opts: &engine::client::CallOptions,
                        ) -> #ret {
                            let result: #result = self.inner.call(#wire, &#args, opts).await?;
                            result.into_outcome()
                        }
                    }
                })
            })
            .collect::<GResult<Vec<_>>>()?;
        let doc = doc_attrs(&format!(
            "A typed `{}` client over an engine `Client` (one per core).",
            s.name
        ));
        Ok(quote! {
            #doc
            #[derive(Debug)]
            pub struct #client<S> {
                inner: engine::client::Client<S>,
            }

            impl<S> #client<S>
            where
                S: engine::middleware::Service<
                    engine::context::ClientContext,
                    engine::client::ClientRequest,
                    Response = engine::client::ClientReply,
                    Error = engine::Error,
                >,
            {
                /// Wraps an engine client.
                pub fn new(inner: engine::client::Client<S>) -> Self {
                    Self { inner }
                }

                /// The engine client.
                pub fn inner(&self) -> &engine::client::Client<S> {
                    &self.inner
                }

                #(#fns)*
            }
        })
    }
}
