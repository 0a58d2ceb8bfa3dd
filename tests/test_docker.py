"""The Docker files parse and reference what exists (no Docker engine on CI machines)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_compose_services_reference_existing_files():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kafka", "worker", "worker-gpu"} <= services.keys()
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for name in ("worker", "worker-gpu"):
        build = services[name]["build"]
        context = (DOCKER / build["context"]).resolve()
        assert context == ROOT
        assert (context / build["dockerfile"]).is_file()
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
    named = set(compose.get("volumes") or {})
    for name in ("worker", "worker-gpu"):
        for volume in services[name].get("volumes", []):
            host = volume.split(":")[0]
            # a bind mount names an existing path; anything else is a named volume the file declares
            assert (DOCKER / host).resolve().exists() if host.startswith((".", "/")) else host in named, host


def test_dockerfiles_are_well_formed_and_copy_existing_paths():
    known = {"FROM", "RUN", "COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT", "CMD",
             "HEALTHCHECK", "STOPSIGNAL", "ARG", "LABEL"}
    for name in ("Dockerfile", "Dockerfile.gpu"):
        instructions = dockerfile_instructions(DOCKER / name)
        assert instructions[0][0] == "FROM"
        assert {op for op, _ in instructions} <= known
        for op, rest in instructions:
            if op == "COPY" and not rest.startswith("--from"):
                *sources, _dest = rest.split()
                for src in sources:
                    assert (ROOT / src).exists(), f"{name}: COPY {src} does not exist"
        entry = [rest for op, rest in instructions if op == "ENTRYPOINT"]
        assert entry == ['["emendo"]']
    gpu = (DOCKER / "Dockerfile.gpu").read_text()
    assert "onnxruntime-gpu" in gpu
