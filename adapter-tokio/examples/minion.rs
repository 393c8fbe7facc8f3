//! A minion-style client: Salt's shared channel for `(pki_dir, id, master_uri)`, one
//! request at a time with REQ semantics, Salt's defaults for timeouts and tries, and
//! errors a caller can act on.
//!
//! Run against a master: `cargo run --example minion -- tcp://salt:4506`. Without an
//! argument it starts an echo server of its own on 127.0.0.1, so it runs anywhere.

use std::convert::Infallible;
use std::time::Duration;

use reqchan_tokio::server::{self, IncomingRequest, Reply, ServerOptions, SocketKind};
use reqchan_tokio::{Channel, ChannelConfig, ChannelKey, RequestOptions, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (master, _server) = match std::env::args().nth(1) {
        Some(master) => (master, None),
        None => {
            let echo =
                |request: IncomingRequest| async move { Ok::<_, Infallible>(Reply::msgpack(request.load_bytes())) };
            let server = server::bind("tcp://127.0.0.1:0", SocketKind::Router, ServerOptions::default(), echo).await?;
            (server.endpoint().to_owned(), Some(server))
        }
    };
    let key = ChannelKey::new("/etc/salt/pki/minion", "minion-1", master.as_str());
    let channel = Channel::get(key, ChannelConfig::lockstep().connect_timeout(Duration::from_secs(2)))?;

    // An unknown clear command: a real master answers {}, the echo server the load.
    let load = Value::map([("cmd", "_reqchan_example".into()), ("id", "minion-1".into())]);
    let options = RequestOptions::default().timeout(Duration::from_secs(5)).tries(2);
    match channel.request_with::<_, Value>(&load, options).await {
        Ok(reply) => println!("reply: {reply}"),
        Err(e) if e.is_connect() => println!("no master at {master}: {e}"),
        Err(e) if e.is_rejected() => println!("the master refused the request: {e}"),
        Err(e) if e.is_timeout() => println!("no answer in time: {e}"),
        Err(e) => return Err(e.into()),
    }
    println!("counters: {}", serde_json::to_string(&channel.stats())?);
    Ok(())
}
