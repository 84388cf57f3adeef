//! gRPC's server reflection service, `grpc.reflection.v1.ServerReflection`
//! and its older name `grpc.reflection.v1alpha.ServerReflection` (gRPC's
//! `doc/server-reflection.md` and `grpc/reflection/v1/reflection.proto`):
//! tools such as grpcurl and grpcio's reflection client ask a server which
//! services it has and for the Protobuf descriptors of their files, then
//! call methods without the `.proto` files at hand.
//!
//! The descriptors are what `ringrpc-build` compiled: each package module
//! it generates with services holds `FILE_DESCRIPTOR_SET`, the encoded
//! `google.protobuf.FileDescriptorSet` of its files and what they import.
//!
//! ```ignore
//! use ringrpc::engine::grpc::reflection::Reflection;
//!
//! let reflection = Reflection::new()
//!     .file_descriptor_set(helloworld::FILE_DESCRIPTOR_SET)?
//!     .service();
//! let server = Server::builder()
//!     .grpc(GreeterServer::new(Hello))
//!     .grpc(reflection)
//!     .start()?;
//! ```
//!
//! Answers: the services (`list_services`), a file by its name, the file
//! that defines a symbol (a service, method, message, enum or extension,
//! fully qualified) or an extension, the extension numbers of a message;
//! a file's answer carries it and every file it imports, transitively.
//! What is not known is an in-stream `NOT_FOUND` error response, and the
//! stream goes on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use super::message::Request;
use super::router::{GrpcService, Router};
use super::status::{Code, Status};
use super::streaming::{ResponseSink, Streaming};

/// The path of `ServerReflectionInfo` (v1).
pub const INFO_V1: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
/// The path of `ServerReflectionInfo` (v1alpha, what older clients ask,
/// grpcio's Python client among them).
pub const INFO_V1ALPHA: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// ---- the reflection protocol's messages (the same in v1 and v1alpha) ----

/// `ServerReflectionRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ReflectionRequest {
    /// The host the request is about (not used: one server, one set).
    #[prost(string, tag = "1")]
    pub host: String,
    /// What is asked.
    #[prost(oneof = "Ask", tags = "3, 4, 5, 6, 7")]
    pub message_request: Option<Ask>,
}

/// `ServerReflectionRequest.message_request`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Ask {
    /// A file by its name (`helloworld.proto`).
    #[prost(string, tag = "3")]
    FileByFilename(String),
    /// The file defining a fully qualified symbol.
    #[prost(string, tag = "4")]
    FileContainingSymbol(String),
    /// The file defining an extension of a message.
    #[prost(message, tag = "5")]
    FileContainingExtension(ExtensionRequest),
    /// The extension numbers of a message.
    #[prost(string, tag = "6")]
    AllExtensionNumbersOfType(String),
    /// The services (the string is not used).
    #[prost(string, tag = "7")]
    ListServices(String),
}

/// `ExtensionRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ExtensionRequest {
    /// The extended message, fully qualified.
    #[prost(string, tag = "1")]
    pub containing_type: String,
    /// The extension's field number.
    #[prost(int32, tag = "2")]
    pub extension_number: i32,
}

/// `ServerReflectionResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ReflectionResponse {
    /// The request's host.
    #[prost(string, tag = "1")]
    pub valid_host: String,
    /// The request answered.
    #[prost(message, optional, tag = "2")]
    pub original_request: Option<ReflectionRequest>,
    /// The answer.
    #[prost(oneof = "Answer", tags = "4, 5, 6, 7")]
    pub message_response: Option<Answer>,
}

/// `ServerReflectionResponse.message_response`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Answer {
    /// Encoded `FileDescriptorProto`s.
    #[prost(message, tag = "4")]
    FileDescriptorResponse(FileDescriptorResponse),
    /// A message's extension numbers.
    #[prost(message, tag = "5")]
    AllExtensionNumbersResponse(ExtensionNumberResponse),
    /// The services.
    #[prost(message, tag = "6")]
    ListServicesResponse(ListServiceResponse),
    /// What could not be answered.
    #[prost(message, tag = "7")]
    ErrorResponse(ErrorResponse),
}

/// `FileDescriptorResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct FileDescriptorResponse {
    /// Each an encoded `google.protobuf.FileDescriptorProto`.
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub file_descriptor_proto: Vec<Bytes>,
}

/// `ExtensionNumberResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ExtensionNumberResponse {
    /// The message, fully qualified.
    #[prost(string, tag = "1")]
    pub base_type_name: String,
    /// Its extensions' field numbers.
    #[prost(int32, repeated, tag = "2")]
    pub extension_number: Vec<i32>,
}

