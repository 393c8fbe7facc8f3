//! What names a shared channel.

use std::path::PathBuf;

use reqchan_core::codec::Crypt;

/// What identifies a shared channel: Salt's `(pki_dir, id, master_uri, crypt)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct ChannelKey {
    /// The minion's PKI directory (keys for the `aes` crypt).
    pub pki_dir: PathBuf,
    /// The minion id.
    pub id: String,
    /// The master's request endpoint, for example `tcp://127.0.0.1:4506`.
    pub master_uri: String,
    /// How requests are protected.
    pub crypt: Crypt,
}

impl ChannelKey {
    /// The key for a `clear` channel to `master_uri`.
    pub fn new(pki_dir: impl Into<PathBuf>, id: impl Into<String>, master_uri: impl Into<String>) -> Self {
        Self { pki_dir: pki_dir.into(), id: id.into(), master_uri: master_uri.into(), crypt: Crypt::Clear }
    }

    /// The same key with another crypt.
    pub fn with_crypt(mut self, crypt: Crypt) -> Self {
        self.crypt = crypt;
        self
    }
}
