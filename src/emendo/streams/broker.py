"""A local single-node Apache Kafka broker (KRaft mode) for development, tests, demos and CI.

The broker is the real Apache Kafka server, assembled from Maven Central jars by ``mvn`` (see
:func:`install`) and run with Java 17+. :class:`LocalKafka` formats a data directory once, launches
the JVM detached (so it outlives the Python process that started it), and stops it again::

    kafka = LocalKafka(Path("/tmp/kafka"), port=free_port(), controller_port=free_port())
    kafka.start()
    kafka.create_topics(["asr.raw"])
    ...
    kafka.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from base64 import urlsafe_b64encode
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TypeVar

from emendo.errors import BrokerError
from emendo.settings import cache_dir

KAFKA_VERSION = "4.4.0"
"""Apache Kafka release that :func:`install` fetches (``org.apache.kafka:kafka_2.13``)."""
LOG4J_VERSION = "2.25.5"  # the log4j-core version kafka-server depends on; adds the SLF4J 1.7 binding
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
JAVA_MIN_MAJOR = 17
_MAIN_CLASS = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"
_MARKER = "installed.json"
_T = TypeVar("_T")

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>emendo</groupId><artifactId>emendo-kafka-runtime</artifactId><version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
  <build><pluginManagement><plugins><plugin><groupId>org.apache.maven.plugins</groupId>
    <artifactId>maven-dependency-plugin</artifactId><version>{plugin}</version>
  </plugin></plugins></pluginManagement></build>
</project>
"""

_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


def kafka_home() -> Path:
    """Directory holding the pom and the ``lib`` folder of jars for :data:`KAFKA_VERSION`."""
    return cache_dir() / f"kafka-{KAFKA_VERSION}"


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BrokerError(f"'{name}' was not found on PATH: {hint}")
    return path


