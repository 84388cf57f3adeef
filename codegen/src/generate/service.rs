//! Services: per method, the argument and result structs exactly as Apache
//! Thrift defines them — `<Service><Method>Args` (the method's fields,
//! struct name `method_args`) and `<Service><Method>Result` (field 0
//! `success` unless `void`, then one optional field per declared exception,
//! struct name `method_result`; none for `oneway` methods).

use proc_macro2::TokenStream;
use quote::format_ident;

use super::structs::StructGen;
use super::{GResult, Generator, doc_attrs};
use crate::model::{Field, Function, Requiredness, Service, StructKind};
use crate::names;

impl Generator<'_> {
    /// Everything generated for one service.
    pub(crate) fn service_items(&self, s: &Service) -> GResult {
        self.program.base_service(self.file, s)?;
        let mut out = TokenStream::new();
        for f in &s.functions {
            out.extend(self.args_struct(s, f)?);
            if !f.oneway {
                out.extend(self.result_struct(s, f)?);
            }
        }
        Ok(out)
    }

    fn args_struct(&self, s: &Service, f: &Function) -> GResult {
        let g = StructGen {
            ident: format_ident!(
                "{}{}Args",
                names::upper_camel(&s.name),
                names::upper_camel(&f.name)
            ),
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
        let g = StructGen {
            ident: format_ident!(
                "{}{}Result",
                names::upper_camel(&s.name),
                names::upper_camel(&f.name)
            ),
            wire_name: format!("{}_result", f.name),
            kind: StructKind::Struct,
            doc: doc_attrs(&format!(
                "The result of `{}.{}` (Apache Thrift's `{}_result`): the return \
                 value in `success`{}, or one declared exception.",
                s.name,
                f.name,
                f.name,
                if f.ret.is_some() { "" } else { " (none: void)" }
            )),
            fields: self.field_gens(None, &fields)?,
        };
        self.struct_like(&g)
    }
}
