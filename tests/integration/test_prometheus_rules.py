"""The monitoring role: rendered files checked and unit-tested with promtool, the textfile exporter, and a real
Prometheus (Debian's package) scraping the exporter and evaluating the rules. Everything listens on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .labkit import REPO, Process, free_port

pytestmark = pytest.mark.integration

ROLE = REPO / "roles" / "monitoring"
RULE_TESTS = ROLE / "files" / "tests" / "mem0_alerts_test.yml"
METRICS = ("mem0_memory_total", "mem0_memory_count", "mem0_memory_drop_percentage", "mem0_database_up",
           "mem0_last_good_backup_timestamp_seconds", "mem0_backup_memory_count")
ALERTS = ("Mem0MemoryCountZero", "Mem0MemoryCountDrop", "Mem0DatabaseDown", "Mem0MemoryBelowBaseline",
          "Mem0NoGoodBackup", "Mem0NoBackupReported", "Mem0BackupBelowBaseline", "Mem0MetricsMissing",
          "Mem0MetricsStale")

# What mem0ops.stack.mem0_memory_count writes for an empty database (its prometheus_text()).
EMPTY_DATABASE_TEXTFILE = """\
# HELP mem0_database_up Whether the mem0 PostgreSQL database answered (1) or not (0).
# TYPE mem0_database_up gauge
mem0_database_up 1
# HELP mem0_memory_total Memories in the mem0 collection (mem0migrations excluded).
# TYPE mem0_memory_total untyped
mem0_memory_total 0
# HELP mem0_memory_drop_percentage Drop of mem0_memory_total from the baseline as a ratio.
# TYPE mem0_memory_drop_percentage gauge
mem0_memory_drop_percentage 1
"""
BACKUP_TEXTFILE = """\
# HELP mem0_last_good_backup_timestamp_seconds When the last good backup finished.
# TYPE mem0_last_good_backup_timestamp_seconds gauge
mem0_last_good_backup_timestamp_seconds {ts}
# HELP mem0_backup_memory_count Memories in the last good backup.
# TYPE mem0_backup_memory_count gauge
mem0_backup_memory_count 1968
"""


def _find_or_install(binary: str) -> str:
    """Debian's prometheus package provides promtool and prometheus; install it only when missing."""
    path = shutil.which(binary)
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(f"{binary} is missing: install Debian's prometheus package (apt-get install prometheus)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    # The package starts its own Prometheus on :9090; the tests start theirs, loopback only, when they need one.
    subprocess.run(["systemctl", "disable", "--now", "prometheus"], capture_output=True, check=False)
    return shutil.which(binary) or pytest.fail(f"{binary} is still missing after installing prometheus")


@pytest.fixture(scope="module")
def promtool() -> str:
    return _find_or_install("promtool")


def render(dest: Path, promtool_path: str = "", check: bool = False, **variables) -> dict:
    """Apply the monitoring role to localhost with the JSON callback; return the parsed report."""
    variables = {"monitoring_dir": str(dest), "monitoring_promtool": promtool_path, **variables}
    playbook = dest.parent / f"{dest.name}-play.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Render the monitoring files",
        "hosts": "localhost",
        "gather_facts": False,
        "roles": [{"role": "mem0ops.stack.monitoring", "vars": variables}],
    }]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=" + sys.executable, str(playbook)]
    proc = subprocess.run(command + (["--check"] if check else []), cwd=REPO, env=env, capture_output=True,
                          text=True, check=False)
    report = json.loads(proc.stdout)
    report["rc"] = proc.returncode
    return report


def stats(report: dict) -> dict:
    return report["stats"]["localhost"]


@pytest.fixture(scope="module")
def exporter_target(tmp_path_factory):
    """A textfile exporter serving a directory: the role's scrape target in the Prometheus test."""
    textfile_dir = tmp_path_factory.mktemp("textfile")
    server = Process([sys.executable, str(ROLE / "files" / "textfile_exporter.py"), "--dir", str(textfile_dir),
                      "--port", "0"], ready_prefix="textfile_exporter listening on ")
    server.textfile_dir = textfile_dir
    yield server
    server.stop()


@pytest.fixture(scope="module")
def four_step(tmp_path_factory, promtool, exporter_target):
    """The role applied four times: check mode, converge, check mode again, converge again.

    Rendered for a real Prometheus: it scrapes exporter_target every second and evaluates every second.
    """
    dest = tmp_path_factory.mktemp("monitoring") / "out"
    variables = {"monitoring_exporter_service": "systemd", "monitoring_stack_name": "lab",
                 "monitoring_exporter_target": exporter_target.url.split("//", 1)[1],
                 "monitoring_scrape_interval": "1s", "monitoring_evaluation_interval": "1s"}
    reports = {"first_check": render(dest, promtool, check=True, **variables)}
    reports["written_after_check"] = dest.exists()
    reports["converge"] = render(dest, promtool, **variables)
    reports["second_check"] = render(dest, promtool, check=True, **variables)
    reports["again"] = render(dest, promtool, **variables)
    reports["dest"] = dest
    return reports


