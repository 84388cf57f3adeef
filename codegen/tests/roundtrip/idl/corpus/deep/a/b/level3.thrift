// Level 3: the deepest file; its constant is used at the top.
const i32 DEPTH = 3

struct Level3 {
  1: i32 depth = DEPTH
}
