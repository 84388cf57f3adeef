"""grpcio's server reflection client (PyPI `grpcio-reflection`, the
v1alpha protocol) against a ringrpc server serving the greeter
(`idl/greeter.proto`) with reflection: lists the services, rebuilds the
greeter's descriptors from what the server sends, and calls SayHello with
a message class made from them (what grpcurl does). Prints OK at the end.

Usage: grpc_reflection_client.py HOST:PORT
"""

import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main() -> None:
    addr = sys.argv[1]
    with grpc.insecure_channel(addr) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert "helloworld.Greeter" in services, services

        pool = descriptor_pool.DescriptorPool(db)
        greeter = pool.FindServiceByName("helloworld.Greeter")
        kinds = {
            m.name: (m.client_streaming, m.server_streaming) for m in greeter.methods
        }
        assert kinds == {
            "SayHello": (False, False),
            "Ticks": (False, True),
            "Upload": (True, False),
            "Chat": (True, True),
        }, kinds
        hello = pool.FindMessageTypeByName("helloworld.HelloRequest")
        assert [f.name for f in hello.fields] == ["name"], hello.fields
        f = pool.FindFileContainingSymbol("helloworld.Greeter")
        assert f.name == "greeter.proto", f.name
        # A method's symbol, asked of the server itself.
        fdp = ProtoReflectionDescriptorDatabase(channel).FindFileContainingSymbol(
            "helloworld.Greeter.SayHello"
        )
        assert fdp.name == "greeter.proto", fdp.name
        assert pool.FindFileByName("greeter.proto").package == "helloworld"

        try:
            pool.FindMessageTypeByName("helloworld.NoSuchMessage")
        except KeyError:
            pass
        else:
            raise AssertionError("an unknown symbol was found")

        # A call with message classes built from the reflected descriptors.
        req_cls = message_factory.GetMessageClass(hello)
        reply_cls = message_factory.GetMessageClass(
            greeter.FindMethodByName("SayHello").output_type
        )
        say_hello = channel.unary_unary(
            "/helloworld.Greeter/SayHello",
            request_serializer=req_cls.SerializeToString,
            response_deserializer=reply_cls.FromString,
        )
        reply = say_hello(req_cls(name="reflection"), timeout=10)
        assert reply.message == "hello reflection", reply
    print("OK")


if __name__ == "__main__":
    main()
