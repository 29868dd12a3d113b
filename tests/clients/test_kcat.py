"""kcat (Debian's build links librdkafka 2.0.2): metadata, produce, consume."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (tests/run.sh installs it)")


def kcat(*args, input=None):
    return subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=60, check=True)


def test_metadata_produce_consume(broker):
    lines = [f"line {i}" for i in range(1000)]
    kcat("-b", broker.bootstrap, "-P", "-t", "kc", "-K", ":", input="\n".join(f"k{i}:{l}" for i, l in enumerate(lines)).encode())
    listing = kcat("-b", broker.bootstrap, "-L").stdout.decode()
    assert 'topic "kc" with 1 partitions' in listing
    assert f"broker 1 at 127.0.0.1:{broker.port}" in listing
    out = kcat("-b", broker.bootstrap, "-C", "-t", "kc", "-e", "-f", "%o %k %s\\n").stdout.decode().splitlines()
    assert out == [f"{i} k{i} {l}" for i, l in enumerate(lines)]
