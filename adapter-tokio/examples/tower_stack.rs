//! A channel inside a tower stack: a timeout, and a concurrency limit that turns the
//! channel's bounded queue into backpressure. `oneshot` on a temporary stack works: a
//! request in flight keeps its channel alive.

use std::convert::Infallible;
use std::time::Duration;

use reqchan_tokio::server::{self, IncomingRequest, Reply, ServerOptions, SocketKind};
use reqchan_tokio::{Channel, ChannelConfig, Value};
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let echo = |request: IncomingRequest| async move { Ok::<_, Infallible>(Reply::msgpack(request.load_bytes())) };
    let server = server::bind("tcp://127.0.0.1:0", SocketKind::Router, ServerOptions::default(), echo).await?;
    let channel = Channel::connect(server.endpoint(), ChannelConfig::pipelined(16))?;

    let mut stack =
        ServiceBuilder::new().concurrency_limit(16).timeout(Duration::from_secs(5)).service(channel.clone());
    // Each call runs as a task of its own: with 16 in progress, `ready` waits for one
    // to finish (backpressure) instead of the channel's queue refusing.
    let mut replies = Vec::new();
    for n in 0..32u64 {
        let ready = stack.ready().await?;
        replies.push(tokio::spawn(ready.call(Value::from(n))));
    }
    for (n, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.await??.as_u64(), Some(n as u64));
    }
    println!("32 requests through the stack, each answered with its own load");

    // A one-off request on a stack built for it, dropped as soon as it is called.
    let once = ServiceBuilder::new().timeout(Duration::from_secs(5)).service(channel);
    println!("oneshot: {}", once.oneshot(Value::from("ping")).await?);
    server.shutdown().await?;
    Ok(())
}