@cache
def java_executable() -> str:
    """Path of a Java 17+ ``java`` ($JAVA_HOME/bin/java first, else PATH); :class:`BrokerError` if none."""
    need = f"a Java {JAVA_MIN_MAJOR}+ runtime (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
    hint = f"install {need}"
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").exists() else None
    java = java or _tool("java", hint)
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        raise BrokerError(f"could not run '{java} -version': {exc}; {hint}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if match and major == 1:  # "1.8.0_xxx" style
        major = int(match.group(2) or 0)
    if major < JAVA_MIN_MAJOR:
        raise BrokerError(f"{java} is Java {major or '?'}; Kafka {KAFKA_VERSION} needs {need}")
    return java


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install(quiet: bool = True) -> Path:
    """Fetch the Kafka broker jars with Maven (into the default ``~/.m2`` repository, then copied to
    ``<cache>/kafka-<version>/lib``) and return that lib directory.

    Idempotent and safe to call from several processes at once: a marker file records a finished
    install, so later calls return at once. With ``quiet=False`` Maven's output goes to the console.
    """
    home = kafka_home()
    lib, marker = home / "lib", home / _MARKER
    if marker.is_file() and lib.is_dir():
        return lib
    with _locked(home / ".install.lock"):
        if marker.is_file() and lib.is_dir():
            return lib
        mvn = _tool("mvn", "install Apache Maven 3.8+ (e.g. apt-get install maven)")
        java_executable()
        (home / "pom.xml").write_text(
            _POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION, plugin=DEPENDENCY_PLUGIN_VERSION)
        )
        staging = home / "lib.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-B", *(["-q"] if quiet else []), "dependency:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=home, capture_output=quiet, text=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as exc:
            raise BrokerError(f"running Maven failed: {exc}") from exc
        jars = sorted(staging.glob("*.jar"))
        if proc.returncode != 0 or not any(j.name.startswith("kafka_2.13-") for j in jars):
            tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-30:])
            raise BrokerError(
                f"Maven could not fetch Kafka {KAFKA_VERSION} (exit {proc.returncode}; "
                f"pom in {home}):\n{tail}"
            )
        info = {"version": KAFKA_VERSION, "jars": len(jars), "bytes": sum(j.stat().st_size for j in jars),
                "seconds": round(time.monotonic() - started, 1)}
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
        marker.write_text(json.dumps(info, indent=2) + "\n")
    return lib


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (free when this returns; not reserved)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _run_sync(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion, also when the caller is already inside an event loop."""

    async def main() -> _T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _cluster_id() -> str:
    """A Kafka ``Uuid`` in its base64 form (what ``kafka-storage random-uuid`` prints)."""
    while True:
        text = urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not text.startswith("-"):
            return text


@dataclass
class LocalKafka:
    """A single-node KRaft Kafka broker (combined broker+controller) whose files live in ``data_dir``.

    ``data_dir`` holds ``server.properties``, the partition data (``kraft/``), ``kafka.log`` (the JVM's
    output) and ``kafka.pid``. ``config`` adds or overrides broker settings; ``jvm_args`` are extra
    JVM options (the heap is ``-Xms256m -Xmx<heap>``).
    """

    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    partitions: int = 4
    host: str = "127.0.0.1"
    heap: str = "512m"
    config: dict[str, str] = field(default_factory=dict)
    jvm_args: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients' ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        """File holding the JVM's process id while the broker runs."""
        return self.data_dir / "kafka.pid"

    @property
    def log_file(self) -> Path:
        """The broker's stdout/stderr (its log4j output)."""
        return self.data_dir / "kafka.log"

    def server_properties(self) -> dict[str, str]:
        """The broker configuration written to ``server.properties``."""
        mib4 = str(4 * 1024 * 1024)
        props = {
            "process.roles": "broker,controller", "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER", "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "kraft"), "num.partitions": str(self.partitions),
            "default.replication.factor": "1", "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1", "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1", "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1", "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true", "message.max.bytes": mib4, "replica.fetch.max.bytes": mib4,
            "num.network.threads": "2", "num.io.threads": "4",
        }
        props.update(self.config)
        return props

    # -- process bookkeeping -------------------------------------------------------------------------

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        proc = Path(f"/proc/{pid}")
        if proc.is_dir():  # Linux: skip zombies and pids reused by an unrelated process
            with contextlib.suppress(OSError):
                if (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                    return False
                return _MAIN_CLASS.encode() in (proc / "cmdline").read_bytes()
        return True

    def pid(self) -> int | None:
        """The running broker's pid from ``kafka.pid``; a stale pid file is removed."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and self._alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of ``kafka.log`` (empty when there is none)."""
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(max(0, handle.seek(0, os.SEEK_END) - 64 * 1024))
                text = handle.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ------------------------------------------------------------------------------------

    def _format(self, java: str, classpath: str, properties: Path, log4j: Path) -> None:
        if (self.data_dir / "kraft" / "meta.properties").is_file():
            return
        cmd = [java, f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, _STORAGE_TOOL, "format",
               "-t", _cluster_id(), "-c", str(properties), "--standalone"]
        with self.log_file.open("ab") as log:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=120, check=False)
        if proc.returncode != 0:
            raise BrokerError(f"formatting Kafka storage in {self.data_dir} failed:\n{self.log_tail()}")

    def start(self, timeout: float = 90.0) -> None:
        """Start the broker unless it already runs, and wait until it answers metadata requests.

        Installs the jars on first use, writes ``server.properties``, formats the storage once and
        launches the JVM in a new session. Raises :class:`BrokerError` (with the log tail) if a port is
        taken, the JVM exits, or the broker is not ready within ``timeout`` seconds.
        """
        pid = self.pid()
        if pid is not None:
            self._wait_ready(pid, time.monotonic() + timeout)
            return
        for name, port in (("port", self.port), ("controller_port", self.controller_port)):
            if _port_in_use(self.host, port):
                raise BrokerError(f"cannot start Kafka: {name} {self.host}:{port} is already in use "
                                  "by another process (stop it or choose another port)")
        classpath = str(install() / "*")
        java = java_executable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties, log4j = self.data_dir / "server.properties", self.data_dir / "log4j2.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in self.server_properties().items()))
        log4j.write_text(_LOG4J2)
        with self.log_file.open("ab") as log:
            log.write(f"=== emendo: starting Kafka {KAFKA_VERSION} at {time.ctime()}\n".encode())
        self._format(java, classpath, properties, log4j)
        cmd = [java, f"-Xmx{self.heap}", "-Xms256m", "-XX:+ExitOnOutOfMemoryError",
               "-Djava.awt.headless=true", *self.jvm_args, f"-Dlog4j2.configurationFile={log4j}",
               "-cp", classpath, _MAIN_CLASS, str(properties)]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(cmd, cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(f"{self._proc.pid}\n")
        try:
            self._wait_ready(self._proc.pid, time.monotonic() + timeout)
        except BrokerError:
            self.stop(timeout=10)
            raise

    def _wait_ready(self, pid: int, deadline: float) -> None:
        while True:
            if not self._alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"Kafka exited during startup; see {self.log_file}:\n{self.log_tail()}")
            if _answers(self.host, self.port) and self._metadata_ok():
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"Kafka on {self.bootstrap} was not ready in time; see {self.log_file}:\n"
                                  f"{self.log_tail()}")
            time.sleep(0.25)

    def _metadata_ok(self) -> bool:
        async def probe() -> bool:
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
            try:
                await admin.start()
                cluster = await admin.describe_cluster()
                return bool(cluster.get("brokers")) and cluster.get("controller_id", -1) >= 0
            finally:
                await admin.close()

        try:
            return _run_sync(probe)
        except Exception:  # connection refused, not ready yet, timeouts: all mean "try again"
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker: SIGTERM (a clean shutdown), then SIGKILL after ``timeout`` seconds.

        Does nothing if it is not running; the pid file is removed either way.
        """
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self._alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while self._alive(pid) and time.monotonic() < deadline + 10:
                    time.sleep(0.1)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def status(self) -> dict[str, object]:
        """``running``, ``pid``, ``bootstrap``, ``data_dir`` and ``version`` of this broker."""
        pid = self.pid()
        return {"running": pid is not None and _answers(self.host, self.port), "pid": pid,
                "bootstrap": self.bootstrap, "data_dir": str(self.data_dir), "version": KAFKA_VERSION}

    # -- topics ---------------------------------------------------------------------------------------

    def create_topics(self, names: Sequence[str], partitions: int | None = None,
                      timeout: float = 30.0) -> None:
        """Create the topics that do not exist yet (replication factor 1) and wait until every
        partition has a leader. Existing topics are left as they are."""
        _run_sync(lambda: self.acreate_topics(names, partitions, timeout))

    async def acreate_topics(self, names: Sequence[str], partitions: int | None = None,
                             timeout: float = 30.0) -> None:
        """Async form of :meth:`create_topics`."""
        from emendo.streams.client import ensure_topics

        try:
            await ensure_topics(self.bootstrap, names, partitions or self.partitions, timeout)
        except Exception as exc:
            raise BrokerError(f"creating topics {list(names)} on {self.bootstrap} failed: {exc}") from exc
