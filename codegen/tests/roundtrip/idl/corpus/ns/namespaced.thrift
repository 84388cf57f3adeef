/*
 * `namespace rs` as the module path (Builder::namespace_modules): this file
 * is `corpus::ns::top`, its include `corpus::ns::thrift_::inner` (`thrift`
 * below the top would hide the generated import), and plain.thrift, which
 * declares no `namespace rs`, keeps its stem's module.
 */
namespace rs corpus.ns.top
namespace go corpus.ns.go_is_ignored
include "inner.thrift"
include "plain.thrift"

struct Outer {
  1: inner.Inner inner
  2: plain.Plain plain
  3: inner.InnerKind kind = inner.InnerKind.DEEP
}

service Namespaced {
  inner.Inner fetch(1: Outer outer)
}
