//! The generated service trait (with `extends`), the per-method error enums
//! and the conversions between a handler's outcome and the result struct,
//! end to end through the wire: handler → result struct → bytes → result
//! struct → caller's outcome.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use ringrpc_build_roundtrip::generated::{constructs as c, shared, thrift_test as tt};
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, BinaryWriter, ExceptionKind, Message, Utf8Bytes,
};

/// Runs a future that never waits (the handlers here don't).
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the handler waited"),
    }
}

/// Sends a result struct over the wire and back.
fn wire<T: Message>(v: &T) -> T {
    let mut out = LinkWriter::new();
    v.encode(&mut BinaryWriter::new(&mut out));
    T::decode(&mut BinaryReader::new(Bytes::from(out.to_vec()))).unwrap()
}

/// A per-core handler: not `Send` (it holds an `Rc`), which the trait allows.
struct Shop {
    calls: std::rc::Rc<std::cell::Cell<u32>>,
}

impl shared::Base for Shop {
    async fn ping(&self) -> Result<Utf8Bytes, ApplicationException> {
        Ok("pong".into())
    }
}

impl c::Shop for Shop {
    async fn find(
        &self,
        name: Utf8Bytes,
        hint: Option<i32>,
    ) -> Result<shared::Point, c::ShopFindError> {
        self.calls.set(self.calls.get() + 1);
        match name.as_str() {
            "origin" => Ok(shared::Point {
                x: 0,
                y: hint.unwrap_or(0),
            }),
            "gone" => Err(shared::NotFound {
                message: name,
                id: hint.map(i64::from),
            }
            .into()),
            "oops" => Err(c::Oops {
                message: "oops".into(),
                code: 500,
            }
            .into()),
            _ => Err(ApplicationException::new(ExceptionKind::InternalError, "broken").into()),
        }
    }

    async fn touch(&self) -> Result<(), ApplicationException> {
        Ok(())
    }

    async fn fire(&self, _at: i64) -> Result<(), ApplicationException> {
        Ok(())
    }

    async fn trees(
        &self,
        depth: i32,
        _d: c::Defaults,
    ) -> Result<Vec<c::Tree>, ApplicationException> {
        Ok((0..depth).map(|_| c::Tree::default()).collect())
    }
}

/// What a caller sees: the handler's outcome through the result struct.
fn call_find(h: &Shop, name: &str, hint: Option<i32>) -> Result<shared::Point, c::ShopFindError> {
    let outcome = ready(c::Shop::find(h, name.into(), hint));
    match c::ShopFindResult::from_outcome(outcome) {
        Ok(result) => wire(&result).into_outcome(),
        // An application exception travels as an exception message.
        Err(app) => Err(app.into()),
    }
}

#[test]
fn outcomes_cross_the_wire() {
    let h = Shop {
        calls: Default::default(),
    };
    assert_eq!(
        call_find(&h, "origin", Some(3)),
        Ok(shared::Point { x: 0, y: 3 })
    );
    assert_eq!(
        call_find(&h, "gone", Some(7)),
        Err(c::ShopFindError::NotFound(shared::NotFound {
            message: "gone".into(),
            id: Some(7)
        }))
    );
    let oops = call_find(&h, "oops", None).unwrap_err();
    assert!(matches!(&oops, c::ShopFindError::Oops(o) if o.code == 500));
    assert!(oops.to_string().contains("oops"));
    let app = call_find(&h, "?", None).unwrap_err();
    assert!(
        matches!(&app, c::ShopFindError::Application(e) if e.kind == ExceptionKind::InternalError)
    );
    assert_eq!(h.calls.get(), 4);

    // The base service's methods are there too (`extends`).
    assert_eq!(ready(shared::Base::ping(&h)).unwrap(), "pong");
    let trees = ready(c::Shop::trees(&h, 2, c::Defaults::default())).unwrap();
    assert_eq!(
        wire(&c::ShopTreesResult::from_outcome(Ok(trees)).unwrap())
            .into_outcome()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn void_and_empty_results() {
    // void: success is an empty struct; decoding it gives Ok(()).
    let r = tt::ThriftTestTestVoidResult::from_outcome(Ok(())).unwrap();
    assert_eq!(wire(&r).into_outcome(), Ok(()));
    // A void method that throws: the exception comes back.
    let x = tt::Xception {
        error_code: 1001,
        message: "Xception".into(),
    };
    let r = tt::ThriftTestTestExceptionResult::from_outcome(Err(x.clone().into())).unwrap();
    assert_eq!(
        wire(&r).into_outcome(),
        Err(tt::ThriftTestTestExceptionError::Err1(x))
    );
    // A result with nothing set, for a method with a return value, is
    // Apache's "unknown result".
    let empty = tt::ThriftTestTestStringResult::default();
    let err = empty.into_outcome().unwrap_err();
    assert_eq!(err.kind, ExceptionKind::MissingResult);
    assert_eq!(err.message, "testString failed: unknown result");
    let empty = tt::ThriftTestTestMultiExceptionResult::default();
    assert!(matches!(
        empty.into_outcome(),
        Err(tt::ThriftTestTestMultiExceptionError::Application(e)) if e.kind == ExceptionKind::MissingResult
    ));
}

#[test]
fn application_exceptions_are_not_put_in_the_result() {
    let app = ApplicationException::new(ExceptionKind::InternalError, "no");
    assert_eq!(
        tt::ThriftTestTestStringResult::from_outcome(Err(app.clone())),
        Err(app.clone())
    );
    assert_eq!(
        tt::ThriftTestTestMultiExceptionResult::from_outcome(Err(app.clone().into())),
        Err(app)
    );
}