/// `ListServiceResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ListServiceResponse {
    /// The services.
    #[prost(message, repeated, tag = "1")]
    pub service: Vec<ServiceResponse>,
}

/// `ServiceResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ServiceResponse {
    /// The service's full name.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `ErrorResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ErrorResponse {
    /// A gRPC status code.
    #[prost(int32, tag = "1")]
    pub error_code: i32,
    /// Why.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

// ---- the parts of descriptor.proto the index reads ----

/// A `FileDescriptorSet`, its files kept encoded (they go out as they are).
#[derive(Message)]
struct RawSet {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    file: Vec<Bytes>,
}

/// `FileDescriptorProto`, only the names (prost skips the other fields).
#[derive(Message)]
struct FileDesc {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    package: String,
    #[prost(string, repeated, tag = "3")]
    dependency: Vec<String>,
    #[prost(message, repeated, tag = "4")]
    message_type: Vec<MessageDesc>,
    #[prost(message, repeated, tag = "5")]
    enum_type: Vec<Named>,
    #[prost(message, repeated, tag = "6")]
    service: Vec<ServiceDesc>,
    #[prost(message, repeated, tag = "7")]
    extension: Vec<FieldDesc>,
}

/// `DescriptorProto`.
#[derive(Message)]
struct MessageDesc {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, repeated, tag = "3")]
    nested_type: Vec<MessageDesc>,
    #[prost(message, repeated, tag = "4")]
    enum_type: Vec<Named>,
    #[prost(message, repeated, tag = "6")]
    extension: Vec<FieldDesc>,
}

/// `FieldDescriptorProto`, as an extension.
#[derive(Message)]
struct FieldDesc {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    extendee: String,
    #[prost(int32, tag = "3")]
    number: i32,
}

/// `ServiceDescriptorProto`.
#[derive(Message)]
struct ServiceDesc {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, repeated, tag = "2")]
    method: Vec<Named>,
}

/// Any descriptor of which only the name is read.
#[derive(Message)]
struct Named {
    #[prost(string, tag = "1")]
    name: String,
}

/// What the service answers from: every file, indexed.
#[derive(Debug, Default)]
struct Index {
    /// Each file's encoded descriptor and the files it imports.
    files: Vec<(Bytes, Vec<String>)>,
    by_name: HashMap<String, usize>,
    /// Fully qualified symbols (no leading dot) to their file.
    symbols: HashMap<String, usize>,
    /// (extended message, field number) to the extension's file.
    extensions: HashMap<(String, i32), usize>,
    services: Vec<String>,
}

fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

impl Index {
    fn add_set(&mut self, encoded: &[u8]) -> Result<(), prost::DecodeError> {
        let set = RawSet::decode(encoded)?;
        for raw in set.file {
            let file = FileDesc::decode(raw.clone())?;
            if self.by_name.contains_key(&file.name) {
                // The same file from another package's set.
                continue;
            }
            let i = self.files.len();
            self.by_name.insert(file.name.clone(), i);
            let pkg = &file.package;
            for m in &file.message_type {
                self.add_message(pkg, m, i);
            }
            for e in &file.enum_type {
                self.symbols.insert(qualify(pkg, &e.name), i);
            }
            for x in &file.extension {
                self.add_extension(pkg, x, i);
            }
            for s in &file.service {
                let full = qualify(pkg, &s.name);
                for m in &s.method {
                    self.symbols.insert(qualify(&full, &m.name), i);
                }
                self.symbols.insert(full.clone(), i);
                self.services.push(full);
            }
            self.files.push((raw, file.dependency));
        }
        Ok(())
    }

    fn add_message(&mut self, scope: &str, m: &MessageDesc, file: usize) {
        let full = qualify(scope, &m.name);
        for n in &m.nested_type {
            self.add_message(&full, n, file);
        }
        for e in &m.enum_type {
            self.symbols.insert(qualify(&full, &e.name), file);
        }
        for x in &m.extension {
            self.add_extension(&full, x, file);
        }
        self.symbols.insert(full, file);
    }

    fn add_extension(&mut self, scope: &str, x: &FieldDesc, file: usize) {
        self.symbols.insert(qualify(scope, &x.name), file);
        let extendee = x.extendee.trim_start_matches('.').to_owned();
        self.extensions.insert((extendee, x.number), file);
    }

