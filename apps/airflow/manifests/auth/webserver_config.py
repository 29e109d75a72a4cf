"""Login to the Airflow API server through Amazon Cognito (OpenID Connect), FAB auth manager.

The chart mounts this file as $AIRFLOW_HOME/webserver_config.py on the API server only. OAuth
providers can only be configured here, not in airflow.cfg. The group-to-role mapping lives in
cognito_roles.py (mounted in $AIRFLOW_HOME/config, which Airflow puts on sys.path), so that it is
tested without Airflow.

Environment (set on the API server by the chart values):
  AIRFLOW_COGNITO_CLIENT_ID, AIRFLOW_COGNITO_CLIENT_SECRET, AIRFLOW_COGNITO_USER_POOL_ID
      from the Secret airflow-cognito, which External Secrets builds from Secrets Manager;
  AWS_REGION
      the environment's region, from clusters/<env>/values/airflow.yaml.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import cognito_roles
from airflow.providers.fab.auth_manager.security_manager.override import (
    FabAirflowSecurityManagerOverride,
)
from flask_appbuilder.security.manager import AUTH_OAUTH

log = logging.getLogger(__name__)

CLIENT_ID_ENV = "AIRFLOW_COGNITO_CLIENT_ID"
CLIENT_SECRET_ENV = "AIRFLOW_COGNITO_CLIENT_SECRET"
USER_POOL_ID_ENV = "AIRFLOW_COGNITO_USER_POOL_ID"
REGION_ENV = "AWS_REGION"

PROVIDER = "cognito"


def _required_env(name: str) -> str:
    """Return an environment variable, failing at start-up rather than at the first login."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"{name} is not set: the API server cannot offer Cognito login")
    return value


class CognitoSecurityManager(FabAirflowSecurityManagerOverride):  # type: ignore[misc]
    """FAB security manager that reads users and roles from Cognito's ID token."""

    def get_oauth_user_info(self, provider: str, resp: dict[str, Any]) -> dict[str, Any]:
        """Map the validated ID-token claims (Authlib puts them in resp["userinfo"]) to a user.

        An empty dict makes FAB refuse the login, so a token without the claims we need never
        creates a user.
        """
        if provider != PROVIDER:
            return dict(super().get_oauth_user_info(provider, resp))
        claims = resp.get("userinfo") or {}
        try:
            return cognito_roles.user_info_from_claims(claims)
        except cognito_roles.ClaimsError as err:
            log.warning("Cognito login refused: %s", err)
            return {}


# Behind the ALB, trust its X-Forwarded-* headers so the OAuth redirect URI is https.
ENABLE_PROXY_FIX = True
WTF_CSRF_ENABLED = True

AUTH_TYPE = AUTH_OAUTH
SECURITY_MANAGER_CLASS = CognitoSecurityManager

# Users are created at first login; their roles come only from Cognito groups, re-read at every
# login so that removing someone from a group takes effect on their next sign-in.
AUTH_USER_REGISTRATION = True
AUTH_USER_REGISTRATION_ROLE = cognito_roles.REGISTRATION_ROLE
AUTH_ROLES_MAPPING = cognito_roles.roles_mapping()
AUTH_ROLES_SYNC_AT_LOGIN = True

_ISSUER = cognito_roles.issuer_url(_required_env(REGION_ENV), _required_env(USER_POOL_ID_ENV))

OAUTH_PROVIDERS = [
    {
        "name": PROVIDER,
        "icon": "fa-amazon",
        "token_key": "access_token",
        "remote_app": {
            "client_id": _required_env(CLIENT_ID_ENV),
            "client_secret": _required_env(CLIENT_SECRET_ENV),
            # Endpoints and signing keys come from the pool's discovery document, so the ID
            # token's signature, issuer and audience are checked before get_oauth_user_info.
            "server_metadata_url": cognito_roles.discovery_url(_ISSUER),
            "client_kwargs": {"scope": "openid email profile", "code_challenge_method": "S256"},
        },
    },
]
