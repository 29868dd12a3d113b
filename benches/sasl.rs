//! SASL handshake time over loopback against an in-process broker: a new
//! connection's ApiVersions, SaslHandshake and a whole SCRAM exchange (two
//! SaslAuthenticate round trips; SCRAM-SHA-256 and SCRAM-SHA-512 at 4096
//! iterations), as a client pays it on connect. PLAIN is measured beside it
//! (the broker checks the password against its stored SCRAM key).
//!
//! The client's PBKDF2 of the password is part of the SCRAM figures (a SCRAM
//! server only stores keys and computes HMACs); it is also measured alone, and
//! after criterion's figures the bench prints the CPU time the broker's
//! threads spent per login, apart from the client (which runs on this thread).
//!
//! The HTTP console's Basic check (`http_basic_*`): a password derived at
//! the stored salt and iterations, against one found in the cache of
//! recently verified passwords, which is what every later request of a
//! logged-in browser pays.

use criterion::{Criterion, criterion_group, criterion_main};
use runnel::client::{Connection, SaslConfig};
use runnel::security::credentials::Alteration;
use runnel::security::scram::{ScramMechanism, random_bytes};
use runnel::security::{BasicAuthenticator, BasicCredentials, CredentialStore};
use runnel::{Broker, Config};
use tokio::runtime::Runtime;

const ITERATIONS: u32 = 4096;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu_times;

fn bench_sasl(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        let out = store.alter(vec![
            Alteration::upsert_password("bench", m, "bench-pw", ITERATIONS as i32).unwrap(),
        ]);
        assert!(out[0].1.is_ok());
    }
    drop(store);
    let config = Config {
        listen: "SASL_PLAINTEXT://127.0.0.1:0".into(),
        http_listen: "off".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let broker = rt.block_on(Broker::start(config)).unwrap();
    let addr = broker.local_addr().to_string();
    let mechanisms = ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"];
    let sasl = |mechanism: &str| SaslConfig {
        mechanism: mechanism.into(),
        username: "bench".into(),
        password: "bench-pw".into(),
    };
    for mechanism in mechanisms {
        let sasl = sasl(mechanism);
        c.bench_function(&format!("sasl_connect_{mechanism}"), |b| {
            b.iter(|| {
                rt.block_on(Connection::connect(&addr, "bench", Some(&sasl)))
                    .unwrap()
            })
        });
    }
    for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        let salt = random_bytes(32).unwrap();
        c.bench_function(&format!("scram_client_pbkdf2_{}", m.name()), |b| {
            b.iter(|| m.salted_password(b"bench-pw", &salt, ITERATIONS))
        });
    }

    // The broker's CPU per login (not a criterion figure).
    const LOGINS: u32 = 200;
    for mechanism in mechanisms {
        let sasl = sasl(mechanism);
        let (client_before, all_before) = cpu_times();
        for _ in 0..LOGINS {
            rt.block_on(Connection::connect(&addr, "bench", Some(&sasl)))
                .unwrap();
        }
        let (client_after, all_after) = cpu_times();
        let client = client_after - client_before;
        let broker = (all_after - all_before).saturating_sub(client);
        println!(
            "cpu sasl_connect_{mechanism}: broker {:.3} ms/login, client {:.3} ms/login",
            broker.as_secs_f64() * 1e3 / f64::from(LOGINS),
            client.as_secs_f64() * 1e3 / f64::from(LOGINS),
        );
    }
    rt.block_on(broker.shutdown()).unwrap();
}

fn bench_http_basic(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    let m = ScramMechanism::Sha512;
    store.alter(vec![
        Alteration::upsert_password("bench", m, "bench-pw", 4096).unwrap(),
    ]);
    // "bench:bench-pw"
    let credentials = BasicCredentials::parse("Basic YmVuY2g6YmVuY2gtcHc=").unwrap();
    c.bench_function("http_basic_derived_SCRAM-SHA-512", |b| {
        b.iter(|| assert!(store.verify_password(&credentials.user, &credentials.password)))
    });
    let cache = BasicAuthenticator::default();
    assert!(cache.verify(&store, &credentials));
    c.bench_function("http_basic_cached", |b| {
        b.iter(|| assert!(cache.verify(&store, &credentials)))
    });
}

criterion_group!(benches, bench_sasl, bench_http_basic);
criterion_main!(benches);
