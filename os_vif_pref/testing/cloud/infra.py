"""MariaDB and RabbitMQ, private to one cloud directory.

Both run from Debian's packages but never as the system's services: own
data directory, socket, pid file and 127.0.0.1 port.  The Debian wrapper
of RabbitMQ switches user and logs to /var/log, so the server script is run
directly with its environment set (``RABBITMQ_CONF_ENV_FILE``, ``HOME``);
epmd, which RabbitMQ would daemonize and leave behind, is started first as
a service of ours so that it is stopped by its pid like everything else.
"""

from __future__ import annotations

import socket

from os_vif_pref.testing.cloud import layout as layout_mod
from os_vif_pref.testing.cloud.layout import Layout
from os_vif_pref.testing.cloud.procs import Procs, run

DATABASES = ("keystone", "placement", "glance", "nova_api", "nova",
             "nova_cell0", "neutron")

RABBIT_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_mariadb(lay: Layout, procs: Procs) -> None:
    """Install a private data directory and start mariadbd on it."""
    datadir = lay.data("mariadb")
    cnf = lay.etc("mariadb") / "my.cnf"
    cnf.write_text(
        "[mysqld]\n"
        f"datadir = {datadir}\n"
        f"socket = {lay.mariadb_socket}\n"
        f"pid-file = {lay.sock_dir / 'mysqld.pid'}\n"
        "bind-address = 127.0.0.1\n"
        f"port = {lay.ports['mariadb']}\n"
        "user = root\n"
        "skip-name-resolve\n"
        "max_connections = 1000\n"
        "innodb_buffer_pool_size = 128M\n"
        # A test database: durability is not wanted, speed is.
        "innodb_flush_log_at_trx_commit = 0\n"
        "innodb_doublewrite = 0\n"
        "sync_binlog = 0\n"
        "character-set-server = utf8mb4\n"
        "[client]\n"
        f"socket = {lay.mariadb_socket}\n")
    if not (datadir / "mysql").exists():
        run(["mariadb-install-db", f"--defaults-file={cnf}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--user=root"], timeout=120, what="mariadb-install-db")
    procs.start("mariadb", ["mariadbd", f"--defaults-file={cnf}"])
    procs.wait("mariadb", "port open",
               lambda: _port_open(lay.ports["mariadb"]), timeout=60)
    sql = "".join(
        f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4;"
        for db in DATABASES)
    sql += (f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY "
            f"'{layout_mod.DB_PASSWORD}';"
            "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY "
            f"'{layout_mod.DB_PASSWORD}';"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' "
            "WITH GRANT OPTION; FLUSH PRIVILEGES;")
    run(["mariadb", f"--defaults-file={cnf}", "-uroot", "-e", sql],
        timeout=60, what="creating the databases")


def _rabbit_env(lay: Layout) -> dict[str, str]:
    base = lay.data("rabbitmq")
    env_file = lay.etc("rabbitmq") / "rabbitmq-env.conf"
    conf = lay.etc("rabbitmq") / "rabbitmq.conf"
    if not conf.exists():
        conf.write_text("loopback_users = none\n"
                        "log.console = true\nlog.file = false\n")
        env_file.write_text("")
        (lay.etc("rabbitmq") / "enabled_plugins").write_text("[].\n")
    return {
        "HOME": str(base),
        "RABBITMQ_CONF_ENV_FILE": str(env_file),
        "RABBITMQ_CONFIG_FILE": str(conf),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(
            lay.etc("rabbitmq") / "enabled_plugins"),
        "RABBITMQ_NODENAME": "ovp@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(lay.ports["rabbitmq"]),
        "RABBITMQ_DIST_PORT": str(lay.ports["rabbitmq_dist"]),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
        "ERL_EPMD_PORT": str(lay.ports["epmd"]),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }


def start_rabbitmq(lay: Layout, procs: Procs) -> None:
    env = _rabbit_env(lay)
    procs.start("epmd", ["epmd", "-port", str(lay.ports["epmd"]),
                         "-address", "127.0.0.1"], env=env)
    procs.wait("epmd", "port open", lambda: _port_open(lay.ports["epmd"]),
               timeout=20)
    procs.start("rabbitmq", [RABBIT_SERVER], env=env)
    procs.wait("rabbitmq", "AMQP port open",
               lambda: _port_open(lay.ports["rabbitmq"]), timeout=120,
               interval=0.5)
    ctl = [RABBITMQCTL, "-n", env["RABBITMQ_NODENAME"]]
    run([*ctl, "wait", "--timeout", "60", env["RABBITMQ_PID_FILE"]],
        env=env, timeout=90, what="rabbitmqctl wait")
    users = run([*ctl, "list_users", "-q"], env=env, timeout=60,
                what="rabbitmqctl list_users")
    if layout_mod.RABBIT_USER not in users:
        run([*ctl, "add_user", layout_mod.RABBIT_USER,
             layout_mod.RABBIT_PASSWORD], env=env, timeout=60,
            what="rabbitmqctl add_user")
    run([*ctl, "set_permissions", layout_mod.RABBIT_USER, ".*", ".*", ".*"],
        env=env, timeout=60, what="rabbitmqctl set_permissions")
