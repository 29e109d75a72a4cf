"""Cognito groups to Airflow roles (apps/airflow/manifests/auth/cognito_roles.py), and the contract between
webserver_config.py, the chart values and the ExternalSecret that feeds it.

cognito_roles is loaded from its file path, as the API server loads it from $AIRFLOW_HOME/config.
webserver_config.py needs Airflow's FAB provider, so it is compiled and parsed, never imported.
"""

from __future__ import annotations

import ast
import importlib.util
import py_compile
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTH_DIR = REPO_ROOT / "apps" / "airflow" / "manifests" / "auth"
ENVS = ("dev", "staging", "prod")


def _load_cognito_roles() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cognito_roles", AUTH_DIR / "cognito_roles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("cognito_roles", module)
    spec.loader.exec_module(module)
    return module


cr = _load_cognito_roles()


def claims(**extra: Any) -> dict[str, Any]:
    """Claims of a Cognito ID token for a user, with overrides."""
    base: dict[str, Any] = {
        "sub": "5f0c1e2a-0000-4000-8000-000000000001",
        "cognito:username": "jdoe",
        "email": "jdoe@example.com",
        "given_name": "Jane",
        "family_name": "Doe",
        "token_use": "id",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


# --- the mapping ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("group", "role"),
    [
        ("airflow-admin", "Admin"),
        ("airflow-op", "Op"),
        ("airflow-user", "User"),
        ("airflow-viewer", "Viewer"),
    ],
)
def test_each_group_maps_to_its_role(group: str, role: str) -> None:
    info = cr.user_info_from_claims(claims(**{"cognito:groups": [group]}))
    assert info["role_keys"] == [group]
    assert cr.roles_for_groups(info["role_keys"]) == [role]
    assert cr.roles_mapping()[group] == [role]


def test_roles_mapping_is_exactly_the_four_groups() -> None:
    assert cr.roles_mapping() == {
        "airflow-admin": ["Admin"],
        "airflow-op": ["Op"],
        "airflow-user": ["User"],
        "airflow-viewer": ["Viewer"],
    }


def test_roles_mapping_returns_a_fresh_copy() -> None:
    mapping = cr.roles_mapping()
    mapping["airflow-viewer"].append("Admin")
    assert cr.roles_mapping()["airflow-viewer"] == ["Viewer"]


def test_registration_role_grants_nothing() -> None:
    # FAB adds it to every user on top of the mapped roles, so it must not be a real role.
    assert cr.REGISTRATION_ROLE == "Public"
    assert cr.REGISTRATION_ROLE not in {role for roles in cr.roles_mapping().values() for role in roles}


def test_several_groups_give_all_their_roles_sorted_once() -> None:
    groups = ["airflow-viewer", "airflow-admin", "airflow-op", "airflow-viewer"]
    info = cr.user_info_from_claims(claims(**{"cognito:groups": groups}))
    assert info["role_keys"] == ["airflow-admin", "airflow-op", "airflow-viewer"]
    assert cr.roles_for_groups(info["role_keys"]) == ["Admin", "Op", "Viewer"]


def test_unknown_groups_are_ignored() -> None:
    groups = ["airflow-admins", "Airflow-Admin", "admin", "eu-west-1_AbC_Google", "airflow-user"]
    info = cr.user_info_from_claims(claims(**{"cognito:groups": groups}))
    assert info["role_keys"] == ["airflow-user"]


def test_only_unknown_groups_give_no_role() -> None:
    info = cr.user_info_from_claims(claims(**{"cognito:groups": ["data-science", "Admin"]}))
    assert info["role_keys"] == []
    assert cr.roles_for_groups(info["role_keys"]) == []


def test_missing_groups_claim_gives_no_role_but_identifies_the_user() -> None:
    info = cr.user_info_from_claims(claims())
    assert info == {
        "username": "jdoe",
        "email": "jdoe@example.com",
        "first_name": "Jane",
        "last_name": "Doe",
        "role_keys": [],
    }


def test_empty_or_null_groups_give_no_role() -> None:
    assert cr.groups_from_claims({"cognito:groups": []}) == []
    assert cr.groups_from_claims({"cognito:groups": None}) == []


def test_single_group_as_string_counts_as_one_group() -> None:
    assert cr.groups_from_claims({"cognito:groups": "airflow-op"}) == ["airflow-op"]


