//! The run-time description of an IDL: its services, their methods, and
//! every type their arguments, results and exceptions use, resolved by
//! `ringrpc-thrift-idl` (the parser and resolver `ringrpc-build` uses).
//!
//! Types refer to structs and enums by index into [`Types`], so recursive
//! types need no reference counting. Each method gets two synthesized
//! structs, the ones Apache Thrift, Kitex and Volo put on the wire: its
//! arguments (`<method>_args`, the parameters as fields) and its result
//! (`<method>_result`: field 0 `success` unless the method is `void`, then
//! one optional field per declared exception).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ringrpc_codec::thrift::TType;
use ringrpc_thrift_idl::model::{ConstValue, Definition, Field, Requiredness, Span, StructKind};
use ringrpc_thrift_idl::program::{ConstRef, DefId, Program, Ty};
use rustc_hash::FxHashMap;

use crate::value::{StructValue, Value};
use crate::{Error, Result};

/// A struct, union or exception (or a method's arguments or result) in
/// [`Types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StructId(pub(crate) u32);

/// An enum in [`Types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnumId(pub(crate) u32);

/// A resolved type: typedefs seen through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeDesc {
    /// `bool`.
    Bool,
    /// `i8` / `byte`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `double`.
    Double,
    /// `string`.
    String,
    /// `binary`.
    Binary,
    /// `uuid`.
    Uuid,
    /// `list<T>`.
    List(Box<TypeDesc>),
    /// `set<T>`.
    Set(Box<TypeDesc>),
    /// `map<K, V>`.
    Map(Box<TypeDesc>, Box<TypeDesc>),
    /// An enum (an `i32` on the wire).
    Enum(EnumId),
    /// A struct, union or exception.
    Struct(StructId),
}

impl TypeDesc {
    /// The type's id on the wire.
    pub fn ttype(&self) -> TType {
        match self {
            TypeDesc::Bool => TType::Bool,
            TypeDesc::I8 => TType::I8,
            TypeDesc::I16 => TType::I16,
            TypeDesc::I32 | TypeDesc::Enum(_) => TType::I32,
            TypeDesc::I64 => TType::I64,
            TypeDesc::Double => TType::Double,
            TypeDesc::String | TypeDesc::Binary => TType::Binary,
            TypeDesc::Uuid => TType::Uuid,
            TypeDesc::List(_) => TType::List,
            TypeDesc::Set(_) => TType::Set,
            TypeDesc::Map(..) => TType::Map,
            TypeDesc::Struct(_) => TType::Struct,
        }
    }

    /// Whether a map keyed by this type is a JSON object (its keys written
    /// as strings); otherwise it is an array of `[key, value]` pairs.
    pub fn is_scalar_key(&self) -> bool {
        !matches!(
            self,
            TypeDesc::List(_) | TypeDesc::Set(_) | TypeDesc::Map(..) | TypeDesc::Struct(_)
        )
    }
}

/// A field of a struct, or an argument, or a declared exception.
#[derive(Debug, Clone)]
pub struct FieldDesc {
    /// The id on the wire.
    pub id: i16,
    /// The name as the IDL spells it (the JSON key).
    pub name: Arc<str>,
    /// The type.
    pub ty: TypeDesc,
    /// `required`, `optional`, or neither.
    pub req: Requiredness,
    /// The IDL's default value, if one is written.
    pub default: Option<Value>,
}

/// A struct, union, exception, or a method's arguments or result.
#[derive(Debug, Clone)]
pub struct StructDesc {
    /// The name (`<method>_args` / `<method>_result` for the synthesized
    /// ones).
    pub name: String,
    /// Which kind (`Struct` for arguments and results).
    pub kind: StructKind,
    /// The fields, in declaration order.
    pub fields: Vec<FieldDesc>,
    /// Indexes of the fields that must be present (required, with no
    /// default to write in their place).
    pub(crate) required: Vec<u16>,
    /// Indexes of the fields written with their default when absent.
    pub(crate) defaulted: Vec<u16>,
    by_name: FxHashMap<Arc<str>, u16>,
}

