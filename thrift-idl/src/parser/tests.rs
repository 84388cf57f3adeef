use super::*;

fn one(src: &str) -> Definition {
    let mut d = parse(src).unwrap();
    assert_eq!(d.definitions.len(), 1, "{src}");
    d.definitions.remove(0)
}

#[test]
fn headers() {
    let d = parse(
        "include \"a.thrift\"\ninclude 'dir/b.thrift';\ncpp_include \"x.h\"\n\
         namespace rs a.b\nnamespace * c\nnamespace py.twisted d\n\
         namespace xsd test (uri = 'http://x')\n",
    )
    .unwrap();
    let inc: Vec<_> = d.includes.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(inc, ["a.thrift", "dir/b.thrift"]);
    assert_eq!(d.includes[1].span.line, 2);
    let ns: Vec<_> = d
        .namespaces
        .iter()
        .map(|n| (n.scope.as_str(), n.name.as_str()))
        .collect();
    assert_eq!(
        ns,
        [
            ("rs", "a.b"),
            ("*", "c"),
            ("py.twisted", "d"),
            ("xsd", "test")
        ]
    );
}

#[test]
fn consts_in_every_literal_form() {
    let d = parse(
        "const i32 A = 0x10; const double B = -1.5e2, const string C = 'it''s'\n\
         const list<i32> D = [1, 2; 3] const map<string, i32> E = {\"a\": 1, 'b': A}\n\
         const Numberz F = Numberz.ONE const bool G = true",
    );
    // `'it''s'` is two adjacent strings, which Thrift does not allow.
    assert!(d.is_err());
    let d = parse(
        "const i32 A = 0x10; const double B = -1.5e2, const string C = 'say \"hi\"'\n\
         const list<i32> D = [1, 2; 3] const map<string, i32> E = {\"a\": 1, 'b': A}\n\
         const Numberz F = Numberz.ONE const bool G = true",
    )
    .unwrap();
    let values: Vec<_> = d
        .definitions
        .iter()
        .map(|d| match d {
            Definition::Const(c) => c.value.clone(),
            _ => panic!(),
        })
        .collect();
    let id = |name: &str, column| ConstValue::Identifier {
        name: name.into(),
        span: Span { line: 2, column },
    };
    assert_eq!(values[0], ConstValue::Int(16));
    assert_eq!(values[1], ConstValue::Double(-150.0));
    assert_eq!(values[2], ConstValue::String("say \"hi\"".into()));
    assert_eq!(
        values[3],
        ConstValue::List(vec![
            ConstValue::Int(1),
            ConstValue::Int(2),
            ConstValue::Int(3)
        ])
    );
    assert_eq!(
        values[4],
        ConstValue::Map(vec![
            (ConstValue::String("a".into()), ConstValue::Int(1)),
            (ConstValue::String("b".into()), id("A", 72)),
        ])
    );
    assert!(
        matches!(&values[5], ConstValue::Identifier { name, span } if name == "Numberz.ONE" && span.line == 3)
    );
    assert_eq!(values[6], ConstValue::Bool(true));
}

#[test]
fn enum_values_explicit_and_implicit() {
    let Definition::Enum(e) = one("enum E { A = 1, B, C = 5; D E = 0x10 F (x = \"y\") }") else {
        panic!()
    };
    let v: Vec<_> = e
        .values
        .iter()
        .map(|v| (v.name.as_str(), v.value))
        .collect();
    assert_eq!(
        v,
        [("A", 1), ("B", 2), ("C", 5), ("D", 6), ("E", 16), ("F", 17)]
    );
    assert_eq!(e.values[5].annotations[0].key, "x");
    assert!(parse("enum E { A = 4294967296 }").is_err());
}