def test_non_string_group_members_are_ignored() -> None:
    assert cr.groups_from_claims({"cognito:groups": [None, 7, {"x": 1}, "airflow-viewer"]}) == ["airflow-viewer"]


@pytest.mark.parametrize("bad", [{"airflow-admin": True}, 1, True])
def test_malformed_groups_claim_is_refused(bad: Any) -> None:
    with pytest.raises(cr.ClaimsError):
        cr.user_info_from_claims(claims(**{"cognito:groups": bad}))


def test_roles_for_groups_ignores_unknown_groups() -> None:
    assert cr.roles_for_groups(["nope", "airflow-user", "airflow-user"]) == ["User"]


# --- identity claims ---------------------------------------------------------------------------
def test_username_prefers_cognito_username_then_username_then_sub() -> None:
    assert cr.user_info_from_claims(claims(username="other"))["username"] == "jdoe"
    assert cr.user_info_from_claims(claims(**{"cognito:username": None, "username": "u2"}))["username"] == "u2"
    only_sub = claims(**{"cognito:username": None})
    assert cr.user_info_from_claims(only_sub)["username"] == only_sub["sub"]


def test_blank_username_claims_are_skipped() -> None:
    info = cr.user_info_from_claims(claims(**{"cognito:username": "   ", "username": ""}))
    assert info["username"] == claims()["sub"]


def test_values_are_trimmed() -> None:
    info = cr.user_info_from_claims(claims(**{"cognito:username": " jdoe ", "email": " jdoe@example.com\n"}))
    assert (info["username"], info["email"]) == ("jdoe", "jdoe@example.com")


def test_missing_names_become_empty_strings() -> None:
    info = cr.user_info_from_claims(claims(given_name=None, family_name=None))
    assert (info["first_name"], info["last_name"]) == ("", "")


def test_no_username_claim_at_all_is_refused() -> None:
    with pytest.raises(cr.ClaimsError, match="username"):
        cr.user_info_from_claims(claims(**{"cognito:username": None, "sub": None}))


def test_missing_email_is_refused() -> None:
    # FAB's user table needs a unique email; a blank one would collide with the next such user.
    with pytest.raises(cr.ClaimsError, match="email"):
        cr.user_info_from_claims(claims(email=None))
    with pytest.raises(cr.ClaimsError, match="email"):
        cr.user_info_from_claims(claims(email=" "))


def test_empty_claims_are_refused() -> None:
    with pytest.raises(cr.ClaimsError):
        cr.user_info_from_claims({})


def test_an_access_token_is_not_an_id_token() -> None:
    with pytest.raises(cr.ClaimsError, match="ID token"):
        cr.user_info_from_claims(claims(token_use="access", **{"cognito:groups": ["airflow-admin"]}))


def test_token_use_may_be_absent() -> None:
    assert cr.user_info_from_claims(claims(token_use=None))["username"] == "jdoe"


def test_claims_error_is_a_value_error() -> None:
    assert issubclass(cr.ClaimsError, ValueError)


# --- issuer ------------------------------------------------------------------------------------
def test_issuer_and_discovery_url() -> None:
    issuer = cr.issuer_url("eu-west-1", "eu-west-1_AbC123xyz")
    assert issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
    assert cr.discovery_url(issuer) == f"{issuer}/.well-known/openid-configuration"
    assert cr.discovery_url(issuer + "/") == f"{issuer}/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("region", "pool"),
    [
        ("eu-west-1", "us-east-1_AbC123"),  # another region's pool, e.g. another environment's
        ("eu-west-1", "eu-west-1_"),
        ("eu-west-1", "AbC123"),
        ("", "eu-west-1_AbC123"),
        ("eu-west-1/x", "eu-west-1/x_AbC"),
    ],
)
def test_issuer_refuses_a_pool_outside_the_region(region: str, pool: str) -> None:
    with pytest.raises(ValueError):
        cr.issuer_url(region, pool)


