"""The monitoring role and the collection's metrics, by the ecosystem's conventions: the rendered rules checked and
unit-tested with promtool, node_exporter's textfile collector (Debian's prometheus-node-exporter) serving the textfiles
the real writers wrote on the lab (a backup, a failed backup, the health check: read-only, every file in a temporary
directory), and a real Prometheus (Debian's package) scraping it, recording the old names and evaluating the alerts.
Every dashboard query names only metrics Prometheus then knows. Everything listens on 127.0.0.1, on free ports."""

from __future__ import annotations

import json
import os
import plistlib
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from .labkit import (
    LAB_INVENTORY, REPO, SEEDED, SEEDED_MEMORIES, Process, free_port, load_stack, run_playbook, wait_healthy)

pytestmark = pytest.mark.integration

ROLE = REPO / "roles" / "monitoring"
RULE_TESTS = ROLE / "files" / "tests" / "mem0_alerts_test.yml"
# What the collection writes (mem0_memory_count, the health check, the backup job) and what the rules record.
WRITTEN = ("mem0_database_up", "mem0_memories", "mem0_namespace_memories", "mem0_memory_drop_ratio",
           "mem0_last_good_backup_timestamp_seconds", "mem0_backup_memories", "mem0_backup_sets",
           "mem0_embedding_dims_agree", "mem0_embedding_dims", "mem0_health_check_ok", "mem0_health_disk_free_bytes",
           "mem0_backup_last_attempt_timestamp_seconds", "mem0_backup_last_attempt_result", "mem0_backup_set_size_bytes",
           "mem0_backup_duration_seconds", "mem0_backup_part_size_bytes", "mem0_backup_part_duration_seconds")
OLD_NAMES = ("mem0_memory_total", "mem0_memory_count", "mem0_memory_drop_percentage", "mem0_backup_memory_count",
             "mem0_textfile_mtime_seconds", "mem0_textfile_scrape_error")
ALERTS = ("Mem0MemoryCountZero", "Mem0MemoryCountDrop", "Mem0DatabaseDown", "Mem0MemoryBelowBaseline",
          "Mem0NoGoodBackup", "Mem0NoBackupReported", "Mem0BackupBelowBaseline", "Mem0BackupAttemptFailed",
          "Mem0BackupQuarantined", "Mem0BackupSlow", "Mem0BackupSetsCorrupted", "Mem0EmbeddingDimsDisagree",
          "Mem0MetricsMissing", "Mem0MetricsStale", "Mem0TextfileUnreadable")
NODE_EXPORTER = "prometheus-node-exporter"


