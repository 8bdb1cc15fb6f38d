//! The attacker suite of Relais lives in `tests/attack/`: it starts the whole
//! stack in-process and calls every RPC of every service with two tenants,
//! every role and bad inputs. Run it with
//! `cargo test -p relais-abuse-tests` (Postgres and NATS as for `make test`).
