/*
 * Enum constants written with another enum's name (Apache Thrift reads
 * them by the field's type: test/EnumTest.thrift), negative and hex values,
 * and enum values reached through includes.
 */
include "deep/a/level1.thrift"

enum MyEnum1 {
  ME1_0 = 0
  ME1_1 = 1
}

enum MyEnum2 {
  ME2_0
  ME2_1
  ME2_2
}

enum Signed {
  NEG = -2
  NEG_ONE
  ZERO
  HEX = 0x10
  BIG = 0x7ffffffe
  LAST
}

struct Crossed {
  1: MyEnum2 me2_2 = MyEnum1.ME2_2
  2: MyEnum2 me2_1 = MyEnum2.ME2_1
  3: list<MyEnum2> values = [MyEnum1.ME2_0, MyEnum2.ME2_2]
  4: map<MyEnum1, MyEnum2> by_one = {MyEnum2.ME1_1: MyEnum1.ME2_1}
  5: Signed signed = Signed.NEG
  6: level1.Level1Kind kind = level1.Level1Kind.L1_B
}

const MyEnum2 CROSSED = MyEnum1.ME2_1
const list<Signed> ALL_SIGNED = [Signed.NEG, Signed.NEG_ONE, Signed.ZERO, Signed.HEX, Signed.BIG, Signed.LAST]
const i32 AS_INT = Signed.NEG
