/*
 * A chain of includes through sub-directories (deep/a/level1.thrift ->
 * b/level2.thrift -> ../../leaf.thrift and level3.thrift), with a diamond.
 */
include "deep/a/level1.thrift"
include "deep/a/b/level3.thrift"

struct Top {
  1: level1.Level1 down
  2: i32 depth = level3.DEPTH
  3: level1.Level1Kind kind = level1.Level1Kind.L1_A
}

service Deep {
  level1.Level1 descend(1: Top top)
}
