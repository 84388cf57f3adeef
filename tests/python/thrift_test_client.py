#!/usr/bin/env python3
"""Apache Thrift's Python client against a ThriftTest server (ringrpc's
`thrift_test_server` example, started in-process by tests/python_interop.rs).

The client is Apache Thrift's own: the `thrift` package from PyPI (the
runtime: transports, protocols) and the Python code Apache Thrift's compiler
generates from idl/ThriftTest.thrift (`thrift --gen py`; the Rust test runs
it). The checks follow Apache Thrift's cross-language test clients
(apache/thrift `test/py/TestClient.py`, plus `testInsanity`, `testStringMap`
and the stricter exception checks of `test/cpp/src/TestClient.cpp`).

Every method is checked on a fresh connection. Each call's reply must carry
the call's method name and sequence id (the generated client checks
neither, so the protocol is wrapped to number calls and check replies).

    thrift --gen py -out /tmp/gen-py idl/ThriftTest.thrift
    cargo run --example thrift_test_server -- --port 9090 &
    python3 tests/python/thrift_test_client.py --gen-py /tmp/gen-py \
        --port 9090 --transport framed --protocol binary

Prints `ok <method>` or `FAIL <method>: why` per method, then
`PASS <transport>+<protocol>: N methods` or `FAIL ...`; exits 1 on failure.
`--protocol accel` is binary through the C extension (fastbinary); where
the extension is not built it prints `SKIP` and exits 0.
"""

import argparse
import math
import sys
import time
import traceback

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--gen-py", required=True, help="`thrift --gen py` output folder")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=9090)
parser.add_argument("--transport", choices=["framed", "buffered"], default="framed")
parser.add_argument("--protocol", choices=["binary", "compact", "accel"], default="binary")
parser.add_argument("--timeout-ms", type=int, default=10000, help="socket timeout")
parser.add_argument(
    "--multiplexed",
    action="store_true",
    help="call through TMultiplexedProtocol (ThriftTest and SecondService by name)",
)
options = parser.parse_args()

sys.path.insert(0, options.gen_py)

from thrift.Thrift import TApplicationException, TException, TMessageType  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol, TMultiplexedProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from ThriftTest import SecondService, ThriftTest  # noqa: E402
from ThriftTest.ttypes import Insanity, Numberz, Xception, Xception2, Xtruct, Xtruct2  # noqa: E402

LABEL = "%s+%s%s" % (options.transport, options.protocol, "+multiplexed" if options.multiplexed else "")

if options.protocol == "accel":
    try:
        from thrift.protocol import fastbinary  # noqa: F401
    except ImportError:
        print("SKIP %s: the thrift package's C extension (fastbinary) is not built" % LABEL)
        sys.exit(0)
    BASE_PROTOCOL = TBinaryProtocol.TBinaryProtocolAccelerated
elif options.protocol == "compact":
    BASE_PROTOCOL = TCompactProtocol.TCompactProtocol
else:
    BASE_PROTOCOL = TBinaryProtocol.TBinaryProtocol


class Checked(BASE_PROTOCOL):
    """Numbers every call (the generated client always sends seqid 0) and
    checks that each reply names the call's method and echoes its seqid."""

    next_seqid = 1000

    def writeMessageBegin(self, name, mtype, seqid):
        Checked.next_seqid += 1
        self.sent = (name, mtype, Checked.next_seqid)
        super().writeMessageBegin(name, mtype, Checked.next_seqid)

    def readMessageBegin(self):
        name, mtype, seqid = super().readMessageBegin()
        sent_name, sent_type, sent_seqid = self.sent
        if sent_type != TMessageType.CALL:
            raise AssertionError("a reply to a %s message" % sent_type)
        if seqid != sent_seqid:
            raise AssertionError("sent seqid %d, reply has %d" % (sent_seqid, seqid))
        # A multiplexed call (`Service:method`) is answered with the method's
        # name alone, as Apache's TMultiplexedProcessor answers.
        sent_name = sent_name.split(":", 1)[-1]
        # An application exception about the message itself may name no method.
        if name != sent_name and not (mtype == TMessageType.EXCEPTION and name == ""):
            raise AssertionError("called %r, reply names %r" % (sent_name, name))
        return name, mtype, 0