def _find_or_install(binary: str, package: str = "prometheus") -> str:
    """Debian's prometheus package provides promtool and prometheus, prometheus-node-exporter node_exporter (both
    installed by lab/bin/engine.sh); install the package only when missing."""
    path = shutil.which(binary)
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(f"{binary} is missing: install Debian's {package} package (apt-get install {package})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    # The package starts its own server on a public port; the tests start theirs, loopback only, when they need one.
    subprocess.run(["systemctl", "disable", "--now", package], capture_output=True, check=False)
    return shutil.which(binary) or pytest.fail(f"{binary} is still missing after installing {package}")


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


class NodeExporter(Process):
    """node_exporter with only its textfile collector, on a free loopback port, reading a directory."""

    def __init__(self, binary: str, textfile_dir: Path):
        self.port, self.textfile_dir = free_port(), textfile_dir
        super().__init__([binary, "--collector.disable-defaults", "--collector.textfile",
                          "--collector.textfile.directory=%s" % textfile_dir,
                          "--web.listen-address=127.0.0.1:%d" % self.port])
        self.target = "127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # a start, not a result: the assertions come after
            try:
                http_get("http://%s/metrics" % self.target)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("node_exporter did not answer: %s" % self.stop())

    def metrics(self) -> str:
        return http_get("http://%s/metrics" % self.target)[2]


@pytest.fixture(scope="module")
def node_exporter_binary() -> str:
    return _find_or_install(NODE_EXPORTER, NODE_EXPORTER)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The textfiles the real writers write, on the lab (read-only: backup root, state and textfiles in a temporary
    directory): a good daily backup, an hourly one whose graph export fails (the rescue path), then the health check
    (mem0_memory_count's count file and the status file, with the good set as the last good backup)."""
    inventory = Path(os.environ.get("MEM0OPS_TEST_INVENTORY") or LAB_INVENTORY).resolve()
    stack = load_stack(inventory, "lab")
    work = tmp_path_factory.mktemp("metrics")
    textfile_dir, backups = work / "textfile", work / "backups"
    textfile_dir.mkdir()
    wait_healthy(stack)
    common = {"backup_root": str(backups), "_backup_alerting": False, "backup_metrics_textfile_dir": str(textfile_dir)}
    started = time.monotonic()
    good = run_playbook("backup.yml", inventory=inventory, extra=dict(common, backup_tier="daily"))
    failed = run_playbook("backup.yml", inventory=inventory,
                          extra=dict(common, backup_tier="hourly", _backup_neo4j_uri="bolt://127.0.0.1:1"))
    # the last good run's counts, the seed's: the count file then holds a drop ratio (0)
    (work / "state").mkdir()
    (work / "state" / "memory_count.json").write_text(json.dumps({"total": SEEDED_MEMORIES, "per_namespace": SEEDED}))
    health = run_playbook("health.yml", inventory=inventory, extra={
        "health_alerting": False, "health_state_dir": str(work / "state"), "health_textfile_dir": str(textfile_dir),
        "health_backup_root": str(backups)})
    print("\nmetrics written by a backup (%.1f s), a failed backup (%.1f s) and a health run (%.1f s): %.1f s"
          % (good["seconds"], failed["seconds"], health["seconds"], time.monotonic() - started))
    assert good["rc"] == 0, good["raw"][-3000:]
    assert failed["rc"] != 0 and "produced no set" in failed["raw"], failed["raw"][-3000:]
    assert health["rc"] == 0, health["raw"][-3000:]
    return {"dir": textfile_dir, "stack": stack, "backups": backups}


@pytest.fixture(scope="module")
def node_exporter(node_exporter_binary, written):
    server = NodeExporter(node_exporter_binary, written["dir"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def four_step(tmp_path_factory, promtool, node_exporter):
    """The role applied four times: check mode, converge, check mode again, converge again.

    Rendered for a real Prometheus: it scrapes node_exporter every second and evaluates every second.
    """
    dest = tmp_path_factory.mktemp("monitoring") / "out"
    variables = {"monitoring_exporter_service": "systemd", "monitoring_stack_name": "lab",
                 "monitoring_node_exporter": "/usr/bin/prometheus-node-exporter",
                 "monitoring_exporter_target": node_exporter.target,
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
        "exporter/mem0-node-exporter.service",
        "grafana/dashboards/mem0.json",
        "grafana/provisioning/dashboards/mem0ops.yml",
        "grafana/provisioning/datasources/mem0ops.yml",
        "prometheus/prometheus.yml",
        "prometheus/rules/mem0_alerts.rules.yml",
    ]
    assert (rendered / "textfile").is_dir()
    unit = (rendered / "exporter/mem0-node-exporter.service").read_text()
    assert ("ExecStart=/usr/bin/prometheus-node-exporter --collector.disable-defaults --collector.textfile "
            "--collector.textfile.directory=%s/textfile --web.listen-address=127.0.0.1:9094\n" % rendered) in unit


def test_launchd_plist_for_homebrews_node_exporter(tmp_path):
    """launchd cannot run here: the plist is parsed by plistlib (what plutil -lint checks on the Mac)."""
    dest = tmp_path / "out"
    launch_agents = tmp_path / "LaunchAgents"
    report = render(dest, monitoring_exporter_service="launchd", monitoring_launchd_dir=str(launch_agents),
                    monitoring_exporter_port=9100)
    assert report["rc"] == 0, json.dumps(report["plays"])[-2000:]
    plist = plistlib.loads((launch_agents / "com.mem0ops.node-exporter.plist").read_bytes())
    assert plist["Label"] == "com.mem0ops.node-exporter" and plist["RunAtLoad"] and plist["KeepAlive"]
    assert plist["ProgramArguments"] == [
        "/opt/homebrew/bin/node_exporter", "--collector.disable-defaults", "--collector.textfile",
        "--collector.textfile.directory=%s/textfile" % dest, "--web.listen-address=127.0.0.1:9100"]
    assert plist["StandardErrorPath"] == "%s/exporter/node_exporter.log" % dest


def test_the_role_starts_node_exporter_on_its_loopback_port(tmp_path, node_exporter_binary):
    """exporter.service: process (the lab): started when nothing answers, left alone when it does."""
    dest, port = tmp_path / "out", free_port()
    variables = {"monitoring_exporter_service": "process", "monitoring_node_exporter": node_exporter_binary,
                 "monitoring_exporter_port": port}
    started = time.monotonic()
    first = render(dest, **variables)
    pid = int((dest / "exporter/node_exporter.pid").read_text())
    try:
        (dest / "textfile" / "probe.prom").write_text("# HELP mem0_probe p\n# TYPE mem0_probe gauge\nmem0_probe 1\n")
        text = http_get("http://127.0.0.1:%d/metrics" % port)[2]
        again = render(dest, **variables)
        listening = [line for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                     if line.split()[1].endswith(":%04X" % port) and line.split()[3] == "0A"]
    finally:
        os.kill(pid, signal.SIGTERM)
    print("\nnode_exporter started by the role and checked again: %.1f s" % (time.monotonic() - started))
    assert first["rc"] == 0 and stats(first)["changed"] > 0, json.dumps(first["plays"])[-2000:]
    assert "mem0_probe 1" in text and "node_textfile_scrape_error 0" in text
    assert again["rc"] == 0 and stats(again)["changed"] == 0
    assert listening and all(line.split()[1].startswith("0100007F:") for line in listening), "loopback only"


def test_promtool_check_rules_and_config(rendered, promtool):
    rules = subprocess.run([promtool, "check", "rules", str(rendered / "prometheus/rules/mem0_alerts.rules.yml")],
                           capture_output=True, text=True, check=False)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(ALERTS) + len(OLD_NAMES)} rules found" in rules.stdout

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


def test_rules_name_the_metrics_and_thresholds(rendered):
    groups = yaml.safe_load((rendered / "prometheus/rules/mem0_alerts.rules.yml").read_text())["groups"]
    rules = {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}
    records = {rule["record"]: rule["expr"] for group in groups for rule in group["rules"] if "record" in rule}
    assert tuple(rules) == ALERTS and tuple(records) == OLD_NAMES
    assert records["mem0_memory_total"] == "mem0_memories"
    assert (rules["Mem0MemoryCountZero"]["expr"], rules["Mem0MemoryCountZero"]["for"]) == ("mem0_memories == 0", "2m")
    assert rules["Mem0MemoryCountDrop"]["expr"] == "mem0_memory_drop_ratio * 100 > 50"
    assert (rules["Mem0DatabaseDown"]["expr"], rules["Mem0DatabaseDown"]["for"]) == ("mem0_database_up == 0", "1m")
    assert rules["Mem0MemoryBelowBaseline"]["expr"] == "mem0_memories < 1968"
    assert rules["Mem0NoGoodBackup"]["expr"] == "time() - mem0_last_good_backup_timestamp_seconds > 26 * 3600"
    assert rules["Mem0BackupAttemptFailed"]["expr"] == (
        'mem0_backup_last_attempt_result{result="failed", tier=~"hourly|daily|weekly|monthly"} == 1')
    assert rules["Mem0EmbeddingDimsDisagree"]["expr"] == "mem0_embedding_dims_agree == 0"
    assert {rule["labels"]["severity"] for rule in rules.values()} == {"critical", "warning", "info"}


def test_thresholds_come_from_the_role_variables(tmp_path, promtool):
    dest = tmp_path / "out"
    report = render(dest, promtool, monitoring_memory_baseline=500, monitoring_drop_threshold_percent=30,
                    monitoring_backup_max_age_hours=50, monitoring_count_textfile="health.prom",
                    monitoring_backup_max_duration_seconds=600, monitoring_backup_alert_tiers=["daily"])
    assert report["rc"] == 0
    text = (dest / "prometheus/rules/mem0_alerts.rules.yml").read_text()
    assert "mem0_memories < 500" in text and "mem0_backup_memories < 500" in text
    assert "mem0_memory_drop_ratio * 100 > 30" in text
    assert "> 50 * 3600" in text and "for: 50h" in text
    assert 'node_textfile_mtime_seconds{file=~"(.*/)?health\\\\.prom"}' in text
    assert "mem0_backup_duration_seconds > 600" in text and 'tier=~"daily"' in text
    dashboard = (dest / "grafana/dashboards/mem0.json").read_text()
    assert "vector(500)" in dashboard and "health\\\\\\\\.prom" in dashboard


def test_bad_thresholds_are_refused(tmp_path):
    report = render(tmp_path / "out", monitoring_drop_threshold_percent=150)
    assert report["rc"] != 0
    assert "Monitoring settings out of range" in json.dumps(report)


def dashboard_queries(rendered) -> list:
    dashboard = json.loads((rendered / "grafana/dashboards/mem0.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan"}


def metric_names(expr: str) -> set:
    """The metric names a PromQL expression selects: identifiers outside strings and label matchers, not called as
    functions, not keywords."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names = set(re.findall(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare))
    return {name for name in names if name.lower() not in PROMQL_WORDS}


def test_metric_names_of_a_query():
    assert metric_names('time() - node_textfile_mtime_seconds{file=~"(.*/)?mem0\\\\.prom"}') == {
        "node_textfile_mtime_seconds"}
    assert metric_names("sum by (tier) (mem0_backup_sets) / ignoring(x) mem0_memories * 100 > bool 2") == {
        "mem0_backup_sets", "mem0_memories"}
    assert metric_names("vector(1968)") == set()


def test_grafana_dashboard_and_provisioning(rendered):
    datasource = yaml.safe_load((rendered / "grafana/provisioning/datasources/mem0ops.yml").read_text())
    provider = yaml.safe_load((rendered / "grafana/provisioning/dashboards/mem0ops.yml").read_text())
    dashboard = json.loads((rendered / "grafana/dashboards/mem0.json").read_text())

    uid = datasource["datasources"][0]["uid"]
    assert datasource["datasources"][0]["type"] == "prometheus"
    assert datasource["datasources"][0]["url"] == "http://127.0.0.1:9090"
    assert provider["providers"][0]["options"]["path"] == str(rendered / "grafana/dashboards")
    assert dashboard["uid"] == "mem0-dashboard"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Memory count over time", "Memory count by namespace", "Drop percentage", "Database",
            "Last good backup age", "Last backup attempt per tier", "Backup sets by status", "Embedding dims agree",
            "Backup size per part", "Backup duration per part"} <= titles
    by_namespace = next(p for p in dashboard["panels"] if p["title"] == "Memory count by namespace")
    assert by_namespace["targets"][0]["legendFormat"] == "{{namespace}}"


def http_get(url: str) -> tuple[int, dict, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
        return resp.status, dict(resp.headers), resp.read().decode()


def test_the_written_files_follow_the_conventions(written, promtool):
    """Every file the collection wrote passes promtool's metric lint; every family is a gauge; no old name."""
    files = sorted(path.name for path in written["dir"].iterdir())
    assert files == ["mem0.prom", "mem0_backup_daily.prom", "mem0_backup_hourly.prom", "mem0_health.prom"]
    families = {}
    for path in written["dir"].iterdir():
        text = path.read_text()
        lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
        assert lint.returncode == 0, (path.name, lint.stdout + lint.stderr)
        families.update(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert set(families) == set(WRITTEN) and set(families.values()) == {"gauge"}
    assert not set(families) & set(OLD_NAMES)


def query(api: str, expr: str) -> list:
    answer = json.loads(http_get(api + "/query?" + urllib.parse.urlencode({"query": expr}))[2])
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def values(api: str, expr: str) -> dict:
    """{frozenset of the labels that matter: value} of an instant query."""
    drop = {"__name__", "instance", "job", "stack"}
    return {frozenset((k, v) for k, v in r["metric"].items() if k not in drop): float(r["value"][1])
            for r in query(api, expr)}


def test_prometheus_scrapes_node_exporter_records_the_old_names_and_evaluates_the_rules(
        rendered, written, node_exporter, tmp_path):
    prometheus = _find_or_install("prometheus")
    daily = next((written["backups"] / "daily").iterdir())
    manifest = json.loads((daily / "manifest.json").read_text())
    port = free_port()
    server = Process([prometheus, "--config.file=" + str(rendered / "prometheus/prometheus.yml"),
                      "--storage.tsdb.path=" + str(tmp_path / "tsdb"), "--web.listen-address=127.0.0.1:%d" % port])
    api = "http://127.0.0.1:%d/api/v1" % port
    started = time.monotonic()
    try:
        alerts, rules, known = {}, [], set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the first scrape and evaluation happened; asserted below
            try:
                alerts = {a["labels"]["alertname"]: a for a in json.loads(http_get(api + "/alerts")[2])["data"]["alerts"]}
                rules = [r for g in json.loads(http_get(api + "/rules")[2])["data"]["groups"] for r in g["rules"]]
                known = set(json.loads(http_get(api + "/label/__name__/values")[2])["data"])
            except OSError:
                pass
            if "Mem0BackupAttemptFailed" in alerts and set(OLD_NAMES) <= known:
                break
            time.sleep(0.5)
        got = {name: values(api, name) for name in WRITTEN + OLD_NAMES}
        per_query = {expr: query(api, expr) for expr in dashboard_queries(rendered)}
    finally:
        log = server.stop()
    print("\nPrometheus: first scrape, recording and alert evaluation within %.1f s" % (time.monotonic() - started))

    assert "Mem0BackupAttemptFailed" in alerts, log[-2000:]
    assert all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]
    assert {r["name"] for r in rules} == set(ALERTS) | set(OLD_NAMES)
    # the seed's counts (labkit.SEEDED), under the new names and the old ones
    assert got["mem0_memories"] == got["mem0_memory_total"] == {frozenset(): float(SEEDED_MEMORIES)}
    assert got["mem0_memory_count"] == {frozenset({("namespace", ns)}): float(n) for ns, n in SEEDED.items()}
    assert got["mem0_backup_memory_count"] == got["mem0_backup_memories"] == {frozenset(): float(SEEDED_MEMORIES)}
    assert got["mem0_database_up"] == {frozenset(): 1.0}
    assert got["mem0_memory_drop_ratio"] == got["mem0_memory_drop_percentage"] == {frozenset(): 0.0}
    assert got["mem0_textfile_scrape_error"] == {frozenset(): 0.0}
    assert frozenset({("file", "mem0.prom")}) in got["mem0_textfile_mtime_seconds"]
    # the backups: the daily one good, the hourly one failed (its rescue path), sizes from the set's own manifest
    result = got["mem0_backup_last_attempt_result"]
    assert result[frozenset({("tier", "daily"), ("result", "ok")})] == 1.0
    assert result[frozenset({("tier", "hourly"), ("result", "failed")})] == 1.0
    assert sum(result.values()) == 2.0
    assert got["mem0_backup_set_size_bytes"] == {frozenset({("tier", "daily")}): float(manifest["size_bytes"])}
    assert got["mem0_backup_part_size_bytes"] == {
        frozenset({("tier", "daily"), ("part", part)}): float(info["bytes"]) for part, info in manifest["parts"].items()
        if "bytes" in info}
    assert frozenset({("tier", "hourly")}) in got["mem0_backup_duration_seconds"]
    assert got["mem0_backup_sets"][frozenset({("status", "valid")})] == 1.0
    stack = written["stack"]
    assert got["mem0_embedding_dims_agree"] == {frozenset(): 1.0}
    assert got["mem0_embedding_dims"] == {frozenset(): float(stack["embedding"]["dims"])}
    # alerts: the failed hourly attempt fires at once; nothing about the data
    failed = alerts["Mem0BackupAttemptFailed"]
    assert failed["state"] == "firing" and failed["labels"]["tier"] == "hourly" and failed["labels"]["stack"] == "lab"
    assert not {"Mem0MemoryCountZero", "Mem0DatabaseDown", "Mem0EmbeddingDimsDisagree", "Mem0TextfileUnreadable",
                "Mem0NoGoodBackup"} & set(alerts)
    # every dashboard query runs and selects only names Prometheus knows (exported or recorded)
    for expr, answer in per_query.items():
        assert metric_names(expr) - {"ALERTS"} <= known, (expr, metric_names(expr) - known)
        assert answer or "ALERTS" in expr, expr
