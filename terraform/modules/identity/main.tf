data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name

  callback_url = "https://${var.hostname}/auth/oauth-authorized/cognito"
  logout_url   = "https://${var.hostname}/"

  # Cognito threat protection is a Plus feature; without it the Essentials plan is enough.
  user_pool_tier = var.threat_protection_mode == "OFF" ? "ESSENTIALS" : "PLUS"

  # Group names are the contract with apps/airflow/auth/cognito_roles.py. Precedence picks the
  # group whose IAM role goes into tokens (none here) and orders the groups from most to least
  # privileged; Airflow itself grants the roles of every group a user is in.
  groups = {
    "airflow-admin"  = { precedence = 1, description = "Airflow Admin: full control, including users, roles and connections" }
    "airflow-op"     = { precedence = 2, description = "Airflow Op: operate DAGs and manage connections, pools and variables" }
    "airflow-user"   = { precedence = 3, description = "Airflow User: trigger, clear and edit DAG runs and tasks" }
    "airflow-viewer" = { precedence = 4, description = "Airflow Viewer: read-only access" }
  }
}

resource "aws_cognito_user_pool" "this" {
  name                = var.name
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  user_pool_tier      = local.user_pool_tier

  # Users sign in with their email address, compared case-insensitively.
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]

  username_configuration {
    case_sensitive = false
  }

  # Accounts are created by administrators only; nobody can sign up.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  schema {
    name                = "email"
    attribute_data_type = "String"
    required            = true
    mutable             = true

    string_attribute_constraints {
      min_length = 5
      max_length = 254
    }
  }

  # A changed email address takes effect only once verified, so a typo cannot lock a user out.
  user_attribute_update_settings {
    attributes_require_verification_before_update = ["email"]
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  password_policy {
    minimum_length                   = var.password_minimum_length
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = var.temporary_password_validity_days
    password_history_size            = 5
  }

  mfa_configuration = var.mfa_configuration

  software_token_mfa_configuration {
    enabled = true
  }

  user_pool_add_ons {
    advanced_security_mode = var.threat_protection_mode
  }

  tags = var.tags
}

resource "aws_cognito_user_group" "this" {
  for_each = local.groups

  user_pool_id = aws_cognito_user_pool.this.id
  name         = each.key
  description  = each.value.description
  precedence   = each.value.precedence
}

resource "aws_cognito_user_pool_domain" "this" {
  user_pool_id = aws_cognito_user_pool.this.id
  domain       = var.domain_prefix
  # The classic hosted UI; managed login (version 2) needs a branding style as well.
  managed_login_version = 1
}

resource "aws_cognito_user_pool_client" "airflow" {
  name         = "airflow"
  user_pool_id = aws_cognito_user_pool.this.id

  # A confidential client: the API server authenticates to the token endpoint with the secret.
  generate_secret = true

  # Authorization code flow through the hosted UI, and nothing else: no implicit flow, no
  # client credentials, no direct password sign-in (ALLOW_REFRESH_TOKEN_AUTH alone).
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  supported_identity_providers         = ["COGNITO"]
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]

  callback_urls        = [local.callback_url]
  default_redirect_uri = local.callback_url
  logout_urls          = [local.logout_url]

  access_token_validity  = var.access_token_validity_minutes
  id_token_validity      = var.id_token_validity_minutes
  refresh_token_validity = var.refresh_token_validity_days
  auth_session_validity  = 3

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }

  enable_token_revocation       = true
  prevent_user_existence_errors = "ENABLED"

  read_attributes = ["email", "email_verified"]

  # The hosted domain must exist before sign-in can start.
  depends_on = [aws_cognito_user_pool_domain.this]
}

################################################################################
# Client credentials for the API server
################################################################################

resource "aws_secretsmanager_secret" "client" {
  #checkov:skip=CKV2_AWS_57:Automatic rotation cannot apply: a Cognito app client secret is fixed for the client's life; rotating it means a new client, which is a Terraform change.
  name                    = var.secret_name
  description             = "Cognito app client of the Airflow API server (client_id, client_secret, user_pool_id)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

# Cognito returns the client secret to the provider, so it is in Terraform state whatever the
# module does; writing it here at least keeps it out of every other place.
resource "aws_secretsmanager_secret_version" "client" {
  secret_id = aws_secretsmanager_secret.client.id
  secret_string = jsonencode({
    client_id     = aws_cognito_user_pool_client.airflow.id
    client_secret = aws_cognito_user_pool_client.airflow.client_secret
    user_pool_id  = aws_cognito_user_pool.this.id
  })
}
