"""cluster.yaml and cluster.local.yaml pass the validation `ray up` applies (Ray's schema and
config preparation from the installed ray), and say what the issue asks of them; each node
type of cluster.yaml gets the torch build it needs in the commands Ray resolves for it."""

import copy
import re

import jsonschema
import pytest
import yaml

from imm_ray.cluster import CLOUD_CONFIG, LOCAL_CONFIG, REPO, check_launcher_config


def pyproject_pins() -> tuple[str, tuple[int, int]]:
    """(ray version, minimum python) from pyproject.toml (no tomllib on Python 3.10)."""
    text = (REPO / "pyproject.toml").read_text()
    ray = re.search(r'"ray\[[a-z,]+\]==([0-9.]+)"', text)[1]
    python = re.search(r'requires-python = ">=(\d+)\.(\d+)"', text)
    return ray, (int(python[1]), int(python[2]))


def test_cloud_config_is_valid_for_ray_up_with_cpu_head_and_gpu_autoscaling():
    config = check_launcher_config(CLOUD_CONFIG)
    assert config["provider"]["type"] in ("aws", "gcp")
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu = [t for t in types.values() if t is not head and t["resources"].get("GPU", 0) > 0]
    cpu = [t for t in types.values() if t is not head and t["resources"].get("GPU", 0) == 0]
    assert gpu and all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in gpu)
    assert cpu and all(t["resources"]["CPU"] > 0 for t in cpu)


def test_cloud_config_pins_the_versions_of_pyproject():
    config = check_launcher_config(CLOUD_CONFIG)
    version, min_python = pyproject_pins()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version) and min_python >= (3, 10)
    images = [config["docker"]["head_image"], config["docker"]["worker_image"]]
    images += [t["docker"]["worker_image"] for t in config["available_node_types"].values()
               if "docker" in t]
    for image in images:
        m = re.fullmatch(r"rayproject/ray:(\d+\.\d+\.\d+)-py(\d)(\d+)-(cpu|gpu|cu\d+)", image)
        assert m, image
        assert m[1] == version and (int(m[2]), int(m[3])) >= min_python


def test_cloud_config_mounts_and_installs_the_repository_and_says_what_to_change():
    config = check_launcher_config(CLOUD_CONFIG)
    target = next(remote for remote, local in config["file_mounts"].items() if local == ".")
    install = f"pip install -q -e {target}"
    assert install in config["head_setup_commands"]
    for name, t in config["available_node_types"].items():
        if name != config["head_node_type"]:
            assert install in (t.get("worker_setup_commands") or config["setup_commands"])
    text = CLOUD_CONFIG.read_text()
    for field in ("region", "key", "bucket"):
        assert re.search(rf"CHANGE \(\d\).*{field}", text, re.I), field
    assert "0.0.0.0" not in text


def resolved_setup_commands(path) -> dict[str, list[str]]:
    """The setup commands Ray runs on each node type, resolved two ways that must agree:
    the autoscaler v2 config class, and v1's rule (after ``prepare_config``, a node type's
    own ``worker_setup_commands`` replace the merged top-level ones)."""
    from ray.autoscaler.v2.instance_manager.config import AutoscalingConfig

    prepared = check_launcher_config(path)
    head = prepared["head_node_type"]
    v2 = AutoscalingConfig(yaml.safe_load(path.read_text()), skip_content_hash=True)
    resolved = {head: v2.get_head_setup_commands()}
    assert resolved[head] == prepared["head_setup_commands"]
    for name, node_type in prepared["available_node_types"].items():
        if name != head:
            resolved[name] = v2.get_worker_setup_commands(name)
            assert resolved[name] == node_type.get("worker_setup_commands",
                                                   prepared["worker_setup_commands"])
    return resolved


def test_every_node_type_installs_the_torch_build_it_needs_before_the_project():
    config = check_launcher_config(CLOUD_CONFIG)
    pin = re.search(r"pip install -q torch==([0-9.]+)", (REPO / ".ci" / "run").read_text())[1]
    install = "pip install -q -e ~/imm_ray"
    for name, cmds in resolved_setup_commands(CLOUD_CONFIG).items():
        torch_at = [i for i, c in enumerate(cmds) if re.match(r"pip install .*\btorch\b", c)]
        assert len(torch_at) == 1, (name, cmds)
        at = torch_at[0]
        assert f"torch=={pin} " in cmds[at] + " " and at < cmds.index(install), (name, cmds)
        gpus = config["available_node_types"][name]["resources"].get("GPU", 0)
        if gpus:  # PyPI's Linux wheel is the CUDA build; then it must see the GPU
            assert "--index-url" not in cmds[at], (name, cmds[at])
            check = next(i for i, c in enumerate(cmds) if "torch.cuda.is_available()" in c)
            assert at < check < cmds.index(install)
            docker = config["available_node_types"][name]["docker"]
            assert docker["worker_image"].endswith("-gpu") and "--gpus all" in \
                docker["worker_run_options"]
        else:
            assert cmds[at].endswith("--index-url https://download.pytorch.org/whl/cpu")


def test_local_config_is_valid_and_loopback_only():
    config = check_launcher_config(LOCAL_CONFIG)
    assert config["provider"] == {"type": "local", "head_ip": "127.0.0.1", "worker_ips": []}
    head, = config["head_start_ray_commands"]
    worker, = config["worker_start_ray_commands"]
    assert head.startswith("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ray start --head")
    assert "--include-dashboard=false" in head
    assert worker.startswith("python -m imm_ray.cluster ray start --address=")
    assert "0.0.0.0" not in head + worker


@pytest.mark.parametrize("breakage", ["gpu_count_text", "unknown_field", "head_type"])
def test_the_validation_rejects_a_broken_config(breakage, tmp_path):
    config = yaml.safe_load(CLOUD_CONFIG.read_text())
    broken = copy.deepcopy(config)
    if breakage == "gpu_count_text":
        broken["available_node_types"]["gpu_worker"]["resources"]["GPU"] = "one"
    elif breakage == "unknown_field":
        broken["worker_nodes_please"] = 3
    else:
        broken["head_node_type"] = "no_such_type"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        check_launcher_config(path)
