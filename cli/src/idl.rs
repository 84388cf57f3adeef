//! `ringrpc idl`: what a user types before calling.

use std::io::Write;

use ringrpc_generic::Idl;
use ringrpc_generic::descriptor::{FieldDesc, Types};
use ringrpc_thrift_idl::model::Requiredness;

use crate::{DECLARED, Failure, IdlArgs, OK};

pub(crate) const HELP: &str = "\
Lists every service of the IDL (and of the files it includes) with each method's
return type, arguments and declared exceptions, as `ringrpc call` takes them:
SERVICE.METHOD, and a JSON object keyed by the argument names.

With --check, only reads the IDL: prints `ok` or the first error as
FILE:LINE:COLUMN: MESSAGE, with exit status 1.

Examples:
  ringrpc idl idl/ThriftTest.thrift
  ringrpc idl --check -I idl/include service.thrift";

fn field(types: &Types, f: &FieldDesc, show_req: bool) -> String {
    let req = match f.req {
        Requiredness::Required if show_req => "required ",
        Requiredness::Optional if show_req => "optional ",
        _ => "",
    };
    format!("{}: {req}{} {}", f.id, types.type_name(&f.ty), f.name)
}

pub(crate) fn run(a: IdlArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let idl = match Idl::load(&[&a.file], &a.include) {
        Ok(idl) => idl,
        Err(e) if a.check => {
            writeln!(out, "{e}")?;
            return Ok(DECLARED);
        }
        Err(e) => return Err(e.into()),
    };
    let types = idl.types();
    if a.check {
        let methods: usize = idl.services().iter().map(|s| s.methods.len()).sum();
        writeln!(
            out,
            "ok: {} services, {methods} methods",
            idl.services().len()
        )?;
        return Ok(OK);
    }
    for svc in idl.services() {
        writeln!(out, "service {}  ({})", svc.name, svc.file.display())?;
        for m in &svc.methods {
            let args: Vec<String> = types
                .get(m.args)
                .fields
                .iter()
                .map(|f| field(types, f, true))
                .collect();
            let throws: Vec<String> = types
                .get(m.result)
                .fields
                .iter()
                .filter(|f| f.id != 0)
                .map(|f| field(types, f, false))
                .collect();
            let ret = m
                .ret
                .as_ref()
                .map_or_else(|| "void".to_owned(), |t| types.type_name(t));
            let oneway = if m.oneway { "oneway " } else { "" };
            write!(out, "  {oneway}{ret} {}({})", m.name, args.join(", "))?;
            if !throws.is_empty() {
                write!(out, " throws ({})", throws.join(", "))?;
            }
            writeln!(out)?;
        }
    }
    Ok(OK)
}