def connect(service=ThriftTest):
    socket = TSocket.TSocket(options.host, options.port)
    socket.setTimeout(options.timeout_ms)
    if options.transport == "framed":
        transport = TTransport.TFramedTransport(socket)
    else:
        transport = TTransport.TBufferedTransport(socket)
    transport.open()
    protocol = Checked(transport)
    if options.multiplexed:
        name = "SecondService" if service is SecondService else "ThriftTest"
        protocol = TMultiplexedProtocol.TMultiplexedProtocol(protocol, name)
    return transport, service.Client(protocol)


def eq(got, want):
    if got != want:
        raise AssertionError("got %r, want %r" % (got, want))


def raises(exc_type, call, *args):
    try:
        call(*args)
    except exc_type as e:
        return e
    raise AssertionError("%s%r did not raise %s" % (call.__name__, args, exc_type.__name__))


CHECKS = []


def check(f):
    CHECKS.append(f)
    return f


@check
def testVoid(c):
    eq(c.testVoid(), None)


@check
def testString(c):
    for s in [
        "Python" * 20,
        "",
        "\b\t\n/\\\\\r{}:パイソン\"",
        "Afrikaans, Alemannisch, Aragonés, العربية, Башҡорт, বাংলা, 中文, 한국어, ไทย, 粵語 🦀",
        "x" * 70000,
    ]:
        eq(c.testString(s), s)


@check
def testBool(c):
    eq(c.testBool(True), True)
    eq(c.testBool(False), False)


@check
def testByte(c):
    for v in [63, -127, 0, 127, -128]:
        eq(c.testByte(v), v)


@check
def testI32(c):
    for v in [-1, 0, 1, 2**31 - 1, -(2**31)]:
        eq(c.testI32(v), v)


@check
def testI64(c):
    for v in [1, -34359738368, 0, 2**63 - 1, -(2**63)]:
        eq(c.testI64(v), v)


@check
def testDouble(c):
    for v in [-5.235098235, 0.0, -1.0, -0.000341012439638598279, 1e308, 5e-324, math.inf]:
        eq(c.testDouble(v), v)
    if not math.isnan(c.testDouble(math.nan)):
        raise AssertionError("NaN did not come back as NaN")


@check
def testBinary(c):
    for v in [bytes(range(256)), b"", bytes(100000)]:
        eq(bytes(c.testBinary(v)), v)


@check
def testStruct(c):
    x = Xtruct(string_thing="Zero", byte_thing=1, i32_thing=-3, i64_thing=-5)
    eq(c.testStruct(x), x)


@check
def testNest(c):
    inner = Xtruct(string_thing="Zero", byte_thing=1, i32_thing=-3, i64_thing=-5)
    x = Xtruct2(byte_thing=1, struct_thing=inner, i32_thing=5)
    eq(c.testNest(x), x)


@check
def testMap(c):
    for x in [{0: 1, 1: 2, 2: 3, 3: 4, -1: -2}, {}]:
        eq(c.testMap(x), x)


@check
def testStringMap(c):
    x = {"a": "2", "b": "blah", "some": "thing", "": "empty key", "ключ": "значение"}
    eq(c.testStringMap(x), x)


@check
def testSet(c):
    for x in [{8, 1, 42}, set()]:
        eq(c.testSet(x), x)


@check
def testList(c):
    for x in [[1, 4, 9, -42], [], list(range(-500, 500))]:
        eq(c.testList(x), x)


@check
def testEnum(c):
    for v in [Numberz.ONE, Numberz.TWO, Numberz.THREE, Numberz.FIVE, Numberz.SIX, Numberz.EIGHT]:
        eq(c.testEnum(v), v)


@check
def testTypedef(c):
    for v in [0xFFFFFFFFFFFFFF, -1]:
        eq(c.testTypedef(v), v)


@check
def testMapMap(c):
    want = {-4: {-4: -4, -3: -3, -2: -2, -1: -1}, 4: {4: 4, 3: 3, 2: 2, 1: 1}}
    eq(c.testMapMap(42), want)
    eq(c.testMapMap(1), want)


