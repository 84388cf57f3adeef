//! Proptest strategies for the generated ThriftTest and fixture types,
//! shared by the round-trip tests and the generic-call tests.
#![allow(dead_code)] // each test file uses its own share

use bytes::Bytes;
use proptest::collection::{hash_map, vec};
use proptest::option;
use proptest::prelude::*;
use ringrpc_build_roundtrip::generated::{constructs as c, shared, thrift_test as tt};
use ringrpc_codec::thrift::Utf8Bytes;

pub fn utf8() -> impl Strategy<Value = Utf8Bytes> {
    "\\PC{0,6}".prop_map(Utf8Bytes::from)
}

pub fn bin() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..8).prop_map(Bytes::from)
}

pub fn double() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN is not equal to itself", |d| !d.is_nan())
}

pub fn numberz() -> impl Strategy<Value = tt::Numberz> {
    prop_oneof![
        proptest::sample::select(tt::Numberz::VALUES.to_vec()),
        any::<i32>().prop_map(tt::Numberz),
    ]
}

pub fn xtruct() -> impl Strategy<Value = tt::Xtruct> {
    (utf8(), any::<i8>(), any::<i32>(), any::<i64>()).prop_map(|(s, b, i, l)| tt::Xtruct {
        string_thing: s,
        byte_thing: b,
        i32_thing: i,
        i64_thing: l,
    })
}

pub fn xtruct2() -> impl Strategy<Value = tt::Xtruct2> {
    (any::<i8>(), xtruct(), any::<i32>()).prop_map(|(b, x, i)| tt::Xtruct2 {
        byte_thing: b,
        struct_thing: x,
        i32_thing: i,
    })
}

pub fn insanity() -> impl Strategy<Value = tt::Insanity> {
    (hash_map(numberz(), any::<i64>(), 0..3), vec(xtruct(), 0..3))
        .prop_map(|(user_map, xtructs)| tt::Insanity { user_map, xtructs })
}

pub fn crazy_nesting() -> impl Strategy<Value = tt::CrazyNesting> {
    let inner = vec(vec(vec((insanity(), utf8()), 0..2), 0..2), 0..2);
    let list_field = vec(
        hash_map(
            vec(any::<i32>(), 0..3),
            hash_map(any::<i32>(), inner, 0..2),
            0..2,
        ),
        0..2,
    );
    (utf8(), option::of(vec(insanity(), 0..2)), list_field, bin()).prop_map(
        |(s, set_field, list_field, b)| tt::CrazyNesting {
            string_field: s,
            set_field,
            list_field,
            binary_field: b,
        },
    )
}

pub fn some_union() -> impl Strategy<Value = tt::SomeUnion> {
    prop_oneof![
        hash_map(numberz(), any::<i64>(), 0..3).prop_map(tt::SomeUnion::MapThing),
        utf8().prop_map(tt::SomeUnion::StringThing),
        any::<i32>().prop_map(tt::SomeUnion::I32Thing),
        (utf8(), any::<i32>(), any::<i32>(), any::<i64>()).prop_map(|(s, c, i, l)| {
            tt::SomeUnion::XtructThing(tt::Xtruct3 {
                string_thing: s,
                changed: c,
                i32_thing: i,
                i64_thing: l,
            })
        }),
        insanity().prop_map(tt::SomeUnion::InsanityThing),
        Just(tt::SomeUnion::Unset),
    ]
}

