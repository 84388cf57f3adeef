//! The Rust names of a package's services: unique in the package's module
//! next to what prost wrote there, and, for methods, in their service.
//!
//! prost converts names without looking for clashes (`HelloRequest` and
//! `Hello_Request` are one `HelloRequest`, and the build fails); its
//! conversions are kept here (`to_upper_camel` for the service, `to_snake`
//! for methods, keywords as raw identifiers, `Self` as `Self_`), and what
//! the service adds is made unique by the rule the Thrift output follows
//! (see the crate docs, "Names"):
//!
//! - in the module: what prost wrote keeps its name; then each service's
//!   trait, in declaration order; then each service's `<Trait>Server` and
//!   `<Trait>Client`. A name already taken gets a counter from 2
//!   (`GreeterClient2`; `Api2_2` after a digit);
//! - in a service: `new` and `channel` are the client's own; then the
//!   methods whose `.proto` name is already `snake_case` keep it; then the
//!   others, in declaration order, get prost's name or it with a counter
//!   (`get_item_2`).
//!
//! Paths on the wire (`/package.Service/Method`) always keep the `.proto`
//! names.

use std::collections::HashSet;

use proc_macro2::{Ident, Span};

/// The names generated for one service.
#[derive(Debug, Clone)]
pub(super) struct ServiceNames {
    /// The handler trait.
    pub(super) handler: String,
    pub(super) server: String,
    pub(super) client: String,
    /// Per method, in declaration order.
    pub(super) methods: Vec<String>,
}

/// The client's own methods, which no RPC method may take.
const CLIENT_RESERVED: &[&str] = &["new", "channel"];

/// Names `services` (one package's, in declaration order) next to the
/// names `taken` in their module, and adds the names it gives to `taken`.
pub(super) fn name_services(
    taken: &mut HashSet<String>,
    services: &[&prost_build::Service],
) -> Vec<ServiceNames> {
    let handlers: Vec<String> = services
        .iter()
        .map(|s| claim(taken, &s.name, Case::UpperCamel))
        .collect();
    services
        .iter()
        .zip(handlers)
        .map(|(s, handler)| {
            // A `Self_` (prost's escape of `Self`) derives `SelfServer`.
            let stem = handler.strip_suffix('_').unwrap_or(&handler);
            let server = claim(taken, &format!("{stem}Server"), Case::UpperCamel);
            let client = claim(taken, &format!("{stem}Client"), Case::UpperCamel);
            ServiceNames {
                methods: name_methods(s),
                handler,
                server,
                client,
            }
        })
        .collect()
}

fn name_methods(s: &prost_build::Service) -> Vec<String> {
    let mut taken: HashSet<String> = CLIENT_RESERVED.iter().map(|&n| n.to_owned()).collect();
    let mut names: Vec<Option<String>> = vec![None; s.methods.len()];
    let already_snake = |m: &prost_build::Method| unraw(&m.name) == m.proto_name;
    for pass_snake in [true, false] {
        for (i, m) in s.methods.iter().enumerate() {
            if names[i].is_none() && already_snake(m) == pass_snake {
                names[i] = Some(claim(&mut taken, &m.name, Case::Snake));
            }
        }
    }
    names.into_iter().flatten().collect()
}

#[derive(Clone, Copy)]
enum Case {
    Snake,
    UpperCamel,
}

/// `name` (prost's form: `r#type`, `Self_`), or, when taken, `name` with
/// the first counter from 2 that is free; marks the result taken.
fn claim(taken: &mut HashSet<String>, name: &str, case: Case) -> String {
    if taken.insert(unraw(name).to_owned()) {
        return name.to_owned();
    }
    let base = unraw(name);
    let mut n = 2;
    loop {
        let candidate = match case {
            Case::Snake => format!("{base}_{n}"),
            Case::UpperCamel if base.ends_with(|c: char| c.is_ascii_digit()) => {
                format!("{base}_{n}")
            }
            Case::UpperCamel => format!("{base}{n}"),
        };
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// `type` for `r#type`.
pub(super) fn unraw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// The identifier for a name in prost's form (`r#type` is raw).
pub(super) fn ident(name: &str) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(name, Span::call_site()),
    }
}

