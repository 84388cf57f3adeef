// Level 1 of a chain of includes through sub-directories.
include "b/level2.thrift"
include "../leaf.thrift"

enum Level1Kind { L1_A = 1, L1_B = 2 }

struct Level1 {
  1: level2.Level2 down
  2: leaf.Leaf leaf
  3: Level1Kind kind
}
