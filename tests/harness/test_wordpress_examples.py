"""The files a plugin developer copies from harness/wordpress/ fit together."""

from __future__ import annotations

import json
import re
from pathlib import Path

WORDPRESS = Path(__file__).resolve().parents[2] / "harness" / "wordpress"


def test_wp_env_example_maps_the_must_use_plugin_and_points_at_the_readme_port():
    config = json.loads((WORDPRESS / ".wp-env.json").read_text())

    [(target, source)] = config["mappings"].items()
    assert target == "wp-content/mu-plugins/rakubun-harness-redirect.php"
    assert source.endswith("/harness/wordpress/rakubun-harness-redirect.php")
    assert config["plugins"] == ["."]
    readme = (WORDPRESS / "README.md").read_text()
    [port] = set(re.findall(r"up --host 0\.0\.0\.0 --api-port (\d+)", readme))
    assert config["config"]["RAKUBUN_HARNESS_API_URL"] == f"http://host.docker.internal:{port}"