impl StructDesc {
    fn new(name: String, kind: StructKind, fields: Vec<FieldDesc>) -> Self {
        let by_name = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i as u16))
            .collect();
        let required = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.req == Requiredness::Required && f.default.is_none())
            .map(|(i, _)| i as u16)
            .collect();
        let defaulted = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.req != Requiredness::Optional && f.default.is_some())
            .map(|(i, _)| i as u16)
            .collect();
        Self {
            name,
            kind,
            fields,
            required,
            defaulted,
            by_name,
        }
    }

    /// The index of the field named `name`; `hint` is tried first (the
    /// field after the last one found: JSON usually lists fields in
    /// declaration order).
    #[inline]
    pub(crate) fn field_by_name(&self, name: &str, hint: usize) -> Option<usize> {
        if let Some(f) = self.fields.get(hint)
            && &*f.name == name
        {
            return Some(hint);
        }
        if self.fields.len() <= 8 {
            return self.fields.iter().position(|f| &*f.name == name);
        }
        self.by_name.get(name).map(|&i| usize::from(i))
    }

    /// The index of the field with id `id`; `hint` is tried first.
    #[inline]
    pub(crate) fn field_by_id(&self, id: i16, hint: usize) -> Option<usize> {
        if let Some(f) = self.fields.get(hint)
            && f.id == id
        {
            return Some(hint);
        }
        self.fields.iter().position(|f| f.id == id)
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&FieldDesc> {
        self.field_by_name(name, 0).map(|i| &self.fields[i])
    }
}

/// An enum.
#[derive(Debug, Clone)]
pub struct EnumDesc {
    /// The name.
    pub name: String,
    /// The values, in declaration order.
    pub values: Vec<(Arc<str>, i32)>,
}

impl EnumDesc {
    /// The value named `name`.
    pub fn value_of(&self, name: &str) -> Option<i32> {
        self.values.iter().find(|(n, _)| &**n == name).map(|v| v.1)
    }

    /// The name of `value`, if it is declared.
    pub fn name_of(&self, value: i32) -> Option<&str> {
        self.values
            .iter()
            .find(|(_, v)| *v == value)
            .map(|(n, _)| &**n)
    }
}

/// Every struct and enum of an IDL.
#[derive(Debug, Default)]
pub struct Types {
    structs: Vec<StructDesc>,
    enums: Vec<EnumDesc>,
}

impl Types {
    /// The struct `id` names.
    #[inline]
    pub fn get(&self, id: StructId) -> &StructDesc {
        &self.structs[id.0 as usize]
    }

    /// The enum `id` names.
    #[inline]
    pub fn enum_desc(&self, id: EnumId) -> &EnumDesc {
        &self.enums[id.0 as usize]
    }

    /// How a type is written in IDL (`list<Xtruct>`, `map<i32,string>`).
    pub fn type_name(&self, ty: &TypeDesc) -> String {
        match ty {
            TypeDesc::Bool => "bool".into(),
            TypeDesc::I8 => "i8".into(),
            TypeDesc::I16 => "i16".into(),
            TypeDesc::I32 => "i32".into(),
            TypeDesc::I64 => "i64".into(),
            TypeDesc::Double => "double".into(),
            TypeDesc::String => "string".into(),
            TypeDesc::Binary => "binary".into(),
            TypeDesc::Uuid => "uuid".into(),
            TypeDesc::List(t) => format!("list<{}>", self.type_name(t)),
            TypeDesc::Set(t) => format!("set<{}>", self.type_name(t)),
            TypeDesc::Map(k, v) => format!("map<{},{}>", self.type_name(k), self.type_name(v)),
            TypeDesc::Enum(e) => self.enum_desc(*e).name.clone(),
            TypeDesc::Struct(s) => self.get(*s).name.clone(),
        }
    }
}

/// A service method.
#[derive(Debug, Clone)]
pub struct MethodDesc {
    /// The name on the wire.
    pub name: Arc<str>,
    /// `oneway`: no reply.
    pub oneway: bool,
    /// The arguments struct.
    pub args: StructId,
    /// The result struct (`success` at id 0 unless `void`, then the
    /// declared exceptions).
    pub result: StructId,
    /// The return type; `None` for `void`.
    pub ret: Option<TypeDesc>,
}

