# Unit tests: plan only, against a mocked AWS provider. The pool and client ids and the client
# secret are fixed during the plan so that the secret's JSON can be checked.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_resource "aws_cognito_user_pool" {
    override_during = plan
    defaults = {
      id  = "eu-west-1_AbCdEf123"
      arn = "arn:aws:cognito-idp:eu-west-1:333333333333:userpool/eu-west-1_AbCdEf123"
    }
  }
  mock_resource "aws_cognito_user_pool_client" {
    override_during = plan
    defaults = {
      id            = "1example23456789abcdefghij"
      client_secret = "not-a-real-client-secret"
    }
  }
}

variables {
  name          = "airflow-prod"
  hostname      = "airflow.prod.example.com"
  domain_prefix = "airflow-prod-example"
  secret_name   = "airflow-prod/airflow/cognito"
  kms_key_arn   = "arn:aws:kms:eu-west-1:333333333333:key/00000000-0000-0000-0000-000000000004"
}

run "prod_like" {
  command = plan

  variables {
    deletion_protection = true
  }

  assert {
    condition     = aws_cognito_user_pool.this.name == "airflow-prod" && aws_cognito_user_pool.this.deletion_protection == "ACTIVE"
    error_message = "The pool must be named as asked and protected from deletion."
  }

  assert {
    condition     = one(aws_cognito_user_pool.this.user_pool_add_ons).advanced_security_mode == "ENFORCED" && aws_cognito_user_pool.this.user_pool_tier == "PLUS"
    error_message = "Threat protection must be ENFORCED by default, on the Plus plan it needs."
  }

  assert {
    condition     = one(aws_cognito_user_pool.this.admin_create_user_config).allow_admin_create_user_only == true
    error_message = "Nobody may sign up; administrators create users."
  }

  assert {
    condition     = aws_cognito_user_pool.this.username_attributes == toset(["email"]) && aws_cognito_user_pool.this.mfa_configuration == "OPTIONAL" && one(aws_cognito_user_pool.this.software_token_mfa_configuration).enabled == true
    error_message = "Users sign in by email, with optional authenticator-app MFA."
  }

  assert {
    condition = alltrue([
      one(aws_cognito_user_pool.this.password_policy).minimum_length >= 14,
      one(aws_cognito_user_pool.this.password_policy).require_lowercase,
      one(aws_cognito_user_pool.this.password_policy).require_uppercase,
      one(aws_cognito_user_pool.this.password_policy).require_numbers,
      one(aws_cognito_user_pool.this.password_policy).require_symbols,
    ])
    error_message = "The password policy must be strong."
  }

  assert {
    condition     = { for k, g in aws_cognito_user_group.this : k => g.precedence } == { "airflow-admin" = 1, "airflow-op" = 2, "airflow-user" = 3, "airflow-viewer" = 4 } && alltrue([for g in aws_cognito_user_group.this : length(g.description) > 0])
    error_message = "The four groups that cognito_roles.py maps must exist, described, in precedence order."
  }

  assert {
    condition     = aws_cognito_user_pool_client.airflow.generate_secret == true && aws_cognito_user_pool_client.airflow.allowed_oauth_flows == toset(["code"]) && aws_cognito_user_pool_client.airflow.allowed_oauth_flows_user_pool_client == true
    error_message = "The app client must be confidential and use the authorization code flow only."
  }

  assert {
    condition     = aws_cognito_user_pool_client.airflow.allowed_oauth_scopes == toset(["openid", "email", "profile"]) && aws_cognito_user_pool_client.airflow.explicit_auth_flows == toset(["ALLOW_REFRESH_TOKEN_AUTH"])
    error_message = "Scopes are openid email profile; no direct password sign-in flow."
  }

  assert {
    condition     = aws_cognito_user_pool_client.airflow.callback_urls == toset(["https://airflow.prod.example.com/auth/oauth-authorized/cognito"]) && aws_cognito_user_pool_client.airflow.logout_urls == toset(["https://airflow.prod.example.com/"])
    error_message = "Callback and logout URLs must be built from the hostname, as Airflow's FAB OAuth expects."
  }

  assert {
    condition     = aws_cognito_user_pool_client.airflow.prevent_user_existence_errors == "ENABLED" && aws_cognito_user_pool_client.airflow.enable_token_revocation == true && aws_cognito_user_pool_client.airflow.access_token_validity == 60 && one(aws_cognito_user_pool_client.airflow.token_validity_units).access_token == "minutes"
    error_message = "User existence must not leak; token lifetimes must be set with their units."
  }

  assert {
    condition     = aws_cognito_user_pool_domain.this.domain == "airflow-prod-example" && output.domain == "airflow-prod-example.auth.eu-west-1.amazoncognito.com"
    error_message = "The hosted domain must use the given prefix."
  }

  assert {
    condition     = output.issuer_url == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    error_message = "The issuer is the pool's cognito-idp URL."
  }

  assert {
    condition     = aws_secretsmanager_secret.client.name == "airflow-prod/airflow/cognito" && aws_secretsmanager_secret.client.kms_key_id == "arn:aws:kms:eu-west-1:333333333333:key/00000000-0000-0000-0000-000000000004" && aws_secretsmanager_secret.client.recovery_window_in_days == 30
    error_message = "The client secret goes to <cluster>/airflow/cognito, encrypted with the given key."
  }

  assert {
    condition     = nonsensitive(keys(jsondecode(aws_secretsmanager_secret_version.client.secret_string))) == ["client_id", "client_secret", "user_pool_id"] && nonsensitive(jsondecode(aws_secretsmanager_secret_version.client.secret_string).user_pool_id) == "eu-west-1_AbCdEf123"
    error_message = "The secret must hold exactly client_id, client_secret and user_pool_id, as the airflow-cognito ExternalSecret reads them."
  }
}

run "dev_like" {
  command = plan

  variables {
    name                        = "airflow-dev"
    hostname                    = "airflow.dev.example.com"
    domain_prefix               = "airflow-dev-example"
    secret_name                 = "airflow-dev/airflow/cognito"
    deletion_protection         = false
    threat_protection_mode      = "OFF"
    secret_recovery_window_days = 7
  }

  assert {
    condition     = aws_cognito_user_pool.this.deletion_protection == "INACTIVE"
    error_message = "Deletion protection must be off exactly when asked."
  }

  assert {
    condition     = one(aws_cognito_user_pool.this.user_pool_add_ons).advanced_security_mode == "OFF" && aws_cognito_user_pool.this.user_pool_tier == "ESSENTIALS"
    error_message = "Without threat protection the pool stays on the Essentials plan."
  }

  assert {
    condition     = aws_cognito_user_pool_client.airflow.callback_urls == toset(["https://airflow.dev.example.com/auth/oauth-authorized/cognito"]) && aws_secretsmanager_secret.client.recovery_window_in_days == 7
    error_message = "URLs follow the environment's hostname; the recovery window follows the variable."
  }
}

run "rejects_bad_hostname_and_reserved_prefix" {
  command = plan

  variables {
    hostname      = "https://airflow.dev.example.com/"
    domain_prefix = "airflow-cognito"
  }

  expect_failures = [var.hostname, var.domain_prefix]
}

run "rejects_alias_instead_of_key_arn" {
  command = plan

  variables {
    kms_key_arn                 = "alias/airflow-dev-secrets"
    secret_recovery_window_days = 3
  }

  expect_failures = [var.kms_key_arn, var.secret_recovery_window_days]
}

run "rejects_unknown_threat_mode" {
  command = plan

  variables {
    threat_protection_mode = "ON"
  }

  expect_failures = [var.threat_protection_mode]
}
