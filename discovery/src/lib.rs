//! ringrpc's discovery: resolvers, the shared resolver cache, load balancers.