pub fn bonk() -> impl Strategy<Value = tt::Bonk> {
    (utf8(), any::<i32>()).prop_map(|(message, t)| tt::Bonk { message, r#type: t })
}

pub fn versioning_v2() -> impl Strategy<Value = tt::VersioningTestV2> {
    (
        (
            any::<i32>(),
            any::<i32>(),
            any::<i8>(),
            any::<i16>(),
            any::<i64>(),
        ),
        (
            double(),
            bonk(),
            vec(any::<i32>(), 0..4),
            vec(any::<i32>(), 0..4),
        ),
        (
            hash_map(any::<i32>(), any::<i32>(), 0..4),
            utf8(),
            any::<i32>(),
        ),
    )
        .prop_map(
            |((a, b, c, d, e), (f, g, h, i), (j, k, l))| tt::VersioningTestV2 {
                begin_in_both: a,
                newint: b,
                newbyte: c,
                newshort: d,
                newlong: e,
                newdouble: f,
                newstruct: g,
                newlist: h,
                newset: i,
                newmap: j,
                newstring: k,
                end_in_both: l,
            },
        )
}

pub fn bools() -> impl Strategy<Value = tt::Bools> {
    (any::<bool>(), any::<bool>()).prop_map(|(a, b)| tt::Bools {
        im_true: a,
        im_false: b,
    })
}

pub fn large_deltas() -> impl Strategy<Value = tt::LargeDeltas> {
    (
        (
            bools(),
            bools(),
            bools(),
            any::<bool>(),
            bools(),
            any::<bool>(),
        ),
        (
            versioning_v2(),
            vec(utf8(), 0..3),
            versioning_v2(),
            vec(any::<i32>(), 0..4),
        ),
    )
        .prop_map(
            |((b1, b10, b100, t, b1000, f), (v1, set, v2, big))| tt::LargeDeltas {
                b1,
                b10,
                b100,
                check_true: t,
                b1000,
                check_false: f,
                vertwo2000: v1,
                a_set2500: set,
                vertwo3000: v2,
                big_numbers: big,
            },
        )
}

pub fn nested_mixed() -> impl Strategy<Value = tt::NestedMixedx2> {
    let strset = || vec(utf8(), 0..3);
    (
        vec(vec(any::<i32>(), 0..3), 0..3),
        hash_map(any::<i32>(), strset(), 0..3),
        vec(hash_map(any::<i32>(), strset(), 0..2), 0..2),
    )
        .prop_map(|(a, b, c)| tt::NestedMixedx2 {
            int_set_list: a,
            map_int_strset: b,
            map_int_strset_list: c,
        })
}

pub fn optional_binary() -> impl Strategy<Value = tt::OptionalBinary> {
    (
        option::of(vec(bin(), 0..3)),
        option::of(hash_map(bin(), any::<i32>(), 0..3)),
    )
        .prop_map(|(bin_set, bin_map)| tt::OptionalBinary { bin_set, bin_map })
}

pub fn point() -> impl Strategy<Value = shared::Point> {
    (any::<i32>(), any::<i32>()).prop_map(|(x, y)| shared::Point { x, y })
}

pub fn tree() -> impl Strategy<Value = c::Tree> {
    let leaf = utf8().prop_map(|label| c::Tree {
        label,
        ..c::Tree::default()
    });
    leaf.prop_recursive(4, 16, 3, |inner| {
        (
            utf8(),
            option::of(inner.clone()),
            option::of(inner.clone()),
            vec(inner, 0..3),
        )
            .prop_map(|(label, left, right, children)| c::Tree {
                label,
                left: left.map(Box::new),
                right: right.map(Box::new),
                children,
            })
    })
}

pub fn shape() -> impl Strategy<Value = c::Shape> {
    prop_oneof![
        double().prop_map(c::Shape::Circle),
        point().prop_map(c::Shape::Square),
        vec(point(), 0..3).prop_map(c::Shape::Polygon),
        tree().prop_map(c::Shape::Tree),
        Just(c::Shape::Unset),
    ]
}

pub fn everything() -> impl Strategy<Value = c::Everything> {
    (
        (
            any::<bool>(),
            any::<i8>(),
            any::<i8>(),
            any::<i16>(),
            any::<i32>(),
        ),
        (any::<i64>(), double(), utf8(), bin(), any::<[u8; 16]>()),
        (
            vec(utf8(), 0..3),
            vec(any::<i64>(), 0..3),
            hash_map(utf8(), bin(), 0..3),
            any::<i32>().prop_map(shared::Color),
        ),
        (
            shape(),
            point(),
            option::of(vec(hash_map(any::<i32>(), vec(utf8(), 0..2), 0..2), 0..2)),
            hash_map(utf8(), point(), 0..2),
        ),
    )
        .prop_map(
            |(
                (b, y, i8v, s, i),
                (l, d, str, bin, id),
                (strs, longs, blobs, color),
                (shape, point, nested, points),
            )| {
                c::Everything {
                    b,
                    y,
                    i8v,
                    s,
                    i,
                    l,
                    d,
                    str,
                    bin,
                    id,
                    strs,
                    longs,
                    blobs,
                    color,
                    shape,
                    point,
                    nested,
                    points,
                }
            },
        )
}

pub fn keys() -> impl Strategy<Value = c::Keys> {
    (
        vec((double(), utf8()), 0..3),
        hash_map(point(), utf8(), 0..3),
        vec(double(), 0..3),
        vec((shape(), any::<i32>()), 0..2),
    )
        .prop_map(|(by_double, by_point, doubles, by_shape)| c::Keys {
            by_double,
            by_point,
            doubles,
            by_shape,
        })
}

pub fn recursive() -> impl Strategy<Value = c::Recursive> {
    let leaf = prop_oneof![
        any::<i32>().prop_map(c::Recursive::Leaf),
        utf8().prop_map(c::Recursive::Unset),
        Just(c::Recursive::Unset_),
    ];
    leaf.prop_recursive(5, 8, 1, |inner| {
        inner.prop_map(|r| c::Recursive::Nested(Box::new(r)))
    })
}