/// A service, with the methods of the services it extends.
#[derive(Debug, Clone)]
pub struct ServiceDesc {
    /// The name (what Kitex sends as `isn`).
    pub name: String,
    /// The IDL file that declares it.
    pub file: PathBuf,
    /// Its methods, then those of the services it extends.
    pub methods: Vec<MethodDesc>,
}

impl ServiceDesc {
    /// The method named `name`.
    pub fn method(&self, name: &str) -> Option<&MethodDesc> {
        self.methods.iter().find(|m| &*m.name == name)
    }
}

/// An IDL loaded at run time: its services and types. Cheap to clone
/// (shared), `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Idl {
    inner: Arc<IdlInner>,
}

#[derive(Debug)]
struct IdlInner {
    types: Types,
    services: Vec<ServiceDesc>,
    by_name: HashMap<String, Option<usize>>,
    structs_by_name: HashMap<String, Option<StructId>>,
}

/// How deep a constant may refer to other constants before it is called a
/// loop.
const MAX_CONST_DEPTH: usize = 64;

impl Idl {
    /// Loads `files` and every file they include (searched next to the
    /// including file, then in `include_dirs`, as `thrift -I`). Errors
    /// name the file, line and column.
    pub fn load(files: &[impl AsRef<Path>], include_dirs: &[impl AsRef<Path>]) -> Result<Idl> {
        let roots: Vec<PathBuf> = files.iter().map(|f| f.as_ref().to_path_buf()).collect();
        let dirs: Vec<PathBuf> = include_dirs
            .iter()
            .map(|d| d.as_ref().to_path_buf())
            .collect();
        let program = Program::load(&roots, &dirs)?;
        Builder::new(&program).build()
    }

    /// Every struct and enum.
    pub fn types(&self) -> &Types {
        &self.inner.types
    }

    /// Every service, the root files' first.
    pub fn services(&self) -> &[ServiceDesc] {
        &self.inner.services
    }

    /// The service named `name` (`Name`, or `file.Name` with the file's
    /// stem when two files declare one of that name).
    pub fn service(&self, name: &str) -> Result<&ServiceDesc> {
        match self.inner.by_name.get(name) {
            Some(Some(i)) => Ok(&self.inner.services[*i]),
            Some(None) => Err(Error::AmbiguousService(name.to_owned())),
            None => Err(Error::UnknownService(name.to_owned())),
        }
    }

    /// The struct, union or exception named `name` (`Name`, or `file.Name`
    /// with the file's stem when two files declare one of that name).
    pub fn struct_id(&self, name: &str) -> Result<StructId> {
        match self.inner.structs_by_name.get(name) {
            Some(Some(id)) => Ok(*id),
            _ => Err(Error::UnknownType(name.to_owned())),
        }
    }

    /// The method `method` of the service `service`.
    pub fn method(&self, service: &str, method: &str) -> Result<&MethodDesc> {
        let svc = self.service(service)?;
        svc.method(method).ok_or_else(|| Error::UnknownMethod {
            service: svc.name.clone(),
            method: method.to_owned(),
        })
    }
}

/// Turns a resolved program into descriptors.
struct Builder<'p> {
    program: &'p Program,
    struct_ids: HashMap<DefId, StructId>,
    enum_ids: HashMap<DefId, EnumId>,
    types: Types,
}

impl<'p> Builder<'p> {
    fn new(program: &'p Program) -> Self {
        Self {
            program,
            struct_ids: HashMap::new(),
            enum_ids: HashMap::new(),
            types: Types::default(),
        }
    }

