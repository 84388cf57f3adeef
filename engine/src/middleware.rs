//! Middleware: a [`Service`] answers a request in a context; a [`Layer`]
//! wraps a service in another. Chains are composed at build time into one
//! type ([`Stack`]), so a call through N middlewares is N inlined async calls:
//! no boxing, no dynamic dispatch, and no `Send` bound (a chain lives on one
//! core).
//!
//! The shape is tower's `Service`/`Layer` with motore's `async fn call`
//! (Volo's take), minus `poll_ready` and `Send`.

/// Something that answers a request.
pub trait Service<Cx, Req> {
    /// The answer.
    type Response;
    /// The failure.
    type Error;
    /// Answers `req` in `cx`.
    async fn call(&self, cx: &mut Cx, req: Req) -> Result<Self::Response, Self::Error>;
}

/// Wraps a service in another (a middleware).
pub trait Layer<S> {
    /// The wrapped service.
    type Service;
    /// Wraps `inner`.
    fn layer(self, inner: S) -> Self::Service;
}

/// The layer that wraps nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl<S> Layer<S> for Identity {
    type Service = S;
    fn layer(self, inner: S) -> S {
        inner
    }
}

/// Two layers, `outer` around `inner`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stack<Inner, Outer> {
    inner: Inner,
    outer: Outer,
}

impl<Inner, Outer> Stack<Inner, Outer> {
    /// `outer` wrapped around `inner`.
    pub fn new(inner: Inner, outer: Outer) -> Self {
        Self { inner, outer }
    }
}

impl<S, Inner: Layer<S>, Outer: Layer<Inner::Service>> Layer<S> for Stack<Inner, Outer> {
    type Service = Outer::Service;
    fn layer(self, s: S) -> Self::Service {
        self.outer.layer(self.inner.layer(s))
    }
}

/// A layer made from a closure `FnOnce(S) -> T` (handy in examples).
#[derive(Debug, Clone, Copy)]
pub struct LayerFn<F>(pub F);

impl<S, T, F: FnOnce(S) -> T> Layer<S> for LayerFn<F> {
    type Service = T;
    fn layer(self, inner: S) -> T {
        (self.0)(inner)
    }
}

/// A service made from an async closure-like function: `F(&mut Cx, Req)`
/// returning a future. Useful for handlers written inline.
#[derive(Debug, Clone, Copy)]
pub struct ServiceFn<F>(pub F);

impl<Cx, Req, F, Fut, R, E> Service<Cx, Req> for ServiceFn<F>
where
    F: Fn(&mut Cx, Req) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    type Response = R;
    type Error = E;
    async fn call(&self, cx: &mut Cx, req: Req) -> Result<R, E> {
        (self.0)(cx, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Add(i32);
    impl Service<Vec<&'static str>, i32> for Add {
        type Response = i32;
        type Error = ();
        async fn call(&self, cx: &mut Vec<&'static str>, req: i32) -> Result<i32, ()> {
            cx.push("add");
            Ok(req + self.0)
        }
    }

    struct Log<S>(S);
    impl<S: Service<Vec<&'static str>, i32>> Service<Vec<&'static str>, i32> for Log<S> {
        type Response = S::Response;
        type Error = S::Error;
        async fn call(
            &self,
            cx: &mut Vec<&'static str>,
            req: i32,
        ) -> Result<S::Response, S::Error> {
            cx.push("before");
            let r = self.0.call(cx, req).await;
            cx.push("after");
            r
        }
    }

    #[test]
    fn layers_wrap_in_order() {
        let stack = Stack::new(LayerFn(Log), LayerFn(Log));
        let svc = stack.layer(Add(1));
        let mut cx = Vec::new();
        let out = futures_lite_block_on(svc.call(&mut cx, 41));
        assert_eq!(out, Ok(42));
        assert_eq!(cx, ["before", "before", "add", "after", "after"]);
    }

    fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime");
        rt.block_on(f)
    }
}
