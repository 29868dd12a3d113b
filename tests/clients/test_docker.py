"""The docker image: built from scratch by docker/build.sh, reached from the
host through a published port, and from a second container on a user-defined
network through the INTERNAL listener (runnel's own CLI is the client there);
stopped and started with its data kept and no recovery needed.

Skipped only where `docker info` fails (no Docker engine)."""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("TEST_RUNNEL_IMAGE", "runnel:test")


def docker(*args, check=True, timeout=120):
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def docker_works():
    try:
        return docker("info", check=False, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not docker_works(), reason="`docker info` fails: no Docker engine here")


@pytest.fixture(scope="module")
def image():
    """The image, built once (tests/run.sh builds it before the client tests)."""
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        subprocess.run([str(ROOT / "docker" / "build.sh"), IMAGE], check=True, timeout=1800)
    return IMAGE


@pytest.fixture
def names():
    """Unique container/network/volume names, removed afterwards."""
    suffix = uuid.uuid4().hex[:8]
    made = {"containers": [], "networks": [], "volumes": []}

    def name(kind, base):
        n = f"runnel-test-{base}-{suffix}"
        made[kind].append(n)
        return n

    yield name
    for c in made["containers"]:
        docker("rm", "-f", "-v", c, check=False)
    for n in made["networks"]:
        docker("network", "rm", n, check=False)
    for v in made["volumes"]:
        docker("volume", "rm", "-f", v, check=False)


def logs(container):
    out = docker("logs", container, check=False)
    return out.stdout + out.stderr


def wait_healthy(container, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = docker("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", container).stdout.split()
        if state[0] != "running":
            raise AssertionError(f"{container} is {state}: {logs(container)}")
        if state[1] == "healthy":
            return
        time.sleep(0.2)
    raise AssertionError(f"{container} not healthy: {logs(container)}")


def produce(bootstrap, topic, values):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for v in values:
        p.send(topic, v.encode())
    p.flush(30)
    p.close()


def consume(bootstrap, topic, expected):
    c = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=10000
    )
    out = []
    for m in c:
        out.append(m.value.decode())
        if len(out) >= expected:
            break
    c.close()
    return out


def stop(container):
    """docker stop; returns (seconds it took, exit code)."""
    started = time.monotonic()
    docker("stop", "-t", "10", container)
    took = time.monotonic() - started
    code = int(docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout.strip())
    return took, code


def test_image_is_small_and_runs_as_non_root(image):
    size = int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout.strip())
    assert size < 20 * 1024 * 1024, size
    config = docker("image", "inspect", "-f", "{{.Config.User}} {{json .Config.Volumes}}", image).stdout
    assert config.startswith("10001:10001 "), config
    assert "/var/lib/runnel" in config


def test_host_client_through_published_port_and_clean_restart(image, names):
    port = free_port()
    container = names("containers", "single")
    volume = names("volumes", "data")
    docker(
        "run", "-d", "--name", container,
        "-p", f"127.0.0.1:{port}:9092",
        "-v", f"{volume}:/var/lib/runnel",
        "-e", f"RUNNEL_ADVERTISED_LISTENER=127.0.0.1:{port}",
        image,
    )
    wait_healthy(container)
    bootstrap = f"127.0.0.1:{port}"
    values = [f"record-{i}" for i in range(200)]
    produce(bootstrap, "from-host", values)
    assert consume(bootstrap, "from-host", len(values)) == values

    stops = []
    for _ in range(2):
        took, code = stop(container)
        assert code == 0, docker("logs", container).stderr
        stops.append(took)
        docker("start", container)
        wait_healthy(container)
        assert consume(bootstrap, "from-host", len(values)) == values
    # SIGTERM reaches runnel as PID 1: docker never waits out its 10 s and kills.
    assert min(stops) < 1.0, stops
    text = logs(container)
    assert text.count("runnel stopped cleanly") == 2, text
    # Every start after a docker stop found a clean shutdown: no recovery.
    assert text.count("clean=true") == 2, text


def test_second_container_reaches_the_internal_listener(image, names):
    port = free_port()
    network = names("networks", "net")
    broker = names("containers", "broker")
    docker("network", "create", network)
    docker(
        "run", "-d", "--name", broker, "--network", network,
        "-p", f"127.0.0.1:{port}:9092",
        "-e", "RUNNEL_LISTEN=EXTERNAL://0.0.0.0:9092,INTERNAL://0.0.0.0:19092",
        "-e", f"RUNNEL_ADVERTISED_LISTENER=EXTERNAL://127.0.0.1:{port},INTERNAL://{broker}:19092",
        "-e", "RUNNEL_LISTENER_SECURITY_PROTOCOL_MAP=EXTERNAL:PLAINTEXT,INTERNAL:PLAINTEXT",
        image,
    )
    wait_healthy(broker)
    values = [f"host-{i}" for i in range(50)]
    produce(f"127.0.0.1:{port}", "across", values)

    def cli(*args, stdin=None):
        name = names("containers", "cli")
        return subprocess.run(
            ["docker", "run", "--rm", "-i", "--name", name, "--network", network, image, *args],
            input=stdin, capture_output=True, text=True, timeout=60, check=True,
        ).stdout

    internal = f"{broker}:19092"
    out = cli("consume", "across", "-b", internal, "-o", "beginning", "-e")
    assert out.splitlines() == values
    cli("produce", "back", "-b", internal, stdin="".join(f"container-{i}\n" for i in range(30)))
    assert consume(f"127.0.0.1:{port}", "back", 30) == [f"container-{i}" for i in range(30)]
    topics = cli("topic", "list", "-b", internal)
    assert "across" in topics and "back" in topics


def test_compose_file_is_valid():
    if subprocess.run(["which", "docker-compose"], capture_output=True).returncode != 0:
        pytest.skip("docker-compose is not installed")
    out = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker" / "compose.yaml"), "config"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    assert "INTERNAL://runnel:19092" in out and "/var/lib/runnel" in out, out