    fn build(mut self) -> Result<Idl> {
        let p = self.program;
        // Ids first (types refer to each other in any order), then bodies.
        let mut struct_defs = Vec::new();
        let mut structs_by_name: HashMap<String, Option<StructId>> = HashMap::new();
        for (fi, f) in p.files.iter().enumerate() {
            for (index, d) in f.doc.definitions.iter().enumerate() {
                let id = DefId { file: fi, index };
                match d {
                    Definition::Struct(s) => {
                        let sid = StructId(self.types.structs.len() as u32);
                        self.struct_ids.insert(id, sid);
                        structs_by_name
                            .entry(s.name.clone())
                            .and_modify(|e| *e = None)
                            .or_insert(Some(sid));
                        structs_by_name.insert(format!("{}.{}", f.stem, s.name), Some(sid));
                        self.types.structs.push(StructDesc::new(
                            s.name.clone(),
                            s.kind,
                            Vec::new(),
                        ));
                        struct_defs.push(id);
                    }
                    Definition::Enum(e) => {
                        self.enum_ids
                            .insert(id, EnumId(self.types.enums.len() as u32));
                        self.types.enums.push(EnumDesc {
                            name: e.name.clone(),
                            values: e
                                .values
                                .iter()
                                .map(|v| (Arc::from(v.name.as_str()), v.value))
                                .collect(),
                        });
                    }
                    _ => {}
                }
            }
        }
        for id in struct_defs {
            let s = p.struct_def(id);
            let fields = self.fields(id.file, &s.fields)?;
            let sid = self.struct_ids[&id];
            self.types.structs[sid.0 as usize] = StructDesc::new(s.name.clone(), s.kind, fields);
        }
        let mut services = Vec::new();
        let mut by_name: HashMap<String, Option<usize>> = HashMap::new();
        let mut order: Vec<usize> = p.roots.clone();
        order.extend((0..p.files.len()).filter(|i| !p.roots.contains(i)));
        for fi in order {
            let f = &p.files[fi];
            for d in &f.doc.definitions {
                let Definition::Service(svc) = d else {
                    continue;
                };
                let mut methods = Vec::new();
                let mut current = Some((fi, svc));
                let mut hops = 0;
                while let Some((file, s)) = current {
                    for func in &s.functions {
                        methods.push(self.method(file, func)?);
                    }
                    hops += 1;
                    current = match p.base_service(file, s)? {
                        Some(b) if hops < MAX_CONST_DEPTH => match p.def(b) {
                            Definition::Service(bs) => Some((b.file, bs)),
                            _ => None,
                        },
                        _ => None,
                    };
                }
                let idx = services.len();
                services.push(ServiceDesc {
                    name: svc.name.clone(),
                    file: f.path.clone(),
                    methods,
                });
                by_name
                    .entry(svc.name.clone())
                    .and_modify(|e| *e = None)
                    .or_insert(Some(idx));
                by_name.insert(format!("{}.{}", f.stem, svc.name), Some(idx));
            }
        }
        Ok(Idl {
            inner: Arc::new(IdlInner {
                types: self.types,
                services,
                by_name,
                structs_by_name,
            }),
        })
    }

    fn method(
        &mut self,
        file: usize,
        func: &ringrpc_thrift_idl::model::Function,
    ) -> Result<MethodDesc> {
        let args = self.fields(file, &func.args)?;
        let args = self.push_struct(format!("{}_args", func.name), args);
        let ret = match &func.ret {
            Some(t) => Some(self.ty(&self.program.resolve(file, t)?)),
            None => None,
        };
        let mut result = Vec::new();
        if let Some(t) = &ret {
            result.push(FieldDesc {
                id: 0,
                name: Arc::from("success"),
                ty: t.clone(),
                req: Requiredness::Optional,
                default: None,
            });
        }
        for mut f in self.fields(file, &func.throws)? {
            f.req = Requiredness::Optional;
            f.default = None;
            result.push(f);
        }
        let result = self.push_struct(format!("{}_result", func.name), result);
        Ok(MethodDesc {
            name: Arc::from(func.name.as_str()),
            oneway: func.oneway,
            args,
            result,
            ret,
        })
    }

    fn push_struct(&mut self, name: String, fields: Vec<FieldDesc>) -> StructId {
        let id = StructId(self.types.structs.len() as u32);
        self.types
            .structs
            .push(StructDesc::new(name, StructKind::Struct, fields));
        id
    }

    fn fields(&self, file: usize, fields: &[Field]) -> Result<Vec<FieldDesc>> {
        fields
            .iter()
            .map(|f| {
                let ty = self.ty(&self.program.resolve(file, &f.ty)?);
                let default = match &f.default {
                    Some(v) => Some(self.constant(file, &ty, v, f.span, 0)?),
                    None => None,
                };
                Ok(FieldDesc {
                    id: f.id,
                    name: Arc::from(f.name.as_str()),
                    ty,
                    req: f.req,
                    default,
                })
            })
            .collect()
    }

