//! Python peers (pyzmq, a real libzmq) started as child processes: the shared
//! [`reqchan_peers`] helpers, which every test crate uses.

pub use reqchan_peers::{PythonPeer, peers_dir, python};
