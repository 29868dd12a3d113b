"""SASL_PLAINTEXT with real clients: kafka-python and confluent-kafka produce and
consume with PLAIN and SCRAM-SHA-512, a wrong password is refused with each
client's authentication error, users created through the admin API
(KIP-554) log in, librdkafka re-authenticates (KIP-368), and the runnel CLI
manages users over SASL. The first user is created offline with
`runnel user add --data-dir`, as on a broker whose every listener needs SASL."""

import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from conftest import BIN

ADMIN = "admin"
ADMIN_PASSWORD = "admin-pw-42"
SASL_ONLY = ["--set", "listener_security_protocol_map=PLAINTEXT:SASL_PLAINTEXT"]


def runnel(*args, env=None, check=True):
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=60, env=env, check=check
    )


@pytest.fixture
def sasl_broker(make_broker, tmp_path):
    """A broker whose only listener is SASL_PLAINTEXT, with user `admin`
    created in its data dir before it starts."""

    def make(extra=()):
        data = tmp_path / f"sasl{uuid.uuid4().hex[:6]}"
        secret = tmp_path / "admin.pw"
        secret.write_text(ADMIN_PASSWORD + "\n")
        runnel("user", "add", ADMIN, "--password-file", str(secret), "--data-dir", str(data))
        return make_broker(data_dir=data, extra=[*SASL_ONLY, *extra])

    return make


def confluent_conf(broker, mechanism, user=ADMIN, password=ADMIN_PASSWORD, **extra):
    return {
        "bootstrap.servers": broker.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        **extra,
    }


def kafka_python_conf(broker, mechanism, user=ADMIN, password=ADMIN_PASSWORD):
    return {
        "bootstrap_servers": broker.bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


def confluent_round_trip(broker, mechanism, user=ADMIN, password=ADMIN_PASSWORD):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    p = Producer(confluent_conf(broker, mechanism, user, password))
    for i in range(10):
        p.produce(topic, f"v{i}".encode())
    assert p.flush(30) == 0
    c = Consumer(
        confluent_conf(
            broker,
            mechanism,
            user,
            password,
            **{"group.id": "g-" + topic, "auto.offset.reset": "earliest"},
        )
    )
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 10 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got == [f"v{i}".encode() for i in range(10)]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_confluent_kafka_produces_and_consumes(sasl_broker, mechanism):
    confluent_round_trip(sasl_broker(), mechanism)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_kafka_python_produces_and_consumes(sasl_broker, mechanism):
    from kafka import KafkaConsumer, KafkaProducer

    broker = sasl_broker()
    topic = f"t-{uuid.uuid4().hex[:8]}"
    p = KafkaProducer(**kafka_python_conf(broker, mechanism))
    for i in range(10):
        p.send(topic, f"v{i}".encode())
    p.flush(30)
    p.close()
    c = KafkaConsumer(
        topic,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10000,
        **kafka_python_conf(broker, mechanism),
    )
    got = [m.value for m in c]
    c.close()
    assert got == [f"v{i}".encode() for i in range(10)]


def confluent_auth_errors(broker, mechanism, user, password):
    """The errors librdkafka reports when it tries to log in."""
    errors = []
    p = Producer(confluent_conf(broker, mechanism, user, password, error_cb=errors.append))
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    return errors


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_a_wrong_password_is_refused(sasl_broker, mechanism, caplog):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as PythonKafkaError

    broker = sasl_broker()
    errors = confluent_auth_errors(broker, mechanism, ADMIN, "not-it")
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors

    # kafka-python logs the broker's SaslAuthenticationFailedError on each
    # bootstrap attempt, then gives up. (With SCRAM it reports only the
    # closed socket after the failed exchange.)
    with pytest.raises(PythonKafkaError):
        KafkaProducer(
            **kafka_python_conf(broker, mechanism, ADMIN, "not-it"),
            bootstrap_timeout_ms=3000,
        )
    if mechanism == "PLAIN":
        assert "[Error 58] SaslAuthenticationFailedError" in caplog.text


def test_users_created_through_the_admin_api_log_in(sasl_broker):
    from kafka import KafkaAdminClient

    broker = sasl_broker()
    admin = AdminClient(confluent_conf(broker, "SCRAM-SHA-512"))
    upsert = UserScramCredentialUpsertion(
        "carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"carol-pw"
    )
    for f in admin.alter_user_scram_credentials([upsert]).values():
        f.result()
    described = admin.describe_user_scram_credentials(["carol"])["carol"].result()
    infos = described.scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in infos] == [(ScramMechanism.SCRAM_SHA_512, 8192)]

    confluent_round_trip(broker, "SCRAM-SHA-512", "carol", "carol-pw")
    confluent_round_trip(broker, "PLAIN", "carol", "carol-pw")
    KafkaAdminClient(**kafka_python_conf(broker, "SCRAM-SHA-512", "carol", "carol-pw")).close()

    with pytest.raises(KafkaException) as unknown:
        admin.describe_user_scram_credentials(["nobody"])["nobody"].result()
    assert unknown.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND

    deletion = UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_512)
    for f in admin.alter_user_scram_credentials([deletion]).values():
        f.result()
    errors = confluent_auth_errors(broker, "SCRAM-SHA-512", "carol", "carol-pw")
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors


def test_librdkafka_reauthenticates_before_the_session_ends(sasl_broker):
    broker = sasl_broker(extra=["--set", "sasl.connections_max_reauth_ms=1500"])
    errors = []
    topic = f"t-{uuid.uuid4().hex[:8]}"
    p = Producer(confluent_conf(broker, "SCRAM-SHA-512", error_cb=errors.append))
    deadline = time.monotonic() + 6
    sent = 0
    while time.monotonic() < deadline:
        p.produce(topic, b"x")
        sent += 1
        p.flush(10)
        time.sleep(0.2)
    assert p.flush(10) == 0
    # A connection the broker closed on expiry would show as a transport error.
    assert errors == [], errors
    assert sent > 20


def test_the_cli_manages_users_over_sasl(sasl_broker, tmp_path):
    broker = sasl_broker()
    env = {
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": ADMIN,
        "KAFKA_SASL_PASSWORD": ADMIN_PASSWORD,
        "SCRAM_PASSWORD": "dave-pw",
        "PATH": "/usr/bin:/bin",
    }
    runnel("user", "add", "dave", "-b", broker.bootstrap, env=env)
    listed = runnel("user", "list", "-b", broker.bootstrap, env=env).stdout
    assert "dave" in listed and "SCRAM-SHA-256" in listed and "SCRAM-SHA-512" in listed
    dave = {**env, "KAFKA_SASL_USERNAME": "dave", "KAFKA_SASL_PASSWORD": "dave-pw"}
    topics = runnel("topic", "list", "-b", broker.bootstrap, env=dave)
    assert topics.returncode == 0, topics.stderr
    runnel("user", "delete", "dave", "-b", broker.bootstrap, env=env)
    refused = runnel("topic", "list", "-b", broker.bootstrap, env=dave, check=False)
    assert refused.returncode == 1
    assert "SASL_AUTHENTICATION_FAILED" in refused.stderr, refused.stderr
    # Without credentials the broker closes the connection at the first request.
    anonymous = runnel("topic", "list", "-b", broker.bootstrap, check=False)
    assert anonymous.returncode == 1
