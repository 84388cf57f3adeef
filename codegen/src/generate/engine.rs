//! The engine glue of a service, against `ringrpc_engine`:
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
//!
//! The codec-level parts (argument, result and error types) are in
//! [`super::service`].

use proc_macro2::TokenStream;
use quote::quote;

use super::service::Method;
use super::service::MethodNames;
use super::{GResult, Generator, doc_attrs, doc_or};
use crate::model::{Function, Requiredness, Service};
use crate::program::DefId;

impl Generator<'_> {
    /// The handler trait.
    pub(super) fn service_trait(&self, id: DefId, s: &Service) -> GResult {
        let ident = self.item_ident(id);
        let doc = doc_or(&s.doc, || format!("The Thrift service `{}`.", s.name));
        let supertrait = match self.program.base_service(self.file, s)? {
            Some(base) => {
                let path = self.type_path(base);
                quote!(: #path)
            }
            None => quote!(),
        };
        let [_, _, _, server, ..] = self.service_idents(id);
        let methods = s
            .functions
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let n = self.method_names(id, i);
                let name = &n.method;
                let doc = doc_or(&f.doc, || format!("Handles `{}.{}`.", s.name, f.name));
                let oneway_doc = f.oneway.then(|| {
                    doc_attrs("\nOneway: the caller gets no reply, so an error never reaches it.")
                });
                let params = self.params(self.file, f, &n)?;
                let result = self.result_type_in(self.file, &n, f)?;
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
    fn params(&self, file: usize, f: &Function, n: &MethodNames) -> GResult<Vec<TokenStream>> {
        f.args
            .iter()
            .zip(&n.params)
            .map(|(a, p)| {
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

    pub(super) fn request_response(
        &self,
        id: DefId,
        s: &Service,
        methods: &[Method<'_>],
    ) -> GResult {
        let [request, response, ..] = self.service_idents(id);
        let mut reqs = Vec::new();
        let mut resps = Vec::new();
        for m in methods {
            let n = self.method_names(m.service_id, m.index);
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

    pub(super) fn descriptor(&self, id: DefId, s: &Service, methods: &[Method<'_>]) -> TokenStream {
        let [request, response, descriptor, ..] = self.service_idents(id);
        let name = &s.name;
        let kinds = methods.iter().map(|m| {
            let wire = &m.func.name;
            if m.func.oneway {
                quote!(#wire => Some(engine::codegen::MethodKind::Oneway),)
            } else {
                quote!(#wire => Some(engine::codegen::MethodKind::Call),)
            }
        });
        let decodes = methods.iter().map(|m| {
            let n = self.method_names(m.service_id, m.index);
            let (v, wire) = (&n.variant, &m.func.name);
            let args = self.path_in(m.file, &n.args);
            quote!(#wire => Ok(#request::#v(<#args as thrift::Message>::decode(r)?)),)
        });
        let encodes = methods.iter().map(|m| {
            let v = self.method_names(m.service_id, m.index).variant;
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
            "How the engine decodes calls to `{}` and encodes its results (the \
             server adapter names it; a user never needs to).",
            s.name
        ));
        quote! {
            #doc
            #[derive(Debug, Clone, Copy)]
            pub struct #descriptor;

            impl engine::codegen::ThriftService for #descriptor {
                type Request = #request;
                type Response = #response;
                const NAME: &'static str = #name;

                fn method(method: &str) -> Option<engine::codegen::MethodKind> {
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

    pub(super) fn server(&self, id: DefId, s: &Service, methods: &[Method<'_>]) -> GResult {
        let ident = self.item_ident(id);
        let [request, response, descriptor, server, ..] = self.service_idents(id);
        let arms = methods
            .iter()
            .map(|m| {
                let n = self.method_names(m.service_id, m.index);
                let (v, method) = (&n.variant, &n.method);
                let trait_path = self.type_path(m.service_id);
                let args = &n.arg_fields;
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
        let how = doc_attrs(&format!(
            "\nServe it with `Server::builder().service({server}::new(handler))`."
        ));
        Ok(quote! {
            #doc
            #how
            #[derive(Debug, Clone)]
            pub struct #server<H>(pub H);

            impl<H> #server<H> {
                /// Wraps a handler for the engine.
                pub fn new(handler: H) -> Self {
                    Self(handler)
                }
            }

            impl<H: #ident> engine::server::Described for #server<H> {
                type Descriptor = #descriptor;
            }

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

    pub(super) fn client(&self, id: DefId, s: &Service, methods: &[Method<'_>]) -> GResult {
        let [.., client, with] = self.service_idents(id);
        let service_name = &s.name;
        let mut plain = Vec::new();
        let mut with_opts = Vec::new();
        for m in methods {
            let n = self.method_names(m.service_id, m.index);
            let method = &n.method;
            let wire = &m.func.name;
            let params = self.params(m.file, m.func, &n)?;
            let param_names = &n.params;
            let args_ty = self.path_in(m.file, &n.args);
            let fields = n.arg_fields.iter().zip(&n.params).map(|(field, param)| {
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
            let (ret, body) = if m.func.oneway {
                (
                    quote!(engine::Result<()>),
                    quote!(self.inner.call_oneway(#wire, &#args, self.opts).await),
                )
            } else {
                let ret = self.result_type_in(m.file, &n, m.func)?;
                let result = self.path_in(m.file, &n.result);
                (
                    ret,
                    quote! {
                        let result: #result = self.inner.call(#wire, &#args, self.opts).await?;
                        result.into_outcome()
                    },
                )
            };
            let oneway_doc = m
                .func
                .oneway
                .then(|| doc_attrs("\nOneway: returns once the call is written."));
            plain.push(quote! {
                #doc
                #oneway_doc
                pub async fn #method(&self, #(#params),*) -> #ret {
                    self.with_options(&engine::client::CallOptions::NONE)
                        .#method(#(#param_names),*)
                        .await
                }
            });
            with_opts.push(quote! {
                #doc
                #oneway_doc
                pub async fn #method(self, #(#params),*) -> #ret {
                    #body
                }
            });
        }
        let doc = doc_attrs(&format!(
            "A typed `{}` client over an engine `Client` (one per core): \
             `{client}::new(builder.build()?)`, then `client.method(args)`, or \
             `client.with_options(&opts).method(args)` with per-call options.",
            s.name
        ));
        let with_doc = doc_attrs(&format!(
            "`{}` calls with per-call options, from [`{client}::with_options`].",
            s.name
        ));
        let builder_doc = doc_attrs(&format!(
            "A client builder for `{service_name}` (its IDL name is sent as the \
             TTHeader `isn`); set its targets or resolver, then `build()` on each core."
        ));
        // A service without methods has nothing to call with options.
        let unused_with = methods.is_empty().then(|| quote!(#[allow(dead_code)]));
        Ok(quote! {
            #doc
            #[derive(Debug)]
            pub struct #client<S = engine::client::Resolve> {
                inner: engine::client::Client<S>,
            }

            #with_doc
            #[derive(Debug, Clone, Copy)]
            #unused_with
            pub struct #with<'a, S> {
                inner: &'a engine::client::Client<S>,
                opts: &'a engine::client::CallOptions,
            }

            impl #client {
                #builder_doc
                pub fn builder() -> engine::client::ClientBuilder {
                    engine::client::ClientBuilder::new(#service_name)
                }
            }

            impl<S> #client<S> {
                /// Wraps an engine client.
                pub fn new(inner: engine::client::Client<S>) -> Self {
                    Self { inner }
                }

                /// The engine client.
                pub fn inner(&self) -> &engine::client::Client<S> {
                    &self.inner
                }
            }

            impl<S> From<engine::client::Client<S>> for #client<S> {
                fn from(inner: engine::client::Client<S>) -> Self {
                    Self { inner }
                }
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
                /// Calls with `opts` (timeouts, address, transport, retry, ...)
                /// instead of the client's settings.
                pub fn with_options<'a>(&'a self, opts: &'a engine::client::CallOptions) -> #with<'a, S> {
                    #with { inner: &self.inner, opts }
                }

                #(#plain)*
            }

            impl<S> #with<'_, S>
            where
                S: engine::middleware::Service<
                    engine::context::ClientContext,
                    engine::client::ClientRequest,
                    Response = engine::client::ClientReply,
                    Error = engine::Error,
                >,
            {
                #(#with_opts)*
            }
        })
    }
}
