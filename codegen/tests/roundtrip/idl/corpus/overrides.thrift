/*
 * Type overrides by annotation (`pilota.rust_type`, pilota's key, and
 * `rust.type`): String, Vec<u8>, BTreeSet / BTreeMap, on struct and union
 * fields, with defaults; and the values ringrpc-build ignores with a
 * warning.
 */
enum Tier { GOLD = 1, SILVER = 2 }

struct Owned {
  1: string name (pilota.rust_type = "string")
  2: binary blob (pilota.rust_type = "vec")
  3: set<string> tags (pilota.rust_type = "btree")
  4: map<Tier, list<set<i32>>> by_tier (rust.type = "btree")
  5: list<map<string, i64>> counters (pilota.rust_type = "btree")
  6: string greeting = "hi" (pilota.rust_type = "string")
  7: binary magic = "magic" (pilota.rust_type = "vec")
  8: set<i32> primes = [7, 2, 3, 2] (pilota.rust_type = "btree")
  9: map<string, i32> ages = {"b": 2, "a": 1} (pilota.rust_type = "btree")
  10: optional string maybe (pilota.rust_type = "string")
  11: string plain
}

union OwnedChoice {
  1: string text (pilota.rust_type = "string")
  2: binary bytes (pilota.rust_type = "vec")
}

/** Ignored with a warning: no such type in ringrpc-build. */
struct Ignored {
  1: double ratio (pilota.rust_type = "ordered_f64")
  2: i32 count (pilota.rust_type = "string")
}

const Owned OWNED = {"name": "const", "tags": ["z", "a"], "ages": {"x": 1}}

service Overrides {
  Owned echo(1: Owned value)
}
