/*
 * Recursive types: direct recursion with each requiredness, recursion
 * through every container and through typedefs, a cycle of three structs,
 * recursive unions and exceptions.
 */
typedef Chain ChainAlias
typedef list<Tree> Forest

struct Chain {
  1: i32 value
  2: optional Chain next
}

struct RequiredChain {
  1: i32 value
  2: required RequiredChain next
  3: optional bool end_marker
}

/** Default requiredness recursion, through a typedef. */
struct AliasChain {
  1: i32 value
  2: ChainAlias chain
  3: AliasChain again
}

struct Tree {
  1: string label
  2: Forest children
  3: set<Tree> set_children
  4: map<string, Tree> named_children
  5: map<i32, list<Tree>> grouped
  6: optional Tree first
}

/** A cycle of three: A -> B -> C -> A. */
struct CycleA { 1: optional CycleB b, 2: i32 tag }
struct CycleB { 1: required CycleC c }
struct CycleC { 1: CycleA a, 2: list<CycleA> many }

union Expr {
  1: i64 literal
  2: Expr negate
  3: list<Expr> sum
  4: map<string, Expr> bindings
  5: BinOp binop
}

struct BinOp {
  1: Expr left
  2: Expr right
  3: string op
}

exception Nested {
  1: string message
  2: optional Nested cause
}

service Recurse {
  Tree grow(1: Tree seed, 2: Expr expr) throws (1: Nested err)
}