/// The names of the items at the top of a module's code: what a service's
/// items must not take.
pub(super) fn item_names(file: &syn::File) -> HashSet<String> {
    file.items
        .iter()
        .filter_map(|item| {
            let ident = match item {
                syn::Item::Const(i) => &i.ident,
                syn::Item::Enum(i) => &i.ident,
                syn::Item::Fn(i) => &i.sig.ident,
                syn::Item::Mod(i) => &i.ident,
                syn::Item::Static(i) => &i.ident,
                syn::Item::Struct(i) => &i.ident,
                syn::Item::Trait(i) => &i.ident,
                syn::Item::Type(i) => &i.ident,
                syn::Item::Union(i) => &i.ident,
                _ => return None,
            };
            Some(unraw(&ident.to_string()).to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(proto: &str, rust: &str) -> prost_build::Method {
        prost_build::Method {
            name: rust.into(),
            proto_name: proto.into(),
            comments: Default::default(),
            input_type: "A".into(),
            output_type: "B".into(),
            input_proto_type: ".p.A".into(),
            output_proto_type: ".p.B".into(),
            options: Default::default(),
            client_streaming: false,
            server_streaming: false,
        }
    }

    fn service(name: &str, methods: Vec<prost_build::Method>) -> prost_build::Service {
        prost_build::Service {
            name: name.into(),
            proto_name: name.into(),
            package: "p".into(),
            comments: Default::default(),
            methods,
            options: Default::default(),
        }
    }

    #[test]
    fn service_items_yield_to_messages_and_traits() {
        let mut taken: HashSet<String> = ["GreeterClient".to_owned(), "Api2".to_owned()].into();
        let a = service("Greeter", vec![]);
        let b = service("GreeterServer", vec![]);
        let c = service("Api2", vec![]);
        let names = name_services(&mut taken, &[&a, &b, &c]);
        let got: Vec<[&str; 3]> = names
            .iter()
            .map(|n| [n.handler.as_str(), &n.server, &n.client])
            .collect();
        assert_eq!(
            got,
            [
                ["Greeter", "GreeterServer2", "GreeterClient2"],
                [
                    "GreeterServer",
                    "GreeterServerServer",
                    "GreeterServerClient"
                ],
                ["Api2_2", "Api2_2Server", "Api2_2Client"],
            ]
        );
        assert!(taken.contains("GreeterServer2") && taken.contains("Api2_2Client"));
    }

    #[test]
    fn self_service_derives_plain_names() {
        let s = service("Self_", vec![]);
        let names = name_services(&mut HashSet::new(), &[&s]);
        assert_eq!(names[0].handler, "Self_");
        assert_eq!(names[0].server, "SelfServer");
        assert_eq!(names[0].client, "SelfClient");
        assert_eq!(ident(&names[0].handler).to_string(), "Self_");
    }

    #[test]
    fn methods_snake_first_then_in_order_keywords_raw_reserved_suffixed() {
        let s = service(
            "S",
            vec![
                method("GetItem", "get_item"),
                method("get_item", "get_item"),
                method("getItem", "get_item"),
                method("type", "r#type"),
                method("New", "new"),
                method("Channel", "channel"),
            ],
        );
        let names = name_services(&mut HashSet::new(), &[&s]);
        assert_eq!(
            names[0].methods,
            [
                "get_item_2",
                "get_item",
                "get_item_3",
                "r#type",
                "new_2",
                "channel_2"
            ]
        );
        assert_eq!(ident("r#type").to_string(), "r#type");
    }

    #[test]
    fn top_level_item_names() {
        let file: syn::File = syn::parse_str(
            "pub struct A {} pub enum B {} pub mod c {} impl A {} pub trait D {} pub mod r#type {}",
        )
        .unwrap();
        let names = item_names(&file);
        let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["A", "B", "D", "c", "type"]);
    }
}