    /// File `i` and every file it imports (each once, `i` first).
    fn with_imports(&self, i: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut todo = vec![i];
        while let Some(f) = todo.pop() {
            if !seen.insert(f) {
                continue;
            }
            let (raw, deps) = &self.files[f];
            out.push(raw.clone());
            // A dependency not in the set (a client may have it anyway)
            // is left out, not an error.
            todo.extend(deps.iter().rev().filter_map(|d| self.by_name.get(d)));
        }
        out
    }

    fn answer(&self, ask: Option<&Ask>) -> Answer {
        let files = |i: Option<&usize>, what: &str| match i {
            Some(&i) => Answer::FileDescriptorResponse(FileDescriptorResponse {
                file_descriptor_proto: self.with_imports(i),
            }),
            None => not_found(format!("{what} not found")),
        };
        match ask {
            Some(Ask::FileByFilename(name)) => {
                files(self.by_name.get(name), &format!("file {name:?}"))
            }
            Some(Ask::FileContainingSymbol(sym)) => files(
                self.symbols.get(sym.trim_start_matches('.')),
                &format!("symbol {sym:?}"),
            ),
            Some(Ask::FileContainingExtension(x)) => {
                let key = (
                    x.containing_type.trim_start_matches('.').to_owned(),
                    x.extension_number,
                );
                files(
                    self.extensions.get(&key),
                    &format!("extension {} of {:?}", key.1, key.0),
                )
            }
            Some(Ask::AllExtensionNumbersOfType(ty)) => {
                let ty = ty.trim_start_matches('.');
                if !self.symbols.contains_key(ty) {
                    return not_found(format!("type {ty:?} not found"));
                }
                let mut numbers: Vec<i32> = self
                    .extensions
                    .keys()
                    .filter(|(t, _)| t == ty)
                    .map(|&(_, n)| n)
                    .collect();
                numbers.sort_unstable();
                Answer::AllExtensionNumbersResponse(ExtensionNumberResponse {
                    base_type_name: ty.to_owned(),
                    extension_number: numbers,
                })
            }
            Some(Ask::ListServices(_)) => Answer::ListServicesResponse(ListServiceResponse {
                service: self
                    .services
                    .iter()
                    .map(|name| ServiceResponse { name: name.clone() })
                    .collect(),
            }),
            None => Answer::ErrorResponse(ErrorResponse {
                error_code: Code::InvalidArgument as i32,
                error_message: "the request asks nothing".to_owned(),
            }),
        }
    }
}

fn not_found(message: String) -> Answer {
    Answer::ErrorResponse(ErrorResponse {
        error_code: Code::NotFound as i32,
        error_message: message,
    })
}

/// The descriptors a reflection service answers from; built once, then
/// made into the service with [`service`](Reflection::service).
#[derive(Debug, Default)]
pub struct Reflection {
    index: Index,
}

/// A descriptor set that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("a file descriptor set does not decode: {0}")]
pub struct DescriptorError(#[from] prost::DecodeError);

impl Reflection {
    /// Knows nothing yet.
    pub fn new() -> Reflection {
        Reflection::default()
    }

    /// Adds the files of an encoded `google.protobuf.FileDescriptorSet`
    /// (a generated package's `FILE_DESCRIPTOR_SET`). A file added twice
    /// is kept once.
    pub fn file_descriptor_set(mut self, encoded: &[u8]) -> Result<Reflection, DescriptorError> {
        self.index.add_set(encoded)?;
        Ok(self)
    }

    /// The services the descriptors define, full names.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.index.services.iter().map(String::as_str)
    }

    /// The reflection service, for
    /// [`ServerBuilder::grpc`](crate::server::ServerBuilder::grpc).
    pub fn service(self) -> ReflectionService {
        ReflectionService(Arc::new(self.index))
    }
}

/// The reflection service (v1 and v1alpha); see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ReflectionService(Arc<Index>);

impl GrpcService for ReflectionService {
    const NAME: &'static str = "grpc.reflection.v1.ServerReflection";

    fn register(self, router: Router) -> Router {
        let (v1, v1alpha) = (self.0.clone(), self.0);
        router
            .bidi_streaming(INFO_V1, move |req, tx| info(v1.clone(), req, tx))
            .bidi_streaming(INFO_V1ALPHA, move |req, tx| info(v1alpha.clone(), req, tx))
    }
}

