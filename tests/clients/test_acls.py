"""ACLs through the admin clients users use (kafka-python's KafkaAdminClient,
confluent-kafka's AdminClient), and a producer refused WRITE. Every PLAINTEXT
connection is User:ANONYMOUS: ACLs are written while it is a super user, and
checked after a restart without that."""

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
)
from kafka.admin import ResourceType as KpResourceType

ON = ["--set", "authorizer.enabled=true"]
SUPER = ["--set", "authorizer.super_users=User:ANONYMOUS"]


def test_kafka_python_create_describe_delete_acls(make_broker):
    b = make_broker(extra=ON + SUPER)
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=10_000)
    literal = ACL(
        principal="User:alice",
        host="*",
        operation=ACLOperation.READ,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(KpResourceType.TOPIC, "orders", ACLResourcePatternType.LITERAL),
    )
    prefixed = ACL(
        principal="User:bob",
        host="*",
        operation=ACLOperation.WRITE,
        permission_type=ACLPermissionType.DENY,
        resource_pattern=ResourcePattern(KpResourceType.TOPIC, "ord", ACLResourcePatternType.PREFIXED),
    )
    result = admin.create_acls([literal, prefixed])
    assert not result["failed"], result
    assert len(result["succeeded"]) == 2

    match = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(KpResourceType.TOPIC, "orders", ACLResourcePatternType.MATCH),
    )
    acls, error = admin.describe_acls(match)
    assert error.errno == 0
    assert sorted(a.principal for a in acls) == ["User:alice", "User:bob"]

    only_bob = ACLFilter(
        principal="User:bob",
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(KpResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    deleted = admin.delete_acls([only_bob])
    (_, matching, error) = deleted[0]
    assert error.errno == 0
    assert [a.principal for a in matching] == ["User:bob"]
    acls, _ = admin.describe_acls(match)
    assert [a.principal for a in acls] == ["User:alice"]
    admin.close()


def test_confluent_kafka_create_describe_delete_acls(make_broker):
    b = make_broker(extra=ON + SUPER)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    bindings = [
        AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "app-", ResourcePatternType.PREFIXED, "User:alice", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for f in admin.create_acls(bindings).values():
        assert f.result(10) is None
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    found = admin.describe_acls(everything).result(10)
    assert sorted(found) == sorted(bindings)
    groups = AclBindingFilter(ResourceType.GROUP, "app-1", ResourcePatternType.MATCH, None, None,
                              AclOperation.ANY, AclPermissionType.ANY)
    assert admin.describe_acls(groups).result(10) == [bindings[1]]
    deleted = admin.delete_acls([groups])[groups].result(10)
    assert deleted == [bindings[1]]
    assert admin.describe_acls(everything).result(10) == [bindings[0]]


def test_read_without_write_consumes_and_cannot_produce(make_broker, tmp_path):
    data = tmp_path / "acl-data"
    b = make_broker(extra=ON + SUPER, data_dir=data)
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=10_000)
    admin.create_topics([NewTopic("ro", 1, 1)])
    admin.close()
    p = Producer({"bootstrap.servers": b.bootstrap})
    p.produce("ro", b"hello")
    assert p.flush(10) == 0
    ck = AdminClient({"bootstrap.servers": b.bootstrap})
    grants = [
        AclBinding(ResourceType.TOPIC, "ro", ResourcePatternType.LITERAL, "User:ANONYMOUS", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "readers", ResourcePatternType.LITERAL, "User:ANONYMOUS", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for f in ck.create_acls(grants).values():
        f.result(10)
    b.stop()

    # The same data dir, ANONYMOUS no longer a super user.
    b = make_broker(extra=ON, data_dir=data)
    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "readers",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition("ro", 0, 0)])
    m = consumer.poll(15)
    assert m is not None and m.error() is None and m.value() == b"hello"
    consumer.commit(message=m, asynchronous=False)
    consumer.close()

    errors = []
    p = Producer({"bootstrap.servers": b.bootstrap, "retries": 0})
    p.produce("ro", b"nope", on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_runnel_acl_cli_adds_lists_and_removes(make_broker):
    import subprocess

    from conftest import BIN

    b = make_broker(extra=ON + SUPER)

    def acl(*args):
        return subprocess.run([str(BIN), "acl", *args, "-b", b.bootstrap],
                              capture_output=True, text=True, timeout=30)

    added = acl("add", "--allow-principal", "User:billing", "--operation", "Read",
                "--topic", "orders", "--group", "billing")
    assert added.returncode == 0, added.stderr
    added = acl("add", "--deny-principal", "User:shop", "--operation", "Write",
                "--topic", "ord", "--resource-pattern-type", "prefixed")
    assert added.returncode == 0, added.stderr
    listed = acl("list", "--topic", "orders", "--resource-pattern-type", "match")
    assert "name=orders, patternType=LITERAL" in listed.stdout
    assert "(principal=User:shop, host=*, operation=WRITE, permissionType=DENY)" in listed.stdout
    removed = acl("remove", "--topic", "orders")
    assert removed.stdout.strip() == "Removed 1 ACLs."
    listed = acl("list")
    assert "resourceType=GROUP, name=billing" in listed.stdout
    assert "name=orders," not in listed.stdout
    bad = acl("add", "--allow-principal", "alice", "--topic", "x")
    assert bad.returncode == 1 and "INVALID_REQUEST" in bad.stderr
