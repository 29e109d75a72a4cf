"""Turn Amazon Cognito ID-token claims into Airflow (FAB) users and roles.

Pure functions, with no Airflow or Flask-AppBuilder imports, so that the mapping is unit-tested
without either. ``webserver_config.py`` imports this module by its top-level name: the chart
mounts it at ``$AIRFLOW_HOME/config/cognito_roles.py`` and Airflow puts that folder on
``sys.path``.

A user's Airflow roles come only from their Cognito groups (claim ``cognito:groups``). A user in
none of the known groups gets no role that grants anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

#: The ID-token claim in which Cognito lists the user's groups.
GROUPS_CLAIM: Final = "cognito:groups"

#: Cognito group -> Airflow role. Group names are case-sensitive in Cognito, so they are here too.
GROUP_TO_ROLE: Final[Mapping[str, str]] = MappingProxyType(
    {
        "airflow-admin": "Admin",
        "airflow-op": "Op",
        "airflow-user": "User",
        "airflow-viewer": "Viewer",
    }
)

#: FAB adds this role to every user it registers or syncs, on top of the mapped ones. "Public"
#: carries no permissions, so a user in no known group can sign in but sees nothing.
REGISTRATION_ROLE: Final = "Public"

# Claims tried in order for the FAB username: Cognito's own, stable per user pool.
_USERNAME_CLAIMS: Final = ("cognito:username", "username", "sub")

# An AWS region name, e.g. ap-southeast-2; used to refuse a malformed issuer early.
_REGION_RE: Final = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class ClaimsError(ValueError):
    """The claims cannot identify an Airflow user; the login must be refused."""


def roles_mapping() -> dict[str, list[str]]:
    """Return FAB's ``AUTH_ROLES_MAPPING``: each Cognito group to a one-role list."""
    return {group: [role] for group, role in GROUP_TO_ROLE.items()}


def groups_from_claims(claims: Mapping[str, Any]) -> list[str]:
    """Return the known Cognito groups in ``claims``, sorted and without duplicates.

    Unknown groups are ignored. A missing claim means no groups. Cognito sends a list; a single
    string is accepted as one group.
    """
    raw = claims.get(GROUPS_CLAIM)
    if raw is None:
        return []
    if isinstance(raw, str):
        values: list[Any] = [raw]
    elif isinstance(raw, (list, tuple)):
        values = list(raw)
    else:
        raise ClaimsError(f"claim {GROUPS_CLAIM!r} is a {type(raw).__name__}, not a list")
    return sorted({value for value in values if isinstance(value, str) and value in GROUP_TO_ROLE})


def roles_for_groups(groups: list[str]) -> list[str]:
    """Return the Airflow roles that ``groups`` grant, sorted and without duplicates."""
    return sorted({GROUP_TO_ROLE[group] for group in groups if group in GROUP_TO_ROLE})


def _first_text(claims: Mapping[str, Any], names: tuple[str, ...]) -> str:
    """Return the first non-blank string claim among ``names``, stripped, or ``""``."""
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def user_info_from_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Build FAB's OAuth user-info dict from validated ID-token claims.

    The signature, issuer, audience and expiry are checked before this is called (by Authlib,
    from the provider's discovery document). This only decides who the user is and which
    groups count. ``role_keys`` holds the known groups; FAB maps them with ``roles_mapping()``.

    Raises ``ClaimsError`` when the token is not an ID token or names no user or email: FAB
    needs both, and its user table requires a unique email.
    """
    token_use = claims.get("token_use")
    if token_use is not None and token_use != "id":
        raise ClaimsError(f"expected an ID token, got token_use={token_use!r}")
    username = _first_text(claims, _USERNAME_CLAIMS)
    if not username:
        raise ClaimsError("no username claim (cognito:username, username or sub)")
    email = _first_text(claims, ("email",))
    if not email:
        raise ClaimsError(f"no email claim for user {username!r}")
    return {
        "username": username,
        "email": email,
        "first_name": _first_text(claims, ("given_name",)),
        "last_name": _first_text(claims, ("family_name",)),
        "role_keys": groups_from_claims(claims),
    }


def issuer_url(region: str, user_pool_id: str) -> str:
    """Return the OIDC issuer of a Cognito user pool.

    A pool id starts with its region (``ap-southeast-2_AbC123``), so a pool from another region, for
    example another environment's, is refused here rather than at the first login.
    """
    region = region.strip()
    user_pool_id = user_pool_id.strip()
    if not _REGION_RE.match(region):
        raise ValueError(f"not an AWS region: {region!r}")
    prefix = f"{region}_"
    if not user_pool_id.startswith(prefix) or len(user_pool_id) == len(prefix):
        raise ValueError(f"user pool {user_pool_id!r} is not in region {region}")
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def discovery_url(issuer: str) -> str:
    """Return the OpenID Connect discovery document URL of ``issuer``."""
    return f"{issuer.rstrip('/')}/.well-known/openid-configuration"