@pytest.fixture(scope="module")
def rendered(four_step) -> Path:
    assert four_step["converge"]["rc"] == 0, json.dumps(four_step["converge"]["plays"], indent=1)[-3000:]
    return four_step["dest"]


def test_role_check_mode_converge_and_idempotence(four_step):
    assert four_step["first_check"]["rc"] == 0 and stats(four_step["first_check"])["changed"] > 0
    assert four_step["written_after_check"] is False
    assert four_step["converge"]["rc"] == 0 and stats(four_step["converge"])["changed"] > 0
    assert four_step["second_check"]["rc"] == 0 and stats(four_step["second_check"])["changed"] == 0
    assert four_step["again"]["rc"] == 0 and stats(four_step["again"])["changed"] == 0


def test_rendered_layout(rendered):
    files = sorted(str(path.relative_to(rendered)) for path in rendered.rglob("*") if path.is_file())
    assert files == [
        "exporter/mem0-textfile-exporter.service",
        "exporter/textfile_exporter.py",
        "grafana/dashboards/mem0.json",
        "grafana/provisioning/dashboards/mem0ops.yml",
        "grafana/provisioning/datasources/mem0ops.yml",
        "prometheus/prometheus.yml",
        "prometheus/rules/mem0_alerts.rules.yml",
    ]
    assert (rendered / "textfile").is_dir()


def test_promtool_check_rules_and_config(rendered, promtool):
    rules = subprocess.run([promtool, "check", "rules", str(rendered / "prometheus/rules/mem0_alerts.rules.yml")],
                           capture_output=True, text=True, check=False)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in rules.stdout

    config = subprocess.run([promtool, "check", "config", str(rendered / "prometheus/prometheus.yml")],
                            capture_output=True, text=True, check=False)
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_rule_unit_tests(rendered, promtool, tmp_path):
    shutil.copy(rendered / "prometheus/rules/mem0_alerts.rules.yml", tmp_path)
    shutil.copy(RULE_TESTS, tmp_path)
    proc = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_rules_name_the_owners_metrics_and_thresholds(rendered):
    groups = yaml.safe_load((rendered / "prometheus/rules/mem0_alerts.rules.yml").read_text())["groups"]
    rules = {rule["alert"]: rule for group in groups for rule in group["rules"]}
    assert tuple(rules) == ALERTS
    assert (rules["Mem0MemoryCountZero"]["expr"], rules["Mem0MemoryCountZero"]["for"]) == ("mem0_memory_total == 0", "2m")
    assert rules["Mem0MemoryCountDrop"]["expr"] == "mem0_memory_drop_percentage * 100 > 50"
    assert (rules["Mem0DatabaseDown"]["expr"], rules["Mem0DatabaseDown"]["for"]) == ("mem0_database_up == 0", "1m")
    assert rules["Mem0MemoryBelowBaseline"]["expr"] == "mem0_memory_total < 1968"
    assert rules["Mem0NoGoodBackup"]["expr"] == "time() - mem0_last_good_backup_timestamp_seconds > 26 * 3600"
    assert {rule["labels"]["severity"] for rule in rules.values()} == {"critical", "warning", "info"}


def test_thresholds_come_from_the_role_variables(tmp_path, promtool):
    dest = tmp_path / "out"
    report = render(dest, promtool, monitoring_memory_baseline=500, monitoring_drop_threshold_percent=30,
                    monitoring_backup_max_age_hours=50, monitoring_count_textfile="health.prom")
    assert report["rc"] == 0
    text = (dest / "prometheus/rules/mem0_alerts.rules.yml").read_text()
    assert "mem0_memory_total < 500" in text and "mem0_backup_memory_count < 500" in text
    assert "mem0_memory_drop_percentage * 100 > 30" in text
    assert "> 50 * 3600" in text and "for: 50h" in text
    assert 'mem0_textfile_mtime_seconds{file="health.prom"}' in text
    dashboard = (dest / "grafana/dashboards/mem0.json").read_text()
    assert "vector(500)" in dashboard and "health.prom" in dashboard


def test_bad_thresholds_are_refused(tmp_path):
    report = render(tmp_path / "out", monitoring_drop_threshold_percent=150)
    assert report["rc"] != 0
    assert "Monitoring settings out of range" in json.dumps(report)


