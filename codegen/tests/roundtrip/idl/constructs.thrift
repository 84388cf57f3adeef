/*
 * Every IDL construct ringrpc-build handles, for the compile-and-run tests.
 */
include "inc/shared.thrift"
cpp_include "<vector>"

namespace rs constructs
namespace * constructs

const i8 SMALL = -0x10;
const i16 MEDIUM = 300,
const i64 BIG = 0x7fffffffffffffff
const i64 MOST_NEGATIVE = -9223372036854775808
const double PI = 3.14159; const double EXP = -1.5e3
const double FROM_INT = 2
const bool YES = true
const bool NO = 0
const string SINGLE = 'single "quoted"'
const string DOUBLE = "double 'quoted'\n"
const binary RAW = "raw"
const uuid ID = "00112233-4455-6677-8899-aabbccddeeff"
const list<i32> PRIMES = [2, 3; 5 7]
const set<string> TAGS = ["a", "b"]
const map<string, i32> AGES = {"alice": 30, 'bob': shared.ANSWER}
const map<i32, list<string>> NESTED = {1: ["x"], 2: []}
const shared.Color FAVOURITE = shared.Color.GREEN
const shared.Color BY_NUMBER = 6
const shared.Color UNDECLARED = 99
const i32 COPY = MEDIUM
const i32 ENUM_AS_INT = shared.Color.BLUE
const shared.Point ORIGIN = {"x": 0, "y": 0}
const Shape UNIT = {"circle": 1.0}
const Points NAMED = {"o": ORIGIN}

typedef map<shared.Name, shared.Point> Points
typedef list<Tree> Forest

/** Every requiredness, with and without defaults. */
struct Defaults {
  1: required i32 req,
  2: optional i32 opt,
  3: i32 plain = 7,
  4: optional string opt_default = "hi",
  5: list<i32> list_default = [1, 2],
  6: shared.Color color = shared.Color.BLUE,
  7: map<string, shared.Point> points = {"o": {"x": 1, "y": 2}},
  8: double ratio = 0.5,
  i32 auto_a,           // no id: -1
  i64 auto_b = 3        // no id: -2
  10: binary blob = "bytes",
  11: shared.Name name = "n",
  12: Points named = NAMED,
  13: set<string> tags = TAGS,
} (annotated = "yes", flag)

/** A tree: `left`/`right` recurse directly (boxed), `children` through a list. */
struct Tree {
  1: string label,
  2: optional Tree left,
  3: optional Tree right,
  4: Forest children,
}

/** Recursion with default requiredness. */
struct Node {
  1: i32 value,
  2: Node next,
}

/** Mutual recursion. */
struct Ping { 1: optional Pong pong }
struct Pong { 1: required Ping ping }

union Shape {
  1: double circle,
  2: shared.Point square,
  3: list<shared.Point> polygon,
  4: Tree tree,
}

union Recursive {
  1: i32 leaf,
  2: Recursive nested,
  3: string unset,
}

/** Keys that cannot be hashed become lists of pairs. */
struct Keys {
  1: map<double, string> by_double,
  2: map<shared.Point, string> by_point,
  3: set<double> doubles,
  4: map<Shape, i32> by_shape,
}

struct Everything {
  1: bool b,
  2: byte y,
  3: i8 i8v,
  4: i16 s,
  5: i32 i,
  6: i64 l,
  7: double d,
  8: string str,
  9: binary bin,
  10: uuid id,
  11: list<string> strs,
  12: set<i64> longs,
  13: map<string, binary> blobs,
  14: shared.Color color,
  15: Shape shape,
  16: shared.Point point,
  17: optional list<map<i32, set<string>>> nested,
  18: Points points,
}

/** Names Rust reserves. */
struct Keywords {
  1: i32 type,
  2: string self,
  3: bool r,
  4: i32 field,
  5: i32 match,
  6: i32 value,
}

/** A type named like a prelude type. */
struct Option {
  1: i32 some,
}

exception Oops {
  1: string message,
  2: i32 code = 500,
}

/**
 * Everything a service can declare.
 */
service Shop extends shared.Base {
  /** Finds a point. */
  shared.Point find(1: string name, 2: optional i32 hint) throws (1: shared.NotFound not_found, 2: Oops oops),
  void touch(),
  oneway void fire(1: i64 at);
  list<Tree> trees(i32 depth, Defaults defaults) (method.annotation = "1")
} (service.annotation = "1")

service Empty {}
