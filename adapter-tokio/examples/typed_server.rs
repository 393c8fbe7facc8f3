//! A reply server with typed requests and replies: serde types in, serde types out,
//! and every malformed request answered `{"msg": "bad load"}` without reaching the
//! handler. A client on the same runtime sends it one request and prints the answer.

use serde::{Deserialize, Serialize};

use reqchan_tokio::server::{self, IncomingRequest, Reply, ServerConfig, ServerOptions, SocketKind};
use reqchan_tokio::{Channel, ChannelConfig, encode_reply};

#[derive(Debug, Deserialize, Serialize)]
struct Add {
    a: i64,
    b: i64,
}

#[derive(Debug, Deserialize, Serialize)]
struct Sum {
    sum: i64,
}

async fn add(request: IncomingRequest) -> Result<Reply, String> {
    let Add { a, b } = request.decode_load::<Add>().map_err(|e| e.to_string())?.load;
    let sum = a.checked_add(b).ok_or("overflow")?;
    encode_reply(&Sum { sum }).map(Reply::msgpack).map_err(|e| e.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = ServerOptions::new(ServerConfig::default().max_concurrent(16));
    let server = server::bind("tcp://127.0.0.1:0", SocketKind::Router, options, add).await?;
    println!("serving on {}", server.endpoint());

    let channel = Channel::connect(server.endpoint(), ChannelConfig::pipelined(8))?;
    let reply: Sum = channel.request(&Add { a: 40, b: 2 }).await?;
    println!("40 + 2 = {}", reply.sum);
    assert_eq!(reply.sum, 42);

    channel.close();
    let report = server.shutdown().await?;
    println!("server answered {} request(s)", report.stats.core.handler_replies);
    Ok(())
}