def test_grafana_dashboard_and_provisioning(rendered):
    datasource = yaml.safe_load((rendered / "grafana/provisioning/datasources/mem0ops.yml").read_text())
    provider = yaml.safe_load((rendered / "grafana/provisioning/dashboards/mem0ops.yml").read_text())
    dashboard = json.loads((rendered / "grafana/dashboards/mem0.json").read_text())

    uid = datasource["datasources"][0]["uid"]
    assert datasource["datasources"][0]["type"] == "prometheus"
    assert datasource["datasources"][0]["url"] == "http://127.0.0.1:9090"
    assert provider["providers"][0]["options"]["path"] == str(rendered / "grafana/dashboards")
    assert dashboard["uid"] == "mem0-dashboard"
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
            exprs.append(target["expr"])
    for metric in METRICS:
        assert any(metric in expr for expr in exprs), metric
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Memory count over time", "Memory count by namespace", "Drop percentage", "Database",
            "Last good backup age"} <= titles
    by_namespace = next(p for p in dashboard["panels"] if p["title"] == "Memory count by namespace")
    assert by_namespace["targets"][0]["legendFormat"] == "{{namespace}}"


def http_get(url: str) -> tuple[int, dict, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
        return resp.status, dict(resp.headers), resp.read().decode()


@pytest.fixture
def exporter(rendered, tmp_path):
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    server = Process([sys.executable, str(rendered / "exporter/textfile_exporter.py"), "--dir", str(textfile_dir),
                      "--port", "0"], ready_prefix="textfile_exporter listening on ")
    server.textfile_dir = textfile_dir
    yield server
    server.stop()


def test_exporter_merges_the_textfiles(exporter):
    (exporter.textfile_dir / "mem0.prom").write_text(EMPTY_DATABASE_TEXTFILE)
    (exporter.textfile_dir / "backup.prom").write_text(BACKUP_TEXTFILE.format(ts=1769508000))
    (exporter.textfile_dir / ".mem0.prom.partial").write_text("half written")

    status, headers, text = http_get(exporter.url + "/metrics")

    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = text.splitlines()
    assert "mem0_memory_total 0" in lines and "mem0_backup_memory_count 1968" in lines
    assert lines.count("# TYPE mem0_database_up gauge") == 1
    assert 'mem0_textfile_mtime_seconds{file="mem0.prom"}' in text
    assert 'mem0_textfile_mtime_seconds{file="backup.prom"}' in text
    assert "mem0_textfile_scrape_error 0" in lines
    assert "half written" not in text


def test_exporter_leaves_out_what_it_cannot_parse(exporter):
    (exporter.textfile_dir / "mem0.prom").write_text(EMPTY_DATABASE_TEXTFILE)
    (exporter.textfile_dir / "broken.prom").write_text("mem0_memory_total{namespace=\"x\"} not-a-number\n")
    (exporter.textfile_dir / "other.prom").write_text("# TYPE mem0_database_up counter\nmem0_database_up 3\n")

    text = http_get(exporter.url + "/metrics")[2]

    lines = text.splitlines()
    assert "mem0_textfile_scrape_error 1" in lines
    assert "mem0_memory_total 0" in lines and "not-a-number" not in text
    assert "mem0_database_up 1" in lines and "mem0_database_up 3" not in lines
    assert 'file="broken.prom"' not in text


def test_prometheus_scrapes_the_exporter_and_evaluates_the_rules(rendered, exporter_target, tmp_path):
    prometheus = _find_or_install("prometheus")
    (exporter_target.textfile_dir / "mem0.prom").write_text(EMPTY_DATABASE_TEXTFILE)
    (exporter_target.textfile_dir / "backup.prom").write_text(BACKUP_TEXTFILE.format(ts=int(time.time()) - 3600))
    dest = rendered
    port = free_port()
    server = Process([prometheus, "--config.file=" + str(dest / "prometheus/prometheus.yml"),
                      "--storage.tsdb.path=" + str(tmp_path / "tsdb"), "--web.listen-address=127.0.0.1:%d" % port])
    api = "http://127.0.0.1:%d/api/v1" % port
    try:
        alerts, rules = {}, []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                alerts = {a["labels"]["alertname"]: a for a in json.loads(http_get(api + "/alerts")[2])["data"]["alerts"]}
                rules = [r for g in json.loads(http_get(api + "/rules")[2])["data"]["groups"] for r in g["rules"]]
            except OSError:
                pass
            if "Mem0MemoryCountZero" in alerts and "Mem0MemoryCountDrop" in alerts:
                break
            time.sleep(0.5)
        total = json.loads(http_get(api + "/query?query=mem0_memory_total")[2])["data"]["result"]
    finally:
        log = server.stop()

    assert "Mem0MemoryCountZero" in alerts, log[-2000:]
    # the count is zero and dropped 100%: both pending (for 2m and 5m), not yet firing
    assert alerts["Mem0MemoryCountZero"]["state"] == "pending"
    assert alerts["Mem0MemoryCountZero"]["labels"]["severity"] == "critical"
    assert alerts["Mem0MemoryCountDrop"]["state"] == "pending"
    assert "Mem0DatabaseDown" not in alerts and "Mem0NoGoodBackup" not in alerts
    assert {r["name"] for r in rules} == set(ALERTS)
    assert all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]
    assert total[0]["value"][1] == "0" and total[0]["metric"]["stack"] == "lab"