    fn ty(&self, t: &Ty) -> TypeDesc {
        match t {
            Ty::Bool => TypeDesc::Bool,
            Ty::I8 => TypeDesc::I8,
            Ty::I16 => TypeDesc::I16,
            Ty::I32 => TypeDesc::I32,
            Ty::I64 => TypeDesc::I64,
            Ty::Double => TypeDesc::Double,
            Ty::String => TypeDesc::String,
            Ty::Binary => TypeDesc::Binary,
            Ty::Uuid => TypeDesc::Uuid,
            Ty::List(e) => TypeDesc::List(Box::new(self.ty(e))),
            Ty::Set(e) => TypeDesc::Set(Box::new(self.ty(e))),
            Ty::Map(k, v) => TypeDesc::Map(Box::new(self.ty(k)), Box::new(self.ty(v))),
            Ty::Enum(id) => TypeDesc::Enum(self.enum_ids[id]),
            Ty::Struct(id) => TypeDesc::Struct(self.struct_ids[id]),
        }
    }

    /// A constant written in `file` as a value of `ty`.
    fn constant(
        &self,
        file: usize,
        ty: &TypeDesc,
        v: &ConstValue,
        span: Span,
        depth: usize,
    ) -> Result<Value> {
        let p = self.program;
        if depth > MAX_CONST_DEPTH {
            return Err(p.error(file, span, "constant refers to itself").into());
        }
        let mismatch = || -> Error {
            p.error(
                file,
                span,
                format!(
                    "default value {v:?} does not fit type {}",
                    self.types_name(ty)
                ),
            )
            .into()
        };
        if let ConstValue::Identifier { name, span: at } = v {
            // An enum's value named by its last part, in the field's enum
            // (as Apache Thrift reads `1: MyEnum2 x = MyEnum1.ME2_2`).
            if let TypeDesc::Enum(e) = ty
                && let Some(last) = name.rsplit('.').next()
                && let Some(n) = self.types.enum_desc(*e).value_of(last)
            {
                return Ok(Value::I32(n));
            }
            return match p.find_const(file, name, *at)? {
                ConstRef::Const(id) => match p.def(id) {
                    Definition::Const(c) => self.constant(id.file, ty, &c.value, c.span, depth + 1),
                    _ => Err(mismatch()),
                },
                ConstRef::EnumValue { value, .. } => match ty {
                    TypeDesc::Enum(_) | TypeDesc::I32 => Ok(Value::I32(value)),
                    _ => Err(mismatch()),
                },
            };
        }
        Ok(match (ty, v) {
            (TypeDesc::Bool, ConstValue::Bool(b)) => Value::Bool(*b),
            (TypeDesc::Bool, ConstValue::Int(i)) => Value::Bool(*i != 0),
            (TypeDesc::I8, ConstValue::Int(i)) => {
                Value::I8(i8::try_from(*i).map_err(|_| mismatch())?)
            }
            (TypeDesc::I16, ConstValue::Int(i)) => {
                Value::I16(i16::try_from(*i).map_err(|_| mismatch())?)
            }
            (TypeDesc::I32 | TypeDesc::Enum(_), ConstValue::Int(i)) => {
                Value::I32(i32::try_from(*i).map_err(|_| mismatch())?)
            }
            (TypeDesc::I64, ConstValue::Int(i)) => Value::I64(*i),
            (TypeDesc::Double, ConstValue::Int(i)) => Value::Double(*i as f64),
            (TypeDesc::Double, ConstValue::Double(d)) => Value::Double(*d),
            (TypeDesc::String, ConstValue::String(s)) => Value::String(s.as_str().into()),
            (TypeDesc::Binary, ConstValue::String(s)) => {
                Value::Binary(bytes::Bytes::copy_from_slice(s.as_bytes()))
            }
            (TypeDesc::Uuid, ConstValue::String(s)) => {
                Value::Uuid(crate::json::parse_uuid(s).ok_or_else(mismatch)?)
            }
            (TypeDesc::List(e), ConstValue::List(items)) => Value::List(
                items
                    .iter()
                    .map(|i| self.constant(file, e, i, span, depth + 1))
                    .collect::<Result<_>>()?,
            ),
            (TypeDesc::Set(e), ConstValue::List(items)) => Value::Set(
                items
                    .iter()
                    .map(|i| self.constant(file, e, i, span, depth + 1))
                    .collect::<Result<_>>()?,
            ),
            // `{}` for an empty list or set, as Apache Thrift accepts it.
            (TypeDesc::List(_), ConstValue::Map(e)) if e.is_empty() => Value::List(Vec::new()),
            (TypeDesc::Set(_), ConstValue::Map(e)) if e.is_empty() => Value::Set(Vec::new()),
            (TypeDesc::Map(k, val), ConstValue::Map(entries)) => Value::Map(
                entries
                    .iter()
                    .map(|(a, b)| {
                        Ok((
                            self.constant(file, k, a, span, depth + 1)?,
                            self.constant(file, val, b, span, depth + 1)?,
                        ))
                    })
                    .collect::<Result<_>>()?,
            ),
            (TypeDesc::Struct(sid), ConstValue::Map(entries)) => {
                // The struct's own fields are filled in `build` after this
                // runs for earlier structs; look its definition up instead.
                let def = self
                    .struct_ids
                    .iter()
                    .find(|(_, v)| *v == sid)
                    .map(|(k, _)| *k)
                    .ok_or_else(mismatch)?;
                let s = p.struct_def(def);
                let mut out = StructValue::default();
                for (k, val) in entries {
                    let ConstValue::String(key) = k else {
                        return Err(mismatch());
                    };
                    let f = s
                        .fields
                        .iter()
                        .find(|f| &f.name == key)
                        .ok_or_else(mismatch)?;
                    let fty = self.ty(&p.resolve(def.file, &f.ty)?);
                    out.set(
                        key.as_str(),
                        self.constant(file, &fty, val, span, depth + 1)?,
                    );
                }
                Value::Struct(out)
            }
            _ => return Err(mismatch()),
        })
    }