#[test]
fn fields_ids_requiredness_defaults_annotations() {
    let Definition::Struct(s) = one("struct S {\n\
           1: required i32 a = 5 (k = \"v\", flag);\n\
           optional string b,\n\
           -3: list<map<i32, set<S>>> c = []\n\
           binary d\n\
         } (cpp.type = \"X\")")
    else {
        panic!()
    };
    assert_eq!(s.kind, StructKind::Struct);
    let f: Vec<_> = s
        .fields
        .iter()
        .map(|f| (f.id, f.explicit_id, f.name.as_str(), f.req))
        .collect();
    assert_eq!(
        f,
        [
            (1, true, "a", Requiredness::Required),
            (-1, false, "b", Requiredness::Optional),
            (-3, true, "c", Requiredness::Default),
            (-2, false, "d", Requiredness::Default),
        ]
    );
    assert_eq!(s.fields[0].default, Some(ConstValue::Int(5)));
    assert_eq!(
        s.fields[0].annotations,
        [
            Annotation {
                key: "k".into(),
                value: "v".into()
            },
            Annotation {
                key: "flag".into(),
                value: "1".into()
            }
        ]
    );
    assert_eq!(s.fields[2].default, Some(ConstValue::List(vec![])));
    assert!(matches!(
        &s.fields[2].ty,
        Type::List(m) if matches!(&**m, Type::Map(k, _) if **k == Type::I32)
    ));
    assert_eq!(s.fields[3].ty, Type::Binary);
    assert_eq!(s.annotations[0].key, "cpp.type");
}

#[test]
fn union_exception_typedef_with_annotations() {
    let d = parse(
        "union U { 1: i32 a, 2: string b }\n\
         exception X { 1: string message }\n\
         typedef map<string, other.T> (python.immutable = \"\") M (a = \"b\")\n\
         typedef list<i32> cpp_type \"std::vector\" L\n\
         typedef map cpp_type \"m\" <i32, i32> N",
    )
    .unwrap();
    assert!(matches!(&d.definitions[0], Definition::Struct(s) if s.kind == StructKind::Union));
    assert!(matches!(&d.definitions[1], Definition::Struct(s) if s.kind == StructKind::Exception));
    let Definition::Typedef(t) = &d.definitions[2] else {
        panic!()
    };
    assert_eq!(t.name, "M");
    assert!(
        matches!(&t.ty, Type::Map(_, v) if matches!(&**v, Type::Named { name, .. } if name == "other.T"))
    );
    assert_eq!(t.annotations[0].value, "b");
    assert_eq!(d.definitions.len(), 5);
}

#[test]
fn services_extends_oneway_throws() {
    let Definition::Service(s) = one("service S extends base.B {\n\
           void ping(),\n\
           oneway void fire(1: i32 x);\n\
           list<string> get(1: string key, 2: i32 n) throws (1: E e, 2: base.F f) (deprecated = \"y\")\n\
           i32 plain(i64 a, i64 b)\n\
         } (svc = \"1\")")
    else {
        panic!()
    };
    assert_eq!(s.extends.as_deref(), Some("base.B"));
    let f: Vec<_> = s
        .functions
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.oneway,
                f.ret.is_some(),
                f.args.len(),
                f.throws.len(),
            )
        })
        .collect();
    assert_eq!(
        f,
        [
            ("ping", false, false, 0, 0),
            ("fire", true, false, 1, 0),
            ("get", false, true, 2, 2),
            ("plain", false, true, 2, 0),
        ]
    );
    assert_eq!(s.functions[2].annotations[0].key, "deprecated");
    let ids: Vec<_> = s.functions[3].args.iter().map(|a| a.id).collect();
    assert_eq!(ids, [-1, -2]);
    assert_eq!(s.annotations[0].key, "svc");
}

