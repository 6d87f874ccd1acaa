"""A real WordPress for the tests: Debian's tree, MariaDB on a socket, `php -S` on 127.0.0.1.

Everything lives in one temporary folder and every process is started and stopped here;
no system service is used. WordPress makes no outgoing HTTP call but to 127.0.0.1
(WP_HTTP_BLOCK_EXTERNAL), so the plugin reaches only the harness the must-use plugin names.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DEBIAN_WORDPRESS = Path("/usr/share/wordpress")
MU_PLUGIN = (
    Path(__file__).resolve().parents[2] / "harness" / "wordpress" / "rakubun-harness-redirect.php"
)
PLUGIN_SLUG = "rakubun-ai-content-generator"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "wordpress-test-password"
ADMIN_EMAIL = "editor@example.com"
READY_TIMEOUT = 60.0
REQUIRED_TOOLS = ("mariadbd", "mariadb-install-db", "mariadb", "php", "chromium")


def missing_tools() -> list[str]:
    """What this machine lacks of Debian's wordpress, mariadb-server, php-cli and chromium."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if not (DEBIAN_WORDPRESS / "wp-settings.php").exists():
        missing.append(str(DEBIAN_WORDPRESS))
    return missing


def wait_until(ready, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `ready()` until it holds; fail with the log if the process dies or time runs out."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a process started in its own session, with every worker it forked."""
    if process is None:
        return
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            break
        try:
            process.wait(30)
            break
        except subprocess.TimeoutExpired:
            continue


def copy_tree(source: Path, target: Path) -> None:
    """Copy files, not links (Debian's relative symlinks break in a copy), all writable."""
    shutil.copytree(
        source,
        target,
        symlinks=False,
        ignore_dangling_symlinks=True,
        copy_function=shutil.copyfile,
        dirs_exist_ok=True,
    )
    for folder, _, _ in os.walk(target):
        os.chmod(folder, os.stat(folder).st_mode | stat.S_IWUSR | stat.S_IXUSR)


@dataclass
class MariaDB:
    """mariadbd on a private data dir, reachable only through its socket."""

    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.root / "mysqld.sock"

    def start(self) -> None:
        data = self.root / "data"
        log = self.root / "mariadb.log"
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    "mariadbd",
                    "--no-defaults",
                    f"--datadir={data}",
                    f"--socket={self.socket}",
                    "--skip-networking",
                    "--user=root",
                    f"--pid-file={self.root / 'mysqld.pid'}",
                    f"--log-error={log}",
                    "--innodb-buffer-pool-size=32M",
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: self.query("SELECT 1", check=False) == 0, "MariaDB", self.process, log)

    def query(self, sql: str, *, check: bool = True) -> int:
        result = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-e", sql],
            capture_output=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{sql}: {result.stderr.decode(errors='replace')}")
        return result.returncode

    def rows(self, sql: str) -> list[str]:
        """The first column of each row `sql` selects from WordPress's database."""
        result = subprocess.run(
            [
                "mariadb",
                "--no-defaults",
                f"--socket={self.socket}",
                "-uroot",
                "--batch",
                "--skip-column-names",
                "wordpress",
                "-e",
                sql,
            ],
            capture_output=True,
            check=True,
        )
        return [line.split("\t")[0] for line in result.stdout.decode().splitlines()]

    def stop(self) -> None:
        stop(self.process)


WP_CONFIG = """<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:{socket}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = 'wp_';
define('WP_HOME', '{url}');
define('WP_SITEURL', '{url}');
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
define('WP_DEBUG', true);
define('WP_DEBUG_DISPLAY', false);
define('WP_DEBUG_LOG', '{debug_log}');
define('FS_METHOD', 'direct');
foreach (array('AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT',
               'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT') as $name) {{
    define($name, 'rakubun-wordpress-test-' . $name);
}}
if (!defined('ABSPATH')) {{
    define('ABSPATH', __DIR__ . '/');
}}
require_once ABSPATH . 'wp-settings.php';
"""

INSTALL = """<?php
define('WP_INSTALLING', true);
$_SERVER['HTTP_HOST'] = parse_url('{url}', PHP_URL_HOST) . ':' . parse_url('{url}', PHP_URL_PORT);
require __DIR__ . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$result = wp_install('Rakubun test site', '{user}', '{email}', false, '', '{password}');
echo is_wp_error($result) ? 'failed' : 'installed';
"""

OPTION = """<?php
require __DIR__ . '/wp-load.php';
$name = $argv[1];
if ($argc > 2) {{ update_option($name, $argv[2]); }} else {{ delete_option($name); }}
"""


@dataclass
class WordPress:
    """A private copy of Debian's WordPress served by `php -S`, installed without a person."""

    root: Path
    database: MariaDB
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tree(self) -> Path:
        return self.root / "wordpress"

    @property
    def debug_log(self) -> Path:
        return self.root / "debug.log"

    def install(self, plugin_dir: Path) -> None:
        """Copy the tree, the plugin (inactive) and the must-use plugin; run the installer."""
        copy_tree(DEBIAN_WORDPRESS, self.tree)
        (self.tree / "wp-config.php").write_text(
            WP_CONFIG.format(socket=self.database.socket, url=self.url, debug_log=self.debug_log)
        )
        copy_tree(plugin_dir, self.tree / "wp-content" / "plugins" / PLUGIN_SLUG)
        mu_plugins = self.tree / "wp-content" / "mu-plugins"
        mu_plugins.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MU_PLUGIN, mu_plugins / MU_PLUGIN.name)
        self.database.query("CREATE DATABASE wordpress")
        (self.tree / "install-for-tests.php").write_text(
            INSTALL.format(
                url=self.url, user=ADMIN_USER, email=ADMIN_EMAIL, password=ADMIN_PASSWORD
            )
        )
        (self.tree / "option-for-tests.php").write_text(OPTION.format())
        result = self.php("install-for-tests.php")
        if result != "installed":
            raise RuntimeError(f"WordPress did not install: {result}")

    def php(self, script: str, *args: str) -> str:
        """Run a PHP script of the tree with php-cli (the way wp-cli would)."""
        result = subprocess.run(
            ["php", script, *args], cwd=self.tree, capture_output=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"php {script}: {result.stdout!r} {result.stderr!r}")
        return result.stdout.decode(errors="replace").strip()

    def set_option(self, name: str, value: str | None) -> None:
        """`wp option update NAME VALUE` (or `wp option delete NAME` for None)."""
        self.php("option-for-tests.php", name, *([value] if value is not None else []))

    def serve(self) -> None:
        log = self.root / "php-server.log"
        env = {**os.environ, "PHP_CLI_SERVER_WORKERS": "4"}
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(self.tree)],
                cwd=self.tree,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def answers() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(answers, "php -S", self.process, log)

    def stop(self) -> None:
        stop(self.process)
