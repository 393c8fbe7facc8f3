//! Helpers for the integration tests: peers, ports, processes.
