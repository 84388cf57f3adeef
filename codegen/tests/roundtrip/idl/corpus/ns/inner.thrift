namespace rs corpus.ns.thrift.inner
enum InnerKind { SHALLOW = 1, DEEP = 2 }
struct Inner { 1: string name, 2: InnerKind kind }
