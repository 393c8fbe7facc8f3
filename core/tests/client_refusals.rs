//! The server's refusals (`bad load`, `server busy`, the handler-exception string) are
//! told apart from replies when a request asks for it, and counted apart.

use bytes::Bytes;
use reqchan_core::client::{Client, ClientConfig, RequestError, RequestOptions, SocketAction, Transmit};
use reqchan_core::codec::{
    self, BAD_LOAD_REPLY, BAD_LOAD_STRING_REPLY, HANDLER_EXCEPTION_REPLY, Refusal, SERVER_BUSY_REPLY, Value,
};
use reqchan_sim::origin;

fn connected_client() -> Client {
    let mut client = Client::new(ClientConfig::default()).unwrap();
    assert!(matches!(client.poll_action(), Some(SocketAction::Connect { .. })));
    client.handle_connected(origin());
    client
}

/// Sends one request with `options` and answers it with `reply`, echoing its envelope.
fn answer(client: &mut Client, options: RequestOptions, reply: &[u8]) -> Result<Bytes, RequestError> {
    let now = origin();
    let id = client.submit(now, Bytes::from_static(b"request"), options).unwrap();
    let sent: Transmit = client.poll_transmit(now).unwrap();
    let frames = sent.frames();
    let echo: Vec<Bytes> = frames[..frames.len() - 1].iter().cloned().chain([Bytes::copy_from_slice(reply)]).collect();
    client.handle_reply(now, &echo);
    let done = client.poll_completion().unwrap();
    assert_eq!(done.id, id);
    done.result
}

#[test]
fn each_refusal_shape_completes_with_rejected_and_is_not_counted_as_a_reply() {
    let mut client = connected_client();
    let detect = RequestOptions::default().detect_refusals(true);
    let shapes = [
        (BAD_LOAD_REPLY, Refusal::BadLoad),
        (BAD_LOAD_STRING_REPLY, Refusal::BadLoad),
        (SERVER_BUSY_REPLY, Refusal::ServerBusy),
        (HANDLER_EXCEPTION_REPLY, Refusal::HandlerException),
    ];
    for (bytes, reason) in shapes {
        assert_eq!(answer(&mut client, detect, bytes), Err(RequestError::Rejected { reason }));
    }
    let stats = client.stats();
    assert_eq!((stats.rejected, stats.replied), (4, 0));
    assert!(RequestError::Rejected { reason: Refusal::ServerBusy }.is_retryable());
    assert!(!RequestError::Rejected { reason: Refusal::BadLoad }.is_retryable());
}

#[test]
fn replies_that_merely_contain_a_refusal_are_replies() {
    let mut client = connected_client();
    let detect = RequestOptions::default().detect_refusals(true);
    let lookalikes = [
        codec::encode_reply(&Value::map([("msg", "bad load".into()), ("more", 1u64.into())])).unwrap(),
        codec::encode_reply(&Value::Array(vec![Value::from("bad load")])).unwrap(),
        codec::encode_reply(&Value::map([("msg", "ok".into())])).unwrap(),
    ];
    for reply in lookalikes {
        assert_eq!(answer(&mut client, detect, &reply), Ok(reply.clone()));
    }
    assert_eq!(client.stats().rejected, 0);
}

#[test]
fn without_detection_a_refusal_is_returned_untouched() {
    let mut client = connected_client();
    for bytes in [BAD_LOAD_REPLY, BAD_LOAD_STRING_REPLY, SERVER_BUSY_REPLY, HANDLER_EXCEPTION_REPLY] {
        assert_eq!(answer(&mut client, RequestOptions::default(), bytes), Ok(Bytes::copy_from_slice(bytes)));
    }
    assert_eq!((client.stats().replied, client.stats().rejected), (4, 0));
}
