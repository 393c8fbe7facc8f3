//! The weak map behind the registry.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

/// Whether a shared value can still be handed out.
pub trait Liveness {
    /// False once the value can no longer serve (for a channel: its driver ended or its
    /// runtime is gone). A registry never hands out a value that is not live.
    fn is_live(&self) -> bool;
}

/// What a [`Registry`] did, since it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RegistryStats {
    /// Lookups answered with an existing live value.
    pub reused: u64,
    /// Values created (including replacements).
    pub created: u64,
    /// Entries found dropped or dead at lookup and replaced by a new value.
    pub replaced: u64,
    /// Entries removed because their value was dropped or dead.
    pub pruned: u64,
}

/// A map from `K` to weakly held, shared values: see the [registry module](crate::client::registry).
///
/// Dead entries are pruned whenever a value is created, so the map holds at most the
/// live values plus those that died since the last creation.
#[derive(Debug)]
pub struct Registry<K, V> {
    entries: BTreeMap<K, Weak<V>>,
    stats: RegistryStats,
}

impl<K, V> Default for Registry<K, V> {
    fn default() -> Self {
        Self { entries: BTreeMap::new(), stats: RegistryStats::default() }
    }
}

impl<K: Ord, V: Liveness> Registry<K, V> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live value for `key`, if there is one.
    pub fn get(&mut self, key: &K) -> Option<Arc<V>> {
        let value = self.entries.get(key).and_then(Weak::upgrade).filter(|v| v.is_live())?;
        self.stats.reused += 1;
        Some(value)
    }

    /// The live value for `key`; if there is none, the one `create` makes, which the
    /// registry then holds weakly (replacing a dead entry). If `create` fails, nothing
    /// changes and its error is returned.
    pub fn get_or_try_insert_with<E>(
        &mut self,
        key: K,
        create: impl FnOnce() -> Result<Arc<V>, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let value = create()?;
        self.stats.created += 1;
        if self.entries.insert(key, Arc::downgrade(&value)).is_some() {
            self.stats.replaced += 1;
        }
        self.prune();
        Ok(value)
    }

    /// Removes every entry whose value was dropped or is dead; returns how many.
    pub fn prune(&mut self) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, weak| weak.upgrade().is_some_and(|v| v.is_live()));
        let removed = before - self.entries.len();
        self.stats.pruned += removed as u64;
        removed
    }

    /// Entries whose value is still alive and live.
    pub fn live(&self) -> usize {
        self.entries.values().filter(|weak| weak.upgrade().is_some_and(|v| v.is_live())).count()
    }

    /// Entries held, live or not (dead ones are pruned at the next creation).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counters since creation.
    pub fn stats(&self) -> RegistryStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ChannelKey;
    use reqchan_core::codec::Crypt;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Debug)]
    struct Fake {
        live: AtomicBool,
        serial: u32,
    }

    impl Liveness for Fake {
        fn is_live(&self) -> bool {
            self.live.load(Ordering::Relaxed)
        }
    }

    fn maker(serial: &mut u32) -> impl FnOnce() -> Result<Arc<Fake>, ()> + '_ {
        move || {
            *serial += 1;
            Ok(Arc::new(Fake { live: AtomicBool::new(true), serial: *serial }))
        }
    }

    fn key(master: &str) -> ChannelKey {
        ChannelKey::new("/etc/salt/pki/minion", "minion-1", master)
    }

    #[test]
    fn a_live_value_is_shared() {
        let mut registry = Registry::new();
        let mut serial = 0;
        let a = registry.get_or_try_insert_with(key("tcp://m:4506"), maker(&mut serial)).unwrap();
        let b = registry.get_or_try_insert_with(key("tcp://m:4506"), maker(&mut serial)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(serial, 1);
        assert_eq!(registry.stats(), RegistryStats { reused: 1, created: 1, replaced: 0, pruned: 0 });
    }

    #[test]
    fn every_part_of_the_key_matters() {
        let mut registry = Registry::new();
        let mut serial = 0;
        let base = key("tcp://m:4506");
        let keys = [
            base.clone(),
            ChannelKey { pki_dir: "/other".into(), ..base.clone() },
            ChannelKey { id: "minion-2".into(), ..base.clone() },
            ChannelKey { master_uri: "tcp://m:4507".into(), ..base.clone() },
            base.clone().with_crypt(Crypt::Aes),
        ];
        let values: Vec<_> =
            keys.iter().map(|k| registry.get_or_try_insert_with(k.clone(), maker(&mut serial)).unwrap()).collect();
        assert_eq!(serial, 5);
        assert_eq!(registry.live(), 5);
        drop(values);
    }

    #[test]
    fn the_last_handle_dropped_frees_the_value() {
        let mut registry = Registry::new();
        let mut serial = 0;
        let a = registry.get_or_try_insert_with(key("m"), maker(&mut serial)).unwrap();
        let weak = Arc::downgrade(&a);
        drop(a);
        assert!(weak.upgrade().is_none(), "the registry must not keep the value alive");
        assert_eq!(registry.live(), 0);
        let b = registry.get_or_try_insert_with(key("m"), maker(&mut serial)).unwrap();
        assert_eq!(b.serial, 2);
        assert_eq!(registry.stats().replaced, 1);
    }

    #[test]
    fn a_dead_value_is_replaced_never_handed_out() {
        let mut registry = Registry::new();
        let mut serial = 0;
        let a = registry.get_or_try_insert_with(key("m"), maker(&mut serial)).unwrap();
        a.live.store(false, Ordering::Relaxed);
        assert!(registry.get(&key("m")).is_none());
        let b = registry.get_or_try_insert_with(key("m"), maker(&mut serial)).unwrap();
        assert_eq!(b.serial, 2);
        assert!(!Arc::ptr_eq(&a, &b));
        // The old handle still works for its holder, but the registry now hands out `b`.
        let c = registry.get_or_try_insert_with(key("m"), maker(&mut serial)).unwrap();
        assert!(Arc::ptr_eq(&b, &c));
    }

    #[test]
    fn a_failed_creation_changes_nothing() {
        let mut registry: Registry<ChannelKey, Fake> = Registry::new();
        let err = registry.get_or_try_insert_with(key("m"), || Err("no runtime")).unwrap_err();
        assert_eq!(err, "no runtime");
        assert!(registry.is_empty());
        assert_eq!(registry.stats().created, 0);
    }

    #[test]
    fn many_get_drop_cycles_do_not_grow_the_map() {
        let mut registry = Registry::new();
        let mut serial = 0;
        for round in 0..1000 {
            let master = format!("tcp://m:{}", round % 7);
            let value = registry.get_or_try_insert_with(key(&master), maker(&mut serial)).unwrap();
            if round % 3 == 0 {
                value.live.store(false, Ordering::Relaxed);
            }
            drop(value);
            assert!(registry.len() <= 1, "round {round}: {} entries held", registry.len());
        }
        assert_eq!(registry.live(), 0);
        assert_eq!(registry.stats().created, 1000);
    }
}