/// One reflection stream: an answer per request, in order, until the
/// client ends its side.
async fn info(
    index: Arc<Index>,
    req: Request<Streaming<ReflectionRequest>>,
    mut tx: ResponseSink<ReflectionResponse>,
) -> Result<(), Status> {
    let mut requests = req.into_inner();
    while let Some(r) = requests.message().await? {
        let answer = index.answer(r.message_request.as_ref());
        tx.send(ReflectionResponse {
            valid_host: r.host.clone(),
            original_request: Some(r),
            message_response: Some(answer),
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set of two files written with the index's own descriptor types
    /// (encoding is what prost derives; the index reads its own shape).
    fn set() -> Vec<u8> {
        #[derive(Message)]
        struct Set {
            #[prost(message, repeated, tag = "1")]
            file: Vec<FileDesc>,
        }
        let named = |n: &str| Named { name: n.into() };
        let common = FileDesc {
            name: "common.proto".into(),
            package: "shop".into(),
            dependency: vec![],
            message_type: vec![MessageDesc {
                name: "Money".into(),
                nested_type: vec![],
                enum_type: vec![named("Currency")],
                extension: vec![],
            }],
            enum_type: vec![],
            service: vec![],
            extension: vec![],
        };
        let shop = FileDesc {
            name: "shop.proto".into(),
            package: "shop".into(),
            dependency: vec!["common.proto".into(), "elsewhere.proto".into()],
            message_type: vec![MessageDesc {
                name: "Order".into(),
                nested_type: vec![MessageDesc {
                    name: "Line".into(),
                    nested_type: vec![],
                    enum_type: vec![],
                    extension: vec![],
                }],
                enum_type: vec![],
                extension: vec![],
            }],
            enum_type: vec![named("State")],
            service: vec![ServiceDesc {
                name: "Shop".into(),
                method: vec![named("Buy")],
            }],
            extension: vec![FieldDesc {
                name: "note".into(),
                extendee: ".shop.Order".into(),
                number: 100,
            }],
        };
        Set {
            file: vec![common, shop],
        }
        .encode_to_vec()
    }

    fn names(a: &Answer) -> Vec<String> {
        let Answer::FileDescriptorResponse(r) = a else {
            panic!("not files: {a:?}");
        };
        r.file_descriptor_proto
            .iter()
            .map(|b| FileDesc::decode(b.clone()).unwrap().name)
            .collect()
    }

    #[test]
    fn symbols_find_their_file_and_its_imports() {
        let r = Reflection::new().file_descriptor_set(&set()).unwrap();
        let ix = &r.index;
        assert_eq!(r.services().collect::<Vec<_>>(), ["shop.Shop"]);
        for sym in [
            "shop.Shop",
            ".shop.Shop.Buy",
            "shop.Order",
            "shop.Order.Line",
            "shop.State",
            "shop.note",
        ] {
            let a = ix.answer(Some(&Ask::FileContainingSymbol(sym.into())));
            assert_eq!(names(&a), ["shop.proto", "common.proto"], "{sym}");
        }
        let a = ix.answer(Some(&Ask::FileContainingSymbol(
            "shop.Money.Currency".into(),
        )));
        assert_eq!(names(&a), ["common.proto"]);
        let a = ix.answer(Some(&Ask::FileByFilename("common.proto".into())));
        assert_eq!(names(&a), ["common.proto"]);
        let a = ix.answer(Some(&Ask::FileContainingExtension(ExtensionRequest {
            containing_type: "shop.Order".into(),
            extension_number: 100,
        })));
        assert_eq!(names(&a), ["shop.proto", "common.proto"]);
        assert_eq!(
            ix.answer(Some(&Ask::AllExtensionNumbersOfType("shop.Order".into()))),
            Answer::AllExtensionNumbersResponse(ExtensionNumberResponse {
                base_type_name: "shop.Order".into(),
                extension_number: vec![100],
            })
        );
    }

    #[test]
    fn unknown_names_are_not_found_and_bad_sets_are_errors() {
        let r = Reflection::new()
            .file_descriptor_set(&set())
            .unwrap()
            // The same files again are kept once.
            .file_descriptor_set(&set())
            .unwrap();
        assert_eq!(r.index.files.len(), 2);
        for ask in [
            Ask::FileContainingSymbol("shop.Nope".into()),
            Ask::FileByFilename("nope.proto".into()),
            Ask::AllExtensionNumbersOfType("shop.Nope".into()),
        ] {
            let Answer::ErrorResponse(e) = r.index.answer(Some(&ask)) else {
                panic!("{ask:?} was answered");
            };
            assert_eq!(e.error_code, Code::NotFound as i32);
        }
        assert!(
            Reflection::new()
                .file_descriptor_set(&[0x0a, 0x05, 1])
                .is_err()
        );
    }
}
