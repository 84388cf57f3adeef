// Included from two levels (a diamond): loaded once.
enum LeafKind { RED = 1, GREEN = 2 }

struct Leaf {
  1: string name
  2: LeafKind kind = LeafKind.RED
}