#[test]
fn comments_become_docs() {
    let d = parse(
        "/* licence, not a doc */\n\
         namespace rs x\n\
         \n\
         // ignored: a blank line follows\n\
         \n\
         /**\n * The struct.\n *   - indented\n */\n\
         struct S {\n\
           // leading line 1\n\
           # leading line 2\n\
           1: i32 a, // trailing a\n\
           2: i32 b /* plain */\n\
           3: i32 c\n\
         }\n\
         // the enum\n\
         enum E { A // trailing A\n B }\n",
    )
    .unwrap();
    let Definition::Struct(s) = &d.definitions[0] else {
        panic!()
    };
    assert_eq!(s.doc.as_deref(), Some("The struct.\n  - indented"));
    let docs: Vec<_> = s.fields.iter().map(|f| f.doc.as_deref()).collect();
    assert_eq!(
        docs,
        [Some("leading line 1\nleading line 2"), Some("plain"), None]
    );
    let Definition::Enum(e) = &d.definitions[1] else {
        panic!()
    };
    assert_eq!(e.doc.as_deref(), Some("the enum"));
    assert_eq!(e.values[0].doc.as_deref(), Some("trailing A"));
    assert_eq!(e.values[1].doc, None);
}

#[test]
fn trailing_comment_documents_a_field() {
    let Definition::Struct(s) = one("struct S {\n  1: i8 a,  // used to be byte\n  2: i8 b\n}")
    else {
        panic!()
    };
    assert_eq!(s.fields[0].doc.as_deref(), Some("used to be byte"));
    assert_eq!(s.fields[1].doc, None);
}

#[test]
fn errors_name_line_and_column() {
    let e = parse("struct S {\n  1: i32 a,\n  2: i32\n}").unwrap_err();
    assert_eq!((e.span.line, e.span.column), (4, 1));
    assert!(e.message.contains("expected a field name"), "{}", e.message);
    let e = parse("struct S {}\nnamespace rs x").unwrap_err();
    assert_eq!(e.span.line, 2);
    let e = parse("service S { void f( }").unwrap_err();
    assert_eq!((e.span.line, e.span.column), (1, 21));
    let e = parse("struct S { 70000: i32 a }").unwrap_err();
    assert!(e.message.contains("i16"));
}

#[test]
fn the_shipped_idls_parse() {
    for (file, defs) in [
        ("ThriftTest.thrift", 34),
        ("echo.thrift", 3),
        ("item.thrift", 4),
    ] {
        let path = format!("{}/../idl/{file}", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).unwrap();
        let d = parse(&src).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(d.definitions.len(), defs, "{file}");
    }
}

#[test]
fn thrift_test_details() {
    let path = format!("{}/../idl/ThriftTest.thrift", env!("CARGO_MANIFEST_DIR"));
    let d = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let Definition::Enum(e) = &d.definitions[0] else {
        panic!()
    };
    assert_eq!(e.doc.as_deref(), Some("Docstring!"));
    let values: Vec<_> = e.values.iter().map(|v| v.value).collect();
    assert_eq!(values, [1, 2, 3, 5, 6, 8]);
    let service = d
        .definitions
        .iter()
        .find_map(|d| match d {
            Definition::Service(s) if s.name == "ThriftTest" => Some(s),
            _ => None,
        })
        .unwrap();
    let oneway = service.functions.last().unwrap();
    assert!(oneway.oneway);
    assert_eq!(oneway.name, "testOneway");
    let multi = service
        .functions
        .iter()
        .find(|f| f.name == "testMultiException")
        .unwrap();
    assert_eq!(multi.throws.len(), 2);
    assert!(
        multi
            .doc
            .as_deref()
            .unwrap()
            .starts_with("Print 'testMultiException(%s, %s)'")
    );
}

#[test]
fn nesting_is_bounded() {
    let deep_type = format!(
        "struct S {{ 1: {}i32{} x }}",
        "list<".repeat(MAX_NESTING + 1),
        ">".repeat(MAX_NESTING + 1)
    );
    let e = parse(&deep_type).unwrap_err();
    assert!(e.message.contains("nested"), "{e}");
    let deep_value = format!(
        "const list<i32> X = {}{}",
        "[".repeat(MAX_NESTING + 1),
        "]".repeat(MAX_NESTING + 1)
    );
    let e = parse(&deep_value).unwrap_err();
    assert!(e.message.contains("nested"), "{e}");
    let fine = format!(
        "struct S {{ 1: {}i32{} x }}",
        "list<".repeat(MAX_NESTING - 1),
        ">".repeat(MAX_NESTING - 1)
    );
    parse(&fine).unwrap();
}
