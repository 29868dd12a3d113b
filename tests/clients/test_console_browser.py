"""The web console in headless Chromium (Debian's chromium and chromium-driver,
driven by selenium): every page loads without console errors, shows what a
kafka-python producer sent, a group's lag falls as its consumer reads, and a
topic is created and deleted through the UI. Screenshots of each page go to
$TEST_ARTIFACTS (default test-artifacts/console)."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "console"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (tests/run.sh installs them)",
)


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(20)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def visit(driver, broker, path, shot=None):
    driver.get(f"http://{broker.http_listen}{path}")
    WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
    return after(driver, shot)


def after(driver, shot=None):
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    if shot:
        driver.save_screenshot(str(ARTIFACTS / f"{shot}.png"))
    return driver


def fill(broker):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    p.send("events", key=b"j", value=json.dumps({"user": "ada", "n": 1}).encode(), partition=0)
    p.send("events", key=b"b", value=bytes([0x00, 0x9F, 0x92, 0x96, 0xFF]), partition=0)
    p.send("events", key=b"t", value=b"plain text", partition=0)
    p.flush(10)
    p.close()


def test_pages_show_topics_records_and_lag(broker, browser):
    fill(broker)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="readers", enable_auto_commit=False)
    c.commit({TopicPartition("events", 0): OffsetAndMetadata(1, "", -1)})
    c.close()

    visit(browser, broker, "/")
    # Traffic while the page samples /api/overview every 2 s: the charts draw it.
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    until = time.monotonic() + 7
    while time.monotonic() < until:
        for _ in range(50):
            p.send("traffic", value=b"v" * 200)
        p.flush(10)
        time.sleep(0.05)
    p.close()
    after(browser, "overview")
    assert browser.find_element(By.ID, "chart-in").is_displayed()

    visit(browser, broker, "/topics", "topics")
    assert browser.find_element(By.LINK_TEXT, "events")

    visit(browser, broker, "/topics/events", "topic")
    assert "partitions" in browser.page_source

    visit(browser, broker, "/topics/events/messages?offset=0", "messages")
    pretty = browser.find_element(By.CSS_SELECTOR, "pre.json").text
    assert '"user": "ada"' in pretty and "\n" in pretty
    assert browser.find_element(By.CSS_SELECTOR, "pre.hex").text == "00 9f 92 96 ff"
    browser.find_element(By.ID, "filter").send_keys("ada")
    shown = [r for r in browser.find_elements(By.CSS_SELECTOR, "#records tbody tr") if r.is_displayed()]
    assert len(shown) == 1

    visit(browser, broker, "/groups", "groups")
    visit(browser, broker, "/groups/readers", "group")
    assert browser.find_element(By.ID, "total-lag").text == "2"
    # The group's consumer reads on and commits: the lag goes down.
    c = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id="readers", enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    c.subscribe(["events"])
    read, deadline = 0, time.monotonic() + 30
    while read < 2 and time.monotonic() < deadline:
        read += sum(len(batch) for batch in c.poll(timeout_ms=500).values())
    c.commit()
    c.close()
    assert read == 2
    visit(browser, broker, "/groups/readers")
    assert browser.find_element(By.ID, "total-lag").text == "0"

    # An open transaction and its producer.
    txn = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "browser-txn"})
    txn.init_transactions(10)
    txn.begin_transaction()
    txn.produce("events", value=b"in a transaction", partition=0)
    txn.flush(10)
    visit(browser, broker, "/transactions", "transactions")
    row = browser.find_element(By.CSS_SELECTOR, "#transactions tbody tr").text
    assert "browser-txn" in row and "Ongoing" in row and "events-0" in row, row
    assert browser.find_elements(By.CSS_SELECTOR, "#producers tbody tr")
    txn.abort_transaction(10)


def test_create_and_delete_a_topic_in_the_ui(broker, browser):
    visit(browser, broker, "/topics")
    form = browser.find_element(By.ID, "create-topic")
    form.find_element(By.NAME, "name").send_keys("from-ui")
    partitions = form.find_element(By.NAME, "partitions")
    partitions.clear()
    partitions.send_keys("3")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(EC.url_contains("/topics/from-ui"))
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "partitions")))
    after(browser, "topic-created")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#partitions tbody tr")) == 3

    browser.find_element(By.ID, "delete-topic").click()
    WebDriverWait(browser, 5).until(EC.alert_is_present())
    browser.switch_to.alert.accept()
    WebDriverWait(browser, 10).until(EC.url_matches(r"/topics$"))
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "topics")))
    after(browser)
    assert not browser.find_elements(By.LINK_TEXT, "from-ui")