    fn types_name(&self, ty: &TypeDesc) -> String {
        match ty {
            TypeDesc::Struct(_) | TypeDesc::Enum(_) => format!("{ty:?}"),
            _ => self.types.type_name(ty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thrift_test() -> Idl {
        let idl = concat!(env!("CARGO_MANIFEST_DIR"), "/../idl/ThriftTest.thrift");
        Idl::load(&[idl], &[] as &[&str]).unwrap()
    }

    #[test]
    fn thrift_test_loads_with_its_methods_and_result_structs() {
        let idl = thrift_test();
        let svc = idl.service("ThriftTest").unwrap();
        assert!(svc.methods.len() > 20);
        let m = idl.method("ThriftTest", "testException").unwrap();
        let t = idl.types();
        let result = t.get(m.result);
        let names: Vec<_> = result.fields.iter().map(|f| (f.id, &*f.name)).collect();
        assert_eq!(names, [(1, "err1")]);
        assert_eq!(t.get(m.args).fields[0].name.as_ref(), "arg");
        let m = idl.method("ThriftTest", "testStruct").unwrap();
        assert_eq!(t.type_name(m.ret.as_ref().unwrap()), "Xtruct");
        assert!(idl.method("ThriftTest", "nope").is_err());
        assert!(matches!(idl.service("Nope"), Err(Error::UnknownService(_))));
        // `SecondService` and the extends chain resolve too.
        assert!(idl.service("SecondService").is_ok());
    }

    #[test]
    fn defaults_are_typed_values() {
        let idl = thrift_test();
        let t = idl.types();
        let named = |n: &str| t.structs.iter().find(|s| s.name == n).unwrap();
        let b = named("BoolTest");
        assert_eq!(b.field("b").unwrap().default, Some(Value::Bool(true)));
        assert_eq!(
            b.field("s").unwrap().default,
            Some(Value::String("true".into()))
        );
        let o = named("OptionalSetDefaultTest");
        assert_eq!(
            o.field("with_default").unwrap().default,
            Some(Value::Set(vec![Value::String("test".into())]))
        );
        assert_eq!(
            named("OptionalBinary").field("bin_set").unwrap().default,
            Some(Value::Set(vec![]))
        );
        // Optional fields are never written for their default; required
        // ones without a default must be given.
        assert!(b.defaulted.is_empty());
        assert_eq!(named("StructB").required, [1]);
    }
}
