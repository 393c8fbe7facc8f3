//! The `reqchan` binary: `send` against a pyzmq server (stdout JSON, exit codes 0, 1,
//! 2, 3 and 5), `serve`'s bind failure (6) and `bench --json` (exactly one line of JSON), embedded server and pyzmq.
//!
//! The binary is built (or found up to date) with the same cargo and profile as this
//! test, so the test never runs a stale binary.

use std::process::{Output, Stdio};
use std::time::Duration;

use reqchan_tests::binary::{ServeProcess, reqchan};
use reqchan_tests::python::{PythonPeer, python};
use reqchan_tests::within;

const LIMIT: Duration = Duration::from_secs(60);
const PEER: &str = "zmq_peer.py";

/// Starts `reqchan args` with `stdin`, its output piped; killed if dropped.
fn spawn(args: &[&str], stdin: Stdio) -> tokio::process::Child {
    tokio::process::Command::new(reqchan())
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start reqchan")
}

async fn run(args: &[&str]) -> Output {
    let child = spawn(args, Stdio::null());
    within(LIMIT, &format!("reqchan {args:?}"), child.wait_with_output()).await.expect("reqchan output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status and that stdout is exactly one line; returns that line as JSON.
fn one_json_line(output: &Output, status: i32) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(status), "stdout {:?}, stderr {:?}", stdout(output), stderr(output));
    let out = stdout(output);
    assert!(out.ends_with('\n') && out.lines().count() == 1, "not exactly one line: {out:?}");
    serde_json::from_str(out.trim_end()).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_prints_the_reply_as_one_json_line() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, PEER, &["--type", "rep"]).await;
    let ep = peer.endpoint();

    // The load goes in the clear envelope; the echo server sends the envelope back.
    let reply = one_json_line(&run(&["send", ep, r#"{"cmd":"ping","n":-1,"b":{"$bytes":"AP8="}}"#]).await, 0);
    let expected = r#"{"enc":"clear","load":{"cmd":"ping","n":-1,"b":{"$bytes":"AP8="}},"version":3}"#;
    assert_eq!(reply, serde_json::from_str::<serde_json::Value>(expected).unwrap());
    // Default payload `{}`, pipelined mode.
    let reply = one_json_line(&run(&["send", ep, "--mode", "pipelined"]).await, 0);
    assert_eq!(reply["load"], serde_json::json!({}));
    // --raw: the payload's msgpack as it is.
    let reply = one_json_line(&run(&["send", ep, "--raw", r#"{"x":[1,2.5,null,true]}"#]).await, 0);
    assert_eq!(reply, serde_json::json!({"x": [1, 2.5, null, true]}));
    // Binary values and non-UTF-8 str in the reply print as {"$bytes": base64}.
    let reply = one_json_line(&run(&["send", ep, "--raw", r#""bytes-please""#]).await, 0);
    assert_eq!(reply, serde_json::json!({"bin": {"$bytes": "AP8="}, "str": {"$bytes": "//4="}}));
}

#[tokio::test]
async fn send_exits_3_when_the_request_timed_out_after_all_tries() {
    let Some(python) = python() else { return };
    let mut peer = PythonPeer::start(&python, PEER, &["--type", "router", "--silent"]).await;
    let output = run(&["send", peer.endpoint(), r#"{"cmd":"ping"}"#, "--timeout", "0.2", "--tries", "2"]).await;
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
    assert!(stdout(&output).is_empty());
    assert!(stderr(&output).contains("timed out with no reply after 2 attempt(s)"), "{}", stderr(&output));
    for attempt in 1..=2 {
        let line = peer.next_line(LIMIT).await;
        assert!(line.as_deref().is_some_and(|l| l.starts_with("recv 1 ")), "attempt {attempt}: {line:?}");
    }
    // Nothing listening: the request times out in the queue, also status 3.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nobody = format!("tcp://127.0.0.1:{port}");
    let output = run(&["send", &nobody, "--timeout", "0.5", "--tries", "1"]).await;
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
    assert!(stderr(&output).contains("connection refused"), "the cause is shown: {}", stderr(&output));
}

#[tokio::test]
async fn send_exits_5_when_the_server_refuses_the_request() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, PEER, &["--type", "rep"]).await;
    for (payload, reason) in [(r#""refuse-busy""#, "server busy"), (r#""refuse-bad-load-map""#, "bad load")] {
        for raw in [false, true] {
            let mut args = vec!["send", peer.endpoint(), payload];
            if raw {
                args.push("--raw");
            }
            let output = run(&args).await;
            assert_eq!(output.status.code(), Some(5), "{args:?}: stderr {}", stderr(&output));
            assert!(stdout(&output).is_empty());
            assert!(stderr(&output).contains(reason), "{args:?}: {}", stderr(&output));
        }
    }
    let help = run(&["send", "--help"]).await;
    assert!(stdout(&help).contains("5  the server refused it"), "{}", stdout(&help));
}

#[tokio::test]
async fn send_exits_1_on_any_other_error() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, PEER, &["--type", "rep"]).await;
    let ep = peer.endpoint();
    let cases: [(&[&str], &str); 5] = [
        (&["send", ep, r#""garbage""#], "cannot decode the reply"),
        (&["send", ep, r#""multi-frame""#], "malformed reply"),
        (&["send", ep, "{not json"], "PAYLOAD_JSON is not valid JSON"),
        (&["send", "udp://127.0.0.1:1"], "invalid endpoint"),
        (&["send", ep, "18446744073709551616"], "outside the i64/u64 range"),
    ];
    for (args, message) in cases {
        let output = run(args).await;
        assert_eq!(output.status.code(), Some(1), "{args:?}: stderr {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{args:?}: {}", stdout(&output));
        assert!(stderr(&output).contains(message), "{args:?}: stderr {:?} lacks {message:?}", stderr(&output));
    }
}

const BENCH_KEYS: [&str; 11] = [
    "requests",
    "ok",
    "failed",
    "elapsed_s",
    "rps",
    "p50_us",
    "p99_us",
    "max_us",
    "transmissions",
    "retries",
    "resets",
];

fn check_bench(report: &serde_json::Value, requests: u64) {
    let object = report.as_object().expect("a JSON object");
    for key in BENCH_KEYS.iter().chain(&["latency_us", "errors", "stats"]) {
        assert!(object.contains_key(*key), "{key} missing: {report}");
    }
    let latency = &report["latency_us"];
    let (p50, p90, p999) = (latency["p50"].as_u64(), latency["p90"].as_u64(), latency["p99.9"].as_u64());
    assert!(p50 <= p90 && p90.is_some() && p999 >= latency["p99"].as_u64(), "{report}");
    assert_eq!(report["stats"]["replied"], requests, "{report}");
    assert_eq!(report["requests"], requests);
    assert_eq!(report["ok"], requests);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["transmissions"], requests);
    assert!(report["rps"].as_f64().is_some_and(|rps| rps > 0.0), "{report}");
    let (p50, p99, max) = (report["p50_us"].as_u64(), report["p99_us"].as_u64(), report["max_us"].as_u64());
    assert!(p50 <= p99 && p99 <= max, "{report}");
}

#[tokio::test]
async fn bench_json_prints_exactly_one_line() {
    for mode in ["pipelined", "lockstep"] {
        let output = run(&["bench", "--json", "--requests", "200", "--mode", mode]).await;
        check_bench(&one_json_line(&output, 0), 200);
    }
}

#[tokio::test]
async fn bench_against_a_pyzmq_router() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, PEER, &["--type", "router"]).await;
    let output =
        run(&["bench", "--endpoint", peer.endpoint(), "--json", "--requests", "200", "--concurrency", "8"]).await;
    check_bench(&one_json_line(&output, 0), 200);
    // The human summary.
    let output = run(&["bench", "--endpoint", peer.endpoint(), "--requests", "50", "--size", "10"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("50 ok, 0 failed"), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_bench_run_over_our_own_wire() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, PEER, &["--type", "router", "--heartbeat-ms", "50"]).await;
    let ep = peer.endpoint();
    let reply =
        one_json_line(&run(&["send", ep, r#"{"cmd":"ping"}"#, "--transport", "wire", "--heartbeat", "0.1"]).await, 0);
    assert_eq!(reply["load"], serde_json::json!({"cmd": "ping"}));
    let output = run(&["bench", "--endpoint", ep, "--json", "--requests", "200", "--transport", "wire"]).await;
    check_bench(&one_json_line(&output, 0), 200);
    // zmq.rs cannot send heartbeats: asking for them is a usage error, not a silent no-op.
    let output = run(&["send", ep, "--transport", "zmq", "--heartbeat", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--heartbeat needs --transport wire"), "{}", stderr(&output));
}

#[tokio::test]
async fn usage_errors_exit_2_and_say_what_is_wrong() {
    let cases: [(&[&str], &str); 4] = [
        (&["send", "tcp://127.0.0.1:1", "--tries", "0"], "--tries"),
        (&["send", "tcp://127.0.0.1:1", "--timeout", "5 parsecs"], "unknown unit"),
        // These used to abort (2^40) or panic (2^64 - 1) the process.
        (&["bench", "--size", "1099511627776"], "--size"),
        (&["bench", "--size", "18446744073709551615"], "--size"),
    ];
    for (args, message) in cases {
        let output = run(args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: stderr {}", stderr(&output));
        assert!(stderr(&output).contains(message), "{args:?}: {}", stderr(&output));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reads_a_large_payload_from_stdin_and_takes_durations_with_units() {
    let Some(python) = python() else { return };
    let peer = PythonPeer::start(&python, PEER, &["--type", "router"]).await;
    // 300 KiB of JSON: more than a command line can carry.
    let big = "x".repeat(300 << 10);
    let payload = format!(r#"{{"cmd":"ping","data":"{big}"}}"#);
    let mut child = spawn(&["send", peer.endpoint(), "-", "--timeout", "5s"], Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, payload.as_bytes()).await.unwrap();
    drop(stdin);
    let output = within(LIMIT, "send from stdin", child.wait_with_output()).await.unwrap();
    let reply = one_json_line(&output, 0);
    assert_eq!(reply["load"]["data"].as_str().map(str::len), Some(300 << 10));
}

#[tokio::test]
async fn serve_exits_6_when_it_cannot_bind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp://{}", taken.local_addr().unwrap());
    let output = run(&["serve", &endpoint]).await;
    assert_eq!(output.status.code(), Some(6), "stderr: {}", stderr(&output));
    let help = run(&["serve", "--help"]).await;
    assert!(stdout(&help).contains("6  the endpoint could not be bound"), "{}", stdout(&help));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_misbehaves_on_purpose_for_testing_clients_and_logs_with_v() {
    // Drops every request: the client times out (exit 3), and -v shows the timeout.
    let dropping = ServeProcess::start(&["--drop-rate", "1"]).await;
    let ep = dropping.endpoint().to_owned();
    let output = run(&["-v", "send", &ep, "--timeout", "300ms", "--tries", "1"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("request timed out"), "-v logs the timeout: {}", stderr(&output));
    dropping.kill().await;
    // Garbage replies: a decode error (exit 1).
    let garbage = ServeProcess::start(&["--reply-garbage-rate", "1"]).await;
    let ep = garbage.endpoint().to_owned();
    let output = run(&["send", &ep, "--timeout", "5"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot decode the reply"), "{}", stderr(&output));
    garbage.kill().await;
    // A delay: still answered.
    let slow = ServeProcess::start(&["--delay", "200ms"]).await;
    let ep = slow.endpoint().to_owned();
    let reply = one_json_line(&run(&["send", &ep, r#"{"n":1}"#]).await, 0);
    assert_eq!(reply, serde_json::json!({"n": 1}), "the echo server answers with the load");
    slow.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_failures_by_kind_with_null_percentiles_when_nothing_was_answered() {
    let dropping = ServeProcess::start(&["--drop-rate", "1"]).await;
    let ep = dropping.endpoint().to_owned();
    let output = run(&[
        "bench",
        "--endpoint",
        &ep,
        "--json",
        "--requests",
        "3",
        "--concurrency",
        "3",
        "--timeout",
        "100ms",
        "--tries",
        "1",
    ])
    .await;
    let report = one_json_line(&output, 1);
    assert_eq!((report["ok"].as_u64(), report["failed"].as_u64()), (Some(0), Some(3)), "{report}");
    assert!(report["p50_us"].is_null() && report["latency_us"]["p99"].is_null(), "null, not 0: {report}");
    assert_eq!(report["errors"]["timed out"], 3, "{report}");
    assert_eq!(report["rps"].as_f64(), Some(0.0), "req/s counts answered requests only: {report}");
    dropping.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_for_a_duration_with_a_json_payload_and_prints_a_histogram() {
    let output = run(&["bench", "--duration", "300ms", "--payload", r#"{"cmd":"ping"}"#, "--histogram"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("percentile") && out.contains("99.9"), "{out}");
    assert!(out.contains("latency: p50"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_bench_prints_what_was_done_and_exits_130() {
    let Some(python) = python() else { return };
    let mut peer = PythonPeer::start(&python, PEER, &["--type", "router"]).await;
    let args = ["bench", "--endpoint", peer.endpoint(), "--duration", "60s", "--json", "--concurrency", "4"];
    let child = spawn(&args, Stdio::null());
    // The peer reports each request it receives: once one arrived, bench is running.
    let first = peer.next_line(LIMIT).await;
    assert!(first.is_some_and(|l| l.starts_with("recv")), "the bench never sent");
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let output = within(LIMIT, "bench after SIGINT", child.wait_with_output()).await.unwrap();
    let report = one_json_line(&output, 130);
    assert_eq!(report["interrupted"], "SIGINT", "{report}");
    assert!(report["ok"].as_u64().is_some_and(|ok| ok > 0), "{report}");
    assert_eq!(report["failed"], 0, "requests in flight were let finish: {report}");
}

#[tokio::test]
async fn bench_runs_open_loop_at_a_target_rate() {
    let output = run(&["bench", "--rate", "1000", "--duration", "300ms", "--json"]).await;
    let report = one_json_line(&output, 0);
    let ok = report["ok"].as_u64().unwrap_or(0);
    // At most one request per intended slot: 300 ms at 1,000/s is at most 300 (no
    // lower bound is asserted: a loaded machine may fall behind).
    assert!(ok > 0 && ok <= 301, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["latency_us"]["p50"].as_u64().is_some(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_message_size_bounds_requests_on_both_sides() {
    let small = ServeProcess::start(&["--max-message-size", "64"]).await;
    let ep = small.endpoint().to_owned();
    // The client refuses a request over its own limit before sending anything.
    let big = format!(r#""{}""#, "x".repeat(100));
    let output = run(&["send", &ep, &big, "--max-message-size", "64"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("exceeds max_message_size"), "{}", stderr(&output));
    // The server answers a request over its limit with bad load: a refusal (exit 5).
    let output = run(&["send", &ep, &big]).await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    small.kill().await;
}

/// On an interactive terminal `bench` draws a progress bar with the rate and an ETA;
/// with stderr not a terminal it draws none. The terminal is a pseudo-terminal made by
/// util-linux's `script`.
#[tokio::test]
async fn bench_shows_a_progress_bar_on_a_terminal_and_none_otherwise() {
    let command = format!("{} bench --requests 2000 --mode lockstep --concurrency 1", reqchan().display());
    let on_terminal =
        tokio::process::Command::new("script").args(["-qfec", &command, "/dev/null"]).stdin(Stdio::null()).output();
    let output = within(LIMIT, "bench on a pseudo-terminal", on_terminal).await.expect("util-linux script");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let screen = String::from_utf8_lossy(&output.stdout).replace('\r', "\n");
    assert!(screen.contains("2000/2000"), "the bar reaches the total: {screen}");
    assert!(screen.lines().any(|l| l.contains("req/s, ETA")), "rate and ETA: {screen}");
    let piped = run(&["bench", "--requests", "200", "--mode", "lockstep", "--concurrency", "1"]).await;
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    assert!(!stderr(&piped).contains("ETA"), "no bar without a terminal: {}", stderr(&piped));
}
