//! SASL handshake time over loopback against an in-process broker: a new
//! connection's ApiVersions, SaslHandshake and a whole SCRAM-SHA-512 exchange
//! (4096 iterations; the client's PBKDF2 included), as a client pays it on
//! connect. PLAIN is measured beside it (the broker derives the key itself).
//! And the HTTP console's Basic check (`http_basic_*`): a password derived at
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

fn bench_sasl(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    let m = ScramMechanism::Sha512;
    let salt = random_bytes(32).unwrap();
    let out = store.alter(vec![Alteration::Upsert {
        user: "bench".into(),
        mechanism: m.kafka_type(),
        iterations: 4096,
        salted_password: m.salted_password(b"bench-pw", &salt, 4096),
        salt,
    }]);
    assert!(out[0].1.is_ok());
    drop(store);
    let config = Config {
        listen: "SASL_PLAINTEXT://127.0.0.1:0".into(),
        http_listen: "off".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let broker = rt.block_on(Broker::start(config)).unwrap();
    let addr = broker.local_addr().to_string();
    for mechanism in ["SCRAM-SHA-512", "PLAIN"] {
        let sasl = SaslConfig {
            mechanism: mechanism.into(),
            username: "bench".into(),
            password: "bench-pw".into(),
        };
        c.bench_function(&format!("sasl_connect_{mechanism}"), |b| {
            b.iter(|| {
                rt.block_on(Connection::connect(&addr, "bench", Some(&sasl)))
                    .unwrap()
            })
        });
    }
    rt.block_on(broker.shutdown()).unwrap();
}

fn bench_http_basic(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    let m = ScramMechanism::Sha512;
    let salt = random_bytes(32).unwrap();
    store.alter(vec![Alteration::Upsert {
        user: "bench".into(),
        mechanism: m.kafka_type(),
        iterations: 4096,
        salted_password: m.salted_password(b"bench-pw", &salt, 4096),
        salt,
    }]);
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
