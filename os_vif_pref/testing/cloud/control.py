"""The control plane: Keystone, Placement, Glance, Nova and Neutron servers.

The API services of these releases are WSGI applications only (no
standalone API server scripts): each runs under uwsgi with one process and
a few threads on 127.0.0.1, reading its configuration directory from the
variable its WSGI module reads.  Schemas are created with each project's
own manage command, in parallel, the longest (Nova's) setting the pace.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import shutil
import sys
import urllib.error
import urllib.request

from os_vif_pref.testing.cloud import configs
from os_vif_pref.testing.cloud import layout as layout_mod
from os_vif_pref.testing.cloud.layout import Layout
from os_vif_pref.testing.cloud.procs import Procs, run

#: WSGI application module and the variable naming its config directory.
WSGI_APPS = {
    "keystone": ("keystone.wsgi.api:application", "OS_KEYSTONE_CONFIG_DIR"),
    "placement": ("placement.wsgi.api:application",
                  "OS_PLACEMENT_CONFIG_DIR"),
    "glance": ("glance.wsgi.api:application", "OS_GLANCE_CONFIG_DIR"),
    "nova_api": ("nova.wsgi.osapi_compute:application",
                 "OS_NOVA_CONFIG_DIR"),
    "neutron_api": ("neutron.wsgi.api:application", "OS_NEUTRON_CONFIG_DIR"),
}

#: The config directory each WSGI service reads.
_ETC = {"keystone": "keystone", "placement": "placement", "glance": "glance",
        "nova_api": "nova", "neutron_api": "neutron"}


def _etc_file(name: str) -> str:
    """A file the service wheels install under ``<venv>/etc``."""
    prefix = sys.prefix
    return f"{prefix}/etc/{name}"


def write_configs(lay: Layout) -> None:
    """Every control-plane configuration file."""
    configs.write(lay.etc("keystone") / "keystone.conf",
                  configs.keystone(lay))
    configs.write(lay.etc("placement") / "placement.conf",
                  configs.placement(lay))
    configs.write(lay.etc("glance") / "glance-api.conf", configs.glance(lay))
    shutil.copy(_etc_file("glance/glance-api-paste.ini"), lay.etc("glance"))
    configs.write(lay.etc("nova") / "nova.conf",
                  configs.nova_controller(lay))
    shutil.copy(_etc_file("nova/api-paste.ini"), lay.etc("nova"))
    write_neutron_configs(lay)


def write_neutron_configs(lay: Layout) -> None:
    configs.write(lay.etc("neutron") / "neutron.conf", configs.neutron(lay))
    configs.write(lay.etc("neutron") / "ml2_conf.ini", configs.ml2(lay))
    shutil.copy(_etc_file("neutron/api-paste.ini"), lay.etc("neutron"))


def _neutron_args(lay: Layout) -> list[str]:
    etc = lay.etc("neutron")
    return ["--config-file", str(etc / "neutron.conf"),
            "--config-file", str(etc / "ml2_conf.ini")]


def sync_databases(lay: Layout) -> None:
    """Every schema, in parallel (Nova's cells take the longest)."""
    nova = ["--config-file", str(lay.etc("nova") / "nova.conf")]
    manage = lay.bin("nova-manage")

    def nova_sync() -> None:
        run([manage, *nova, "api_db", "sync"], what="nova-manage api_db sync")
        run([manage, *nova, "cell_v2", "map_cell0", "--database_connection",
             lay.db_url("nova_cell0")], what="nova-manage cell_v2 map_cell0")
        out = run([manage, *nova, "cell_v2", "list_cells"],
                  what="nova-manage cell_v2 list_cells")
        if " cell1 " not in out:
            run([manage, *nova, "cell_v2", "create_cell", "--name", "cell1",
                 "--database_connection", lay.db_url("nova"),
                 "--transport-url", lay.transport_url],
                what="nova-manage cell_v2 create_cell")
        run([manage, *nova, "db", "sync"], what="nova-manage db sync",
            timeout=600)

    jobs = [
        nova_sync,
        lambda: run([lay.bin("neutron-db-manage"), *_neutron_args(lay),
                     "upgrade", "heads"], what="neutron-db-manage upgrade",
                    timeout=600),
        lambda: run([lay.bin("placement-manage"), "--config-file",
                     str(lay.etc("placement") / "placement.conf"), "db",
                     "sync"], what="placement-manage db sync"),
        lambda: run([lay.bin("glance-manage"), "--config-file",
                     str(lay.etc("glance") / "glance-api.conf"), "db_sync"],
                    what="glance-manage db_sync"),
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def bootstrap_keystone(lay: Layout) -> None:
    conf = ["--config-file", str(lay.etc("keystone") / "keystone.conf")]
    manage = lay.bin("keystone-manage")
    run([manage, *conf, "db_sync"], what="keystone-manage db_sync")
    for setup in ("fernet_setup", "credential_setup"):
        run([manage, *conf, setup, "--keystone-user", "root",
             "--keystone-group", "root"], what=f"keystone-manage {setup}")
    run([manage, *conf, "bootstrap", "--bootstrap-password",
         layout_mod.ADMIN_PASSWORD, "--bootstrap-admin-url", lay.auth_url,
         "--bootstrap-internal-url", lay.auth_url, "--bootstrap-public-url",
         lay.auth_url, "--bootstrap-region-id", "RegionOne"],
        what="keystone-manage bootstrap")


def start_wsgi(lay: Layout, procs: Procs, name: str) -> None:
    """One API service under uwsgi (restartable: used by reconfigure)."""
    module, env_var = WSGI_APPS[name]
    ini = lay.etc(_ETC[name]) / f"uwsgi-{name}.ini"
    ini.write_text(
        "[uwsgi]\n"
        f"http-socket = 127.0.0.1:{lay.ports[name]}\n"
        f"module = {module}\n"
        "master = true\nenable-threads = true\nlazy-apps = true\n"
        "processes = 1\nthreads = 4\ndie-on-term = true\n"
        "need-app = true\nbuffer-size = 65535\n"
        # http-socket closes each connection after its response; clients
        # that pool connections must be told, or they reuse a closed one.
        "add-header = Connection: close\n")
    env = {env_var: str(lay.etc(_ETC[name]))}
    if name == "neutron_api":
        env["OS_NEUTRON_CONFIG_FILES"] = "neutron.conf;ml2_conf.ini"
    procs.start(name, [lay.bin("uwsgi"), "--ini", str(ini)], env=env)


def wait_http(lay: Layout, procs: Procs, name: str, path: str = "/",
              timeout: float = 120) -> float:
    """Wait until the service answers HTTP at all (any status)."""
    def answers() -> bool:
        try:
            urllib.request.urlopen(lay.url(name, path), timeout=5)
        except urllib.error.HTTPError:
            return True
        return True
    return procs.wait(name, f"HTTP answer on {lay.url(name, path)}",
                      answers, timeout=timeout, interval=0.3)


def start_neutron_server(lay: Layout, procs: Procs) -> None:
    """Neutron's API and its RPC server (which the agents talk to)."""
    start_wsgi(lay, procs, "neutron_api")
    procs.start("neutron_rpc", [lay.bin("neutron-rpc-server"),
                                *_neutron_args(lay)])


def start_nova_services(lay: Layout, procs: Procs) -> None:
    conf = ["--config-file", str(lay.etc("nova") / "nova.conf")]
    start_wsgi(lay, procs, "nova_api")
    procs.start("nova_conductor", [lay.bin("nova-conductor"), *conf])
    procs.start("nova_scheduler", [lay.bin("nova-scheduler"), *conf])


def register_services(lay: Layout) -> None:
    """Service users, roles and the catalogue's endpoints in Keystone."""
    conn = admin_connection(lay)
    service_project = conn.identity.find_project("service") or \
        conn.identity.create_project(name="service", domain_id="default")
    demo = conn.identity.find_project("demo") or \
        conn.identity.create_project(name="demo", domain_id="default")
    roles = {r.name: r for r in conn.identity.roles()}
    for role in ("service", "member"):
        if role not in roles:
            roles[role] = conn.identity.create_role(name=role)
    for user in ("nova", "neutron", "placement", "glance"):
        obj = conn.identity.find_user(user) or conn.identity.create_user(
            name=user, password=layout_mod.SERVICE_PASSWORD,
            domain_id="default", default_project_id=service_project.id)
        for role in ("admin", "service"):
            conn.identity.assign_project_role_to_user(
                service_project, obj, roles[role])
    member = conn.identity.find_user("member") or conn.identity.create_user(
        name="member", password=layout_mod.MEMBER_PASSWORD,
        domain_id="default", default_project_id=demo.id)
    conn.identity.assign_project_role_to_user(demo, member, roles["member"])
    admin = conn.identity.find_user("admin")
    conn.identity.assign_project_role_to_user(demo, admin, roles["admin"])
    endpoints = {
        ("placement", "placement"): lay.url("placement"),
        ("glance", "image"): lay.url("glance"),
        ("nova", "compute"): lay.url("nova_api", "/v2.1"),
        ("neutron", "network"): lay.url("neutron_api"),
    }
    for (name, kind), url in endpoints.items():
        svc = conn.identity.find_service(name) or \
            conn.identity.create_service(name=name, type=kind)
        for interface in ("public", "internal", "admin"):
            conn.identity.create_endpoint(service_id=svc.id,
                                          interface=interface, url=url,
                                          region_id="RegionOne")


def admin_connection(lay: Layout, project: str = "admin"):  # noqa: ANN201
    """An openstacksdk connection as the cloud's admin."""
    import openstack

    return openstack.connect(
        auth_url=lay.auth_url, username="admin",
        password=layout_mod.ADMIN_PASSWORD, project_name=project,
        user_domain_name="Default", project_domain_name="Default",
        region_name="RegionOne", identity_api_version="3",
        compute_api_version="2.96", load_yaml_config=False,
        load_envvars=False)


def member_connection(lay: Layout):  # noqa: ANN201
    """An openstacksdk connection as a member of project demo."""
    import openstack

    return openstack.connect(
        auth_url=lay.auth_url, username="member",
        password=layout_mod.MEMBER_PASSWORD, project_name="demo",
        user_domain_name="Default", project_domain_name="Default",
        region_name="RegionOne", identity_api_version="3",
        compute_api_version="2.96", load_yaml_config=False,
        load_envvars=False)