def test_module_imports_neither_airflow_nor_flask() -> None:
    tree = ast.parse((AUTH_DIR / "cognito_roles.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "re", "collections", "types", "typing"}


# --- webserver_config.py, parsed -----------------------------------------------------------------
WEBSERVER_CONFIG = AUTH_DIR / "webserver_config.py"


def _webserver_tree() -> ast.Module:
    return ast.parse(WEBSERVER_CONFIG.read_text(), filename=str(WEBSERVER_CONFIG))


def _assignments(tree: ast.Module) -> dict[str, ast.expr]:
    return {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _env_names_read(tree: ast.Module) -> set[str]:
    """Names of the *_ENV constants: the environment variables webserver_config.py reads."""
    return {
        value.value
        for name, value in _assignments(tree).items()
        if name.endswith("_ENV") and isinstance(value, ast.Constant) and isinstance(value.value, str)
    }


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _external_secret(name: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((REPO_ROOT / "apps" / "airflow" / "manifests" / "external-secrets.yaml").read_text())
    [found] = [d for d in docs if d and d["kind"] == "ExternalSecret" and d["metadata"]["name"] == name]
    secret: dict[str, Any] = found
    return secret


def test_webserver_config_compiles(tmp_path: Path) -> None:
    py_compile.compile(str(WEBSERVER_CONFIG), cfile=str(tmp_path / "webserver_config.pyc"), doraise=True)


def test_webserver_config_reads_exactly_the_variables_the_api_server_gets() -> None:
    read = _env_names_read(_webserver_tree())
    values = _load_yaml(REPO_ROOT / "apps" / "airflow" / "values.yaml")
    from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in values["apiServer"]["env"] if "valueFrom" in e}
    assert read == set(from_secret) | {"AWS_REGION"}
    # Each of those variables is a key the ExternalSecret really writes.
    cognito = _external_secret("airflow-cognito")
    written = {item["secretKey"] for item in cognito["spec"]["data"]}
    for name, ref in from_secret.items():
        assert ref["name"] == cognito["spec"]["target"]["name"], name
        assert ref["key"] in written, name


@pytest.mark.parametrize("env", ENVS)
def test_every_environment_sets_its_region_for_the_issuer(env: str) -> None:
    cluster = _load_yaml(REPO_ROOT / "clusters" / env / "cluster.yaml")
    values = _load_yaml(REPO_ROOT / "clusters" / env / "values" / "airflow.yaml")
    env_vars = {e["name"]: e["value"] for e in values["env"]}
    assert env_vars["AWS_REGION"] == cluster["aws"]["region"]


def test_webserver_config_login_settings() -> None:
    tree = _webserver_tree()
    assigned = _assignments(tree)
    source = WEBSERVER_CONFIG.read_text()

    assert ast.unparse(assigned["AUTH_TYPE"]) == "AUTH_OAUTH"
    assert ast.unparse(assigned["AUTH_ROLES_MAPPING"]) == "cognito_roles.roles_mapping()"
    assert ast.unparse(assigned["AUTH_USER_REGISTRATION_ROLE"]) == "cognito_roles.REGISTRATION_ROLE"
    for flag in ("AUTH_ROLES_SYNC_AT_LOGIN", "AUTH_USER_REGISTRATION", "ENABLE_PROXY_FIX"):
        value = assigned[flag]
        assert isinstance(value, ast.Constant) and value.value is True, flag
    assert ast.unparse(assigned["SECURITY_MANAGER_CLASS"]) == "CognitoSecurityManager"
    assert "server_metadata_url" in source and "cognito_roles.discovery_url(" in source
    # No role is granted by name here, only through the mapping in cognito_roles.
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert not constants & {"Admin", "Op", "User", "Viewer"}

    imports = {node.module: {a.name for a in node.names} for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert imports["airflow.providers.fab.auth_manager.security_manager.override"] == {"FabAirflowSecurityManagerOverride"}
    assert any(isinstance(n, ast.Import) and n.names[0].name == "cognito_roles" for n in tree.body)


def test_security_manager_overrides_get_oauth_user_info_with_cognito_roles() -> None:
    tree = _webserver_tree()
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "CognitoSecurityManager"]
    assert [ast.unparse(b) for b in cls.bases] == ["FabAirflowSecurityManagerOverride"]
    [method] = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "get_oauth_user_info"]
    assert [a.arg for a in method.args.args] == ["self", "provider", "resp"]
    body = ast.unparse(method)
    assert "cognito_roles.user_info_from_claims(" in body
    assert "cognito_roles.ClaimsError" in body
