// Included by constructs.thrift from a subfolder: types here are named
// `shared.X` there.
namespace rs shared

/** A colour. */
enum Color {
  RED,          // 0, implicit
  GREEN = 5,
  BLUE          // 6, one more than the previous
}

typedef string Name

const i32 ANSWER = 42

struct Point {
  1: required i32 x,
  2: required i32 y,
}

exception NotFound {
  1: string message,
  2: optional i64 id,
}

service Base {
  string ping(),
}
