"""SSL listeners with stock clients: confluent-kafka and kafka-python produce
and consume over TLS with the broker's certificate verified, and with client
certificates (ssl.client.auth=required). The certificates are made with the
openssl commands the README's Security section shows."""

import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from conftest import free_port


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def sign(cwd, name, subject, extensions):
    """A key and a certificate for `subject`, signed by the CA in `cwd`."""
    (cwd / f"{name}.ext").write_text(extensions + "\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=cwd)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "365", "-extfile", f"{name}.ext",
            "-out", f"{name}.crt", cwd=cwd)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
            "-subj", "/CN=runnel test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    sign(d, "broker", "/CN=localhost",
         "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    (d / "broker.keystore.pem").write_text(
        (d / "broker.key").read_text() + (d / "broker.crt").read_text())
    sign(d, "alice", "/C=US/O=Acme/OU=eng/CN=alice", "extendedKeyUsage=clientAuth")
    other = d / "other"
    other.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
            "-subj", "/CN=someone else", "-keyout", "ca.key", "-out", "ca.crt", cwd=other)
    return d


def ssl_broker(make_broker, pki, *extra):
    port = free_port()
    return make_broker(port=port, extra=[
        "--set", f"listen=SSL://127.0.0.1:{port}",
        "--set", f"ssl.keystore_location={pki / 'broker.keystore.pem'}",
        *extra,
    ])


def confluent_roundtrip(bootstrap, settings, count=20):
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap, **settings})
    for i in range(count):
        producer.produce(topic, value=f"m{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g",
                         "enable.auto.commit": False, **settings})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < count:
        m = consumer.poll(10)
        assert m is not None, f"only {len(got)} of {count} records came back"
        assert not m.error(), m.error()
        got.append(m.value())
    consumer.close()
    assert got == [f"m{i}".encode() for i in range(count)]


def kafka_python_roundtrip(bootstrap, settings, count=20):
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SSL", **settings)
    for i in range(count):
        producer.send(topic, f"m{i}".encode())
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, security_protocol="SSL",
                             auto_offset_reset="earliest", consumer_timeout_ms=10000,
                             **settings)
    got = [m.value for m in consumer][:count]
    consumer.close()
    assert got == [f"m{i}".encode() for i in range(count)]


def test_confluent_kafka_over_ssl_verifies_the_broker(make_broker, pki):
    b = ssl_broker(make_broker, pki)
    confluent_roundtrip(b.bootstrap, {"security.protocol": "SSL",
                                      "ssl.ca.location": str(pki / "ca.crt"),
                                      "ssl.endpoint.identification.algorithm": "https"})
    # A client that trusts another CA refuses the broker.
    admin = AdminClient({"bootstrap.servers": b.bootstrap, "security.protocol": "SSL",
                         "ssl.ca.location": str(pki / "other" / "ca.crt")})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)


def test_kafka_python_over_ssl_verifies_the_broker(make_broker, pki):
    b = ssl_broker(make_broker, pki)
    kafka_python_roundtrip(b.bootstrap, {"ssl_cafile": str(pki / "ca.crt"),
                                         "ssl_check_hostname": True})
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=b.bootstrap, security_protocol="SSL",
                      ssl_cafile=str(pki / "other" / "ca.crt"))


def test_mutual_tls_with_client_auth_required(make_broker, pki):
    b = ssl_broker(make_broker, pki,
                   "--set", "ssl.client_auth=required",
                   "--set", f"ssl.truststore_location={pki / 'ca.crt'}")
    confluent_roundtrip(b.bootstrap, {"security.protocol": "SSL",
                                      "ssl.ca.location": str(pki / "ca.crt"),
                                      "ssl.certificate.location": str(pki / "alice.crt"),
                                      "ssl.key.location": str(pki / "alice.key")})
    kafka_python_roundtrip(b.bootstrap, {"ssl_cafile": str(pki / "ca.crt"),
                                         "ssl_certfile": str(pki / "alice.crt"),
                                         "ssl_keyfile": str(pki / "alice.key")})
    # Without a certificate: refused.
    admin = AdminClient({"bootstrap.servers": b.bootstrap, "security.protocol": "SSL",
                         "ssl.ca.location": str(pki / "ca.crt")})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=b.bootstrap, security_protocol="SSL",
                      ssl_cafile=str(pki / "ca.crt"))
    assert "TLS handshake failed" in b.log()
