/*
 * Names that collide once converted to Rust's cases, in every kind of
 * identifier, Rust keywords and prelude names as IDL names, and renames by
 * annotation. Written for ringrpc-build's corpus test (tests/corpus.rs).
 */
namespace rs names

// ---- fields ----------------------------------------------------------

/** Six fields, one Rust name: `the_edge_case` is already snake case. */
struct TheEdgeCase {
  1: bool theEdgeCase
  2: bool theEdgeCase_
  3: bool the_edge_case
  4: bool TheEdgeCase
  5: bool TheEdgeCase_
  6: optional i32 THE_EDGE_CASE
}

/** The same ids and types as `TheEdgeCase`, with plain names: the wire view. */
struct EdgeCasePlain {
  1: bool f1
  2: bool f2
  3: bool f3
  4: bool f4
  5: bool f5
  6: optional i32 f6
}

/** Fields without ids collide too: their suffix is the auto id. */
struct NoIds {
  bool secondChance
  bool second_chance
  bool SecondChance
}

exception Problem_ {
  1: bool problem
  2: bool Problem
  3: string message
}

/** Names Rust reserves, and names the generated decode uses. */
struct Keywords {
  1: i32 type
  2: i32 self
  3: i32 crate
  4: i32 super
  5: i32 loop
  6: i32 await
  7: i32 dyn
  8: i32 match
  9: i32 r
  10: i32 field
  11: i32 r_
  12: i32 value
  13: i32 gen
  14: i32 Self
}

// ---- types, typedefs, constants ---------------------------------------

/** Prelude names the generated code uses unqualified. */
struct Option { 1: i32 some }
struct Result { 1: i32 ok }
struct Vec { 1: i32 len }
struct Box { 1: i32 inner }
struct Default { 1: i32 none }
enum Some { NONE = 0, SOME = 1 }

/** `my_type` and `MyType` are one Rust type name. */
typedef i32 my_type
struct MyType { 1: my_type value }

const i32 LIMIT = 1
const i32 limit = 2
const i32 Limit = 3

// ---- unions, enums ----------------------------------------------------

union Choice {
  1: i32 the_value
  2: string TheValue
  3: bool Unset
  4: i64 unset
}

enum Level {
  LOW = 1
  low = 2
  Low = 3
  VALUES = 4
  name = 5
  self = 6
  ME2_2 = 7
}

// ---- services ---------------------------------------------------------

/** Declared names keep theirs; the generated ones make way. */
struct ShopLookupArgs { 1: string note }
struct ShopClient { 1: string note }

service Base {
  string ping()
}

service Shop extends Base {
  /** `getItem` and `get_item` are one Rust method. */
  string getItem(1: i32 id)
  string get_item(1: i32 id, 2: i32 cx, 3: i32 opts)
  /** Not `ShopLookupArgs`: a struct has that name. */
  i32 lookup(1: string key) throws (1: Problem_ Other, 2: Problem_ other)
  /** The client's own method names. */
  void new()
  void inner()
  /** Keywords as method and parameter names. */
  i32 match(1: i32 type, 2: i32 self)
  /** The Rust `Ping` variant is the base's: this one makes way. */
  string Ping_()
  /** A result field named `success`. */
  i32 succeed(1: i32 x) throws (1: Problem_ success)
}

service shop_service {
  void call()
}

service ShopService {
  void call()
}

// ---- renames ----------------------------------------------------------

struct Legacy {
  1: i32 id (pilota.name = "legacy_id")
  2: i32 legacy_id
  3: string label (rust.name = "title")
} (pilota.name = "Renamed")

enum Colour {
  RED = 1 (pilota.name = "Crimson")
  GREEN = 2
}

service Renaming {
  void doWork() (pilota.name = "work")
  void work_hard()
} (pilota.name = "Labour")
