// Level 2: includes back up the tree (the same leaf as level 1: a diamond).
include "../../leaf.thrift"
include "level3.thrift"

struct Level2 {
  1: leaf.Leaf leaf
  2: level3.Level3 down
  3: list<leaf.LeafKind> kinds = [leaf.LeafKind.GREEN]
}
