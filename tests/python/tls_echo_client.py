#!/usr/bin/env python3
"""Apache Thrift's Python client over Python's `ssl` against a ringrpc TLS
echo server (tests/python_interop.rs starts it in-process; the
`echo_server --tls-*` example serves the same).

The TLS is Python's own `ssl` module (OpenSSL), through the `thrift`
package's TSSLSocket; the framing and the protocol are the package's
TFramedTransport and TBinaryProtocol; `EchoService.echo` is written with
the protocol calls directly (no generated code needed for one method).

    python3 tests/python/tls_echo_client.py --port 9441 --ca ca.pem \
        [--cert client.pem --key client.key] --msg whoami

Prints the reply's message and exits 0; on any failure prints
`FAIL: why` and exits 1.
"""

import argparse
import ssl
import sys

from thrift.Thrift import TMessageType, TType
from thrift.protocol import TBinaryProtocol
from thrift.transport import TSSLSocket, TTransport

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--ca", required=True, help="CA that signed the server's certificate")
parser.add_argument("--server-name", default="localhost")
parser.add_argument("--cert", help="client certificate (mutual TLS)")
parser.add_argument("--key", help="client key")
parser.add_argument("--msg", default="hello")
parser.add_argument("--repeat", type=int, default=1, help="a string of the message repeated")
parser.add_argument("--calls", type=int, default=3, help="calls on the one connection")
parser.add_argument("--tls-version", choices=["1.2", "1.3"], default="1.3")
args = parser.parse_args()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(args.ca)
version = ssl.TLSVersion.TLSv1_3 if args.tls_version == "1.3" else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = version
ctx.maximum_version = version
if args.cert:
    ctx.load_cert_chain(args.cert, args.key)

try:
    sock = TSSLSocket.TSSLSocket(
        args.host, args.port, ssl_context=ctx, server_hostname=args.server_name
    )
    sock.setTimeout(10000)
    trans = TTransport.TFramedTransport(sock)
    proto = TBinaryProtocol.TBinaryProtocol(trans)
    trans.open()
    msg = args.msg * args.repeat
    reply = None
    for seq in range(1, args.calls + 1):
        proto.writeMessageBegin("echo", TMessageType.CALL, seq)
        proto.writeStructBegin("EchoServiceEchoArgs")
        proto.writeFieldBegin("req", TType.STRUCT, 1)
        proto.writeStructBegin("EchoRequest")
        proto.writeFieldBegin("msg", TType.STRING, 1)
        proto.writeString(msg)
        proto.writeFieldEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeFieldEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeMessageEnd()
        trans.flush()

        name, mtype, rseq = proto.readMessageBegin()
        if (name, mtype, rseq) != ("echo", TMessageType.REPLY, seq):
            raise RuntimeError("unexpected reply header %r" % ((name, mtype, rseq),))
        reply = None
        proto.readStructBegin()
        while True:
            _, ftype, fid = proto.readFieldBegin()
            if ftype == TType.STOP:
                break
            if fid == 0 and ftype == TType.STRUCT:
                proto.readStructBegin()
                while True:
                    _, t2, id2 = proto.readFieldBegin()
                    if t2 == TType.STOP:
                        break
                    if id2 == 1 and t2 == TType.STRING:
                        reply = proto.readString()
                    else:
                        proto.skip(t2)
                    proto.readFieldEnd()
                proto.readStructEnd()
            else:
                proto.skip(ftype)
            proto.readFieldEnd()
        proto.readStructEnd()
        proto.readMessageEnd()
        if reply is None:
            raise RuntimeError("reply without a message")
        if args.msg != "whoami" and reply != msg:
            raise RuntimeError("echo mismatch: %d bytes back for %d" % (len(reply), len(msg)))
    print("version=%s" % sock.handle.version())
    print(reply if len(reply) < 200 else "%d bytes" % len(reply))
    trans.close()
except Exception as e:  # noqa: BLE001 - the test reads the line
    print("FAIL: %s: %s" % (type(e).__name__, e))
    sys.exit(1)
