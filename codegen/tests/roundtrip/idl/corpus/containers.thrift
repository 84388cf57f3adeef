/*
 * Every container nesting (list, set and map of each other, three deep),
 * maps keyed by every kind of type, containers of every kind of element,
 * and constants of nested containers.
 */
enum Kind { A = 1, B = 2 }

struct Point { 1: i32 x, 2: i32 y }
struct Fuzzy { 1: double weight }
union Either { 1: i32 left, 2: string right }
exception Fault { 1: string why }
typedef map<string, list<i32>> Index

struct Nesting {
  1: list<list<i32>> list_list
  2: list<set<string>> list_set
  3: list<map<i32, string>> list_map
  4: set<list<i64>> set_list
  5: set<set<Kind>> set_set
  6: set<map<string, i32>> set_map
  7: map<i32, list<string>> map_list
  8: map<string, set<i16>> map_set
  9: map<i16, map<string, binary>> map_map
  10: list<list<list<i8>>> three_lists
  11: map<string, map<i32, map<i64, list<set<bool>>>>> deep_maps
  12: list<Index> indexes
  13: optional set<list<map<Kind, Point>>> optional_nested
}

/** A map keyed by each kind of type. */
struct Keys {
  1: map<bool, i32> by_bool
  2: map<i8, i32> by_i8
  3: map<i16, i32> by_i16
  4: map<i64, i32> by_i64
  5: map<double, i32> by_double
  6: map<string, i32> by_string
  7: map<binary, i32> by_binary
  8: map<uuid, i32> by_uuid
  9: map<Kind, i32> by_enum
  10: map<Point, i32> by_struct
  11: map<Fuzzy, i32> by_unhashable_struct
  12: map<Either, i32> by_union
  13: map<list<i32>, i32> by_list
  14: map<set<string>, i32> by_set
  15: map<map<i32, i32>, i32> by_map
  16: map<list<double>, i32> by_list_of_double
}

/** Containers of each kind of element. */
struct Elements {
  1: list<bool> bools
  2: list<double> doubles
  3: list<binary> blobs
  4: list<uuid> ids
  5: list<Kind> kinds
  6: list<Point> points
  7: list<Either> eithers
  8: list<Fault> faults
  9: set<double> double_set
  10: set<Point> point_set
  11: map<Kind, Either> either_by_kind
  12: map<string, Fault> faults_by_name
}

const list<list<i32>> GRID = [[1, 2], [3], []]
const map<string, list<set<i32>>> NESTED = {"a": [[1, 2], []], "b": []}
const map<Kind, map<string, Point>> POINTS = {Kind.A: {"o": {"x": 0, "y": 0}}}
const set<list<string>> WORDS = [["a", "b"], ["c"]]
const map<list<i32>, string> BY_LIST = {[1, 2]: "one-two"}
const Nesting SOME_NESTING = {"list_list": [[1], [2, 3]], "map_map": {1: {"k": "v"}}}

service Containers {
  map<string, list<map<Kind, set<i32>>>> echo(1: map<string, list<map<Kind, set<i32>>>> value)
  Nesting nest(1: Nesting n, 2: Keys k, 3: Elements e)
}