@check
def testInsanity(c):
    arg = Insanity(
        userMap={Numberz.FIVE: 5, Numberz.EIGHT: 8},
        xtructs=[
            Xtruct(string_thing="Goodbye4", byte_thing=4, i32_thing=4, i64_thing=4),
            Xtruct(string_thing="Hello2", byte_thing=2, i32_thing=2, i64_thing=2),
        ],
    )
    got = c.testInsanity(arg)
    eq(sorted(got), [1, 2])
    eq(got[1], {Numberz.TWO: arg, Numberz.THREE: arg})
    eq(sorted(got[2]), [Numberz.SIX])
    empty = got[2][Numberz.SIX]
    # An empty Insanity: C++ and ringrpc write the (default-requiredness)
    # fields as empty containers, Python leaves them out.
    if empty.userMap not in (None, {}) or empty.xtructs not in (None, []):
        raise AssertionError("Insanity for SIX is not empty: %r" % empty)


@check
def testMulti(c):
    want = Xtruct(string_thing="Hello2", byte_thing=74, i32_thing=0xFF00FF, i64_thing=0xFFFFFFFFD0D0)
    eq(c.testMulti(74, 0xFF00FF, 0xFFFFFFFFD0D0, {0: "abc"}, Numberz.FIVE, 0xF0F0F0), want)


@check
def testException(c):
    eq(c.testException("Safe"), None)
    x = raises(Xception, c.testException, "Xception")
    eq((x.errorCode, x.message), (1001, "Xception"))
    x = raises(TException, c.testException, "TException")
    # Not a declared exception: it travels as an application exception.
    if not isinstance(x, TApplicationException):
        raise AssertionError("TException came back as %r" % x)
    eq(c.testException("success"), None)


@check
def testMultiException(c):
    x = raises(Xception, c.testMultiException, "Xception", "ignore")
    eq((x.errorCode, x.message), (1001, "This is an Xception"))
    x = raises(Xception2, c.testMultiException, "Xception2", "ignore")
    eq((x.errorCode, x.struct_thing.string_thing), (2002, "This is an Xception2"))
    eq(c.testMultiException("success", "foobar").string_thing, "foobar")


@check
def testOneway(c):
    start = time.monotonic()
    eq(c.testOneway(1), None)
    sent = time.monotonic() - start
    # As Apache's Python client: the call must not wait for the sleep.
    if sent >= 3:
        raise AssertionError("testOneway(1) took %.2f s" % sent)
    # A reply to the oneway call would be read here instead (wrong method
    # and seqid), as Apache's clients check with a call after it.
    start = time.monotonic()
    eq(c.testString("Python"), "Python")
    eq(c.testI32(-1), -1)
    return "oneway sent in %.3f s; the next call answered after %.2f s" % (
        sent,
        time.monotonic() - start,
    )


@check
def secondService(_c):
    # The server serves SecondService beside ThriftTest: multiplexed, by
    # its service name; plain, by its method name.
    transport, second = connect(SecondService)
    try:
        eq(second.secondtestString("foobar"), 'testString("foobar")')
    finally:
        transport.close()


@check
def unknownMethod(c):
    # A method neither service has: an UNKNOWN_METHOD application exception,
    # and the connection still works. (Multiplexed, the protocol names the
    # service: `ThriftTest:noSuchMethod`.)
    oprot, iprot = c._oprot, c._iprot
    oprot.writeMessageBegin("noSuchMethod", TMessageType.CALL, 0)
    oprot.writeStructBegin("noSuchMethod_args")
    oprot.writeFieldStop()
    oprot.writeStructEnd()
    oprot.writeMessageEnd()
    oprot.trans.flush()
    _, mtype, _ = iprot.readMessageBegin()
    eq(mtype, TMessageType.EXCEPTION)
    x = TApplicationException()
    x.read(iprot)
    iprot.readMessageEnd()
    eq(x.type, TApplicationException.UNKNOWN_METHOD)
    eq(c.testI32(7), 7)


def main():
    failed = []
    for f in CHECKS:
        transport, client = connect()
        try:
            note = f(client)
            print("ok   %s%s" % (f.__name__, " (%s)" % note if note else ""))
        except Exception as e:  # report every method, not just the first failure
            failed.append(f.__name__)
            print("FAIL %s: %s: %s" % (f.__name__, type(e).__name__, e))
            traceback.print_exc(limit=3, file=sys.stdout)
        finally:
            transport.close()
    if failed:
        print("FAIL %s: %d of %d methods failed: %s" % (LABEL, len(failed), len(CHECKS), ", ".join(failed)))
        sys.exit(1)
    print("PASS %s: %d methods" % (LABEL, len(CHECKS)))


if __name__ == "__main__":
    main()
